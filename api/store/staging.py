"""Where a survey's frame images wait until its rows commit, and where they go then.

Images are written while the footage is processed, long before the survey's transaction. They go to
scratch folders on the store's own file system; the transaction moves them into place just before
it commits (a rename), so a crash or bad input leaves neither rows nor files. Unmasked originals
(`--keep-originals`) go to a folder beside the image folder that is never served.

A run killed outright (kill -9, power loss) cannot remove its scratch folder, so the next run does:
a folder is named for the host and process that made it and is stale once that process is gone, or
in any case after STALE_AFTER_S (another host's run, or a process id taken again since).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from roadscan.api.store.database import Store, originals_root
from roadscan.api.store.surveys import survey_image_dir
from roadscan.core.errors import StoreError

PREFIX = ".staging-"
STALE_AFTER_S = 24 * 3600


def _owner_name() -> str:
    return f"{PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def is_stale(folder: Path, *, now: float | None = None) -> bool:
    """Whether a scratch folder's run is over: its process on this host is gone, or it is old.

    Names from before the owner was recorded (.staging-<hex>) go by age alone.
    """
    try:
        age = (now if now is not None else time.time()) - folder.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_AFTER_S:
        return True
    host, _, pid = folder.name.removeprefix(PREFIX).rpartition("-")[0].rpartition("-")
    return host == socket.gethostname() and pid.isdigit() and _process_gone(int(pid))


def remove_stale(store: Store) -> list[Path]:
    """Remove the scratch folders of runs that were killed (images and originals); returns them."""
    removed = []
    for parent in (store.images_dir, originals_root(store.images_dir)):
        if not parent.is_dir():
            continue
        for folder in parent.glob(PREFIX + "*"):
            if folder.is_dir() and is_stale(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def staging_dir(store: Store) -> Path:
    """A fresh scratch folder beside the image folder (same file system, so the final move is a rename)."""
    path = store.images_dir / _owner_name()
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise StoreError(f"cannot create the image folder ({exc.strerror})", path=store.images_dir) from None
    return path


def originals_dir(store: Store, fingerprint: str) -> Path:
    """Where `--keep-originals` puts a survey's unmasked frames: named like its image folder, in originals_root."""
    return originals_root(store.images_dir) / survey_image_dir(store, fingerprint).name


class ImageStaging:
    """Scratch folders for one survey's images (and originals), removed on exit whatever happened.

    `images` is handed to the survey's transaction, which moves it into place as it commits;
    `publish_originals` moves the originals after the commit.
    """

    def __init__(self, store: Store, fingerprint: str, *, keep_originals: bool = False):
        remove_stale(store)
        self._new_root = None if store.images_dir.exists() else store.images_dir
        self.images = staging_dir(store)
        self._final_originals = originals_dir(store, fingerprint)
        self.originals = self._final_originals.parent / self.images.name if keep_originals else None

    def publish_originals(self) -> None:
        if self.originals is not None and self.originals.exists():
            shutil.rmtree(self._final_originals, ignore_errors=True)
            self.originals.rename(self._final_originals)

    def __enter__(self) -> ImageStaging:
        return self

    def __exit__(self, *exc) -> None:
        for folder in (self.images, self.originals, self.originals and self.originals.parent):
            if folder is not None and folder.exists() and (folder.name.startswith(PREFIX) or not any(folder.iterdir())):
                shutil.rmtree(folder, ignore_errors=True)
        if self._new_root is not None and self._new_root.is_dir() and not any(self._new_root.iterdir()):
            self._new_root.rmdir()  # a failed first survey leaves no empty image folder either
