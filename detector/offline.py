"""Ultralytics without a network: no downloads, no telemetry, no self-updates.

roadscan runs on survey laptops and municipal servers that are often offline or firewalled, and its
results must not depend on what a download server answers. Ultralytics, left alone, reaches out in
many places: anonymous usage events and Sentry (setting `sync`), PyPI update checks and pip
auto-installs (`check_requirements`), experiment trackers (Comet, ClearML, MLflow, DVC, Ray Tune,
W&B, Ultralytics Platform), the Arial fonts it plots with (`check_font`), and weights it fetches by
name (e.g. yolo26n.pt for the GPU AMP check before training).

`ensure_offline()` must run before ultralytics is imported (the backend and the trainer call it).
It sets YOLO_OFFLINE / YOLO_AUTOINSTALL, gives ultralytics a private settings folder in the temp
dir (so nothing lands in the user's home or the working directory), turns the integrations off,
answers the font lookup with matplotlib's DejaVu Sans, makes every download function refuse
remote URLs (YOLO_OFFLINE alone only changes what happens *after* a failed download attempt), and
undoes ultralytics' process-wide PIL.Image.open patch that would pip-install a HEIC plugin.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

from roadscan.detector.extras import require_train

_ENV = {
    "YOLO_OFFLINE": "1",  # utils.is_online() -> False: no usage events, Sentry or PyPI update checks
    "YOLO_AUTOINSTALL": "0",  # check_requirements() never runs pip
}
# Settings that call out when on (trackers log to their servers when their package is installed).
_SETTINGS = {"sync": False, "api_key": "", "clearml": False, "comet": False, "dvc": False, "mlflow": False,
             "raytune": False, "wandb": False, "vscode_msg": False, "openvino_msg": False}
_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")  # the names ultralytics plots with and would download
_done = False


class DownloadRefused(ConnectionError):
    """Raised instead of any network download; a ConnectionError so ultralytics' offline paths apply."""


def config_dir() -> Path:
    """The private folder that holds ultralytics' settings, fonts and default runs for roadscan."""
    user = os.getuid() if hasattr(os, "getuid") else os.getenv("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"roadscan-ultralytics-{user}"


def _private_dir() -> Path:
    """config_dir(), created 0700; a fresh one if that name in the shared temp dir is not ours."""
    home = config_dir()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if hasattr(os, "getuid") and (home.is_symlink() or home.stat().st_uid != os.getuid()):
        return Path(tempfile.mkdtemp(prefix="roadscan-ultralytics-"))
    return home


def ensure_offline() -> None:
    """Make ultralytics (imported now, if it is not yet) unable to reach the network. Idempotent."""
    global _done
    if _done:
        return
    require_train("ultralytics", "training, ONNX export and running .pt weights")
    os.environ.update(_ENV)
    os.environ.pop("ULTRALYTICS_API_KEY", None)  # the Platform callback streams training runs when a key is set
    if "ultralytics" not in sys.modules:
        os.environ["YOLO_CONFIG_DIR"] = str(_private_dir())

    from ultralytics import utils
    from ultralytics.utils import checks, downloads, events, patches

    _refuse_downloads(downloads)
    _restore_pil_open(patches)
    # Flags computed at import time, in case ultralytics was imported before we ran.
    utils.ONLINE = checks.ONLINE = events.ONLINE = False
    events.events.enabled = False
    utils.AUTOINSTALL = checks.AUTOINSTALL = False

    settings = dict(_SETTINGS)
    if Path(utils.SETTINGS_FILE).is_relative_to(config_dir()):  # ours: keep runs and weights beside it
        root = Path(utils.USER_CONFIG_DIR)
        settings.update(runs_dir=str(root / "runs"), weights_dir=str(root / "weights"),
                        datasets_dir=str(root / "datasets"))
    changed = {k: v for k, v in settings.items() if utils.SETTINGS.get(k) != v}
    if changed:
        utils.SETTINGS.update(changed)
    _install_fonts(Path(utils.USER_CONFIG_DIR))
    _done = True


def _restore_pil_open(patches) -> None:
    """Give PIL.Image.open back its own behaviour.

    On import ultralytics replaces PIL.Image.open process-wide with a wrapper that, for any file
    Pillow cannot identify, tries to pip-install pi-heif (HEIC photos) and, offline, raises
    ModuleNotFoundError instead of Pillow's UnidentifiedImageError; footage reading relies on the latter.
    """
    from PIL import Image

    if Image.open is patches.image_open:
        Image.open = patches._image_open


def _install_fonts(folder: Path) -> None:
    """Put DejaVu Sans (shipped with matplotlib) where check_font looks before it downloads Arial."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in _FONTS:
        target = folder / name
        if target.exists():
            continue
        target.unlink(missing_ok=True)  # a link left dangling by a reinstalled matplotlib
        try:
            target.symlink_to(source)
        except OSError:  # file systems and Windows accounts without symlinks
            shutil.copyfile(source, target)


def _is_remote(url) -> bool:
    return "://" in str(url)


def _refuse_downloads(downloads) -> None:
    """Replace ultralytics' download entry points with ones that refuse remote URLs.

    Hand-written because ultralytics has no switch that stops download *attempts*; local paths
    still go through the originals (safe_download also unpacks local archives).
    """
    if getattr(downloads, "_roadscan_offline", False):
        return
    original_safe_download, original_is_url = downloads.safe_download, downloads.is_url

    @functools.wraps(original_safe_download)
    def safe_download(url, *args, **kwargs):
        if _is_remote(url) or not Path(str(url)).is_file():
            raise DownloadRefused(f"roadscan runs ultralytics offline and does not download {url}; "
                                  "place the file locally and pass its path")
        return original_safe_download(url, *args, **kwargs)

    @functools.wraps(original_is_url)
    def is_url(url, check: bool = False) -> bool:
        return original_is_url(url, check=False) and not check  # a reachability check would go online

    def get_github_assets(*args, **kwargs):
        return "", []  # what ultralytics itself answers when GitHub cannot be reached

    replacements = {"safe_download": safe_download, "is_url": is_url, "get_github_assets": get_github_assets}
    originals = {name: getattr(downloads, name) for name in replacements}
    # Modules that imported these names before us hold their own references: replace those too.
    for module in [m for name, m in sys.modules.items() if name.startswith("ultralytics") and m is not None]:
        for name, new in replacements.items():
            if getattr(module, name, None) is originals[name]:
                setattr(module, name, new)
    downloads._roadscan_offline = True
