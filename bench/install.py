"""The README's main-job install on a fresh copy of the checkout: minutes, GB, and the demo after it.

A fresh copy holds what a clone would after a commit (git's tracked files plus new files it does not
ignore), so nothing built here (.venv, build/, caches) leaks in. There the README's main-job command
runs step by step exactly as written (a new virtual environment, `pip install .`, `roadscan demo`)
with an empty pip cache and an empty roadscan cache (so the demo draws its sample drive, as it does
the first time); the install's minutes and the environment's size on disk are printed, and the
demo's seconds, first and again (`roadscan demo --replace`). The machine may be busy with other
work: say so next to the numbers.

    python bench/install.py                 # in a temporary folder, removed afterwards
    python bench/install.py --keep DIR      # in DIR, kept (e.g. to run `roadscan serve` there)
    python bench/install.py --no-demo
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALL_HEADING = "## Install, run, test"


def readme_command_groups(readme: Path = REPO / "README.md") -> list[list[str]]:
    """The commands of the README's install block, in groups as blank lines separate them:
    [main job and its next steps, test install, tests]."""
    text = readme.read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text[text.index(INSTALL_HEADING):], re.S)[1]
    groups = [[line for line in para.splitlines() if line.strip() and not line.lstrip().startswith("#")]
              for para in block.split("\n\n")]
    return [g for g in groups if g]


def main_job_steps() -> list[str]:
    """The README's main-job command, split at its `&&` into the steps that are timed one by one."""
    return [step.strip() for step in readme_command_groups()[0][0].split("&&")]


def fresh_copy(dest: Path, repo: Path = REPO) -> Path:
    """The checkout's files as a clone would hold them (tracked, or new and not ignored), copied to dest."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = repo / name
        if source.is_file():  # a tracked file deleted in the working tree is no longer there
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def tree_bytes(folder: Path) -> int:
    """Bytes of the files under folder, each counted once (what `du -sb` would say, without links)."""
    total, seen = 0, set()
    for root, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


@dataclass
class Run:
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    venv_bytes: int = 0

    @property
    def install_s(self) -> float:
        return sum(s for step, s in self.seconds.items() if "roadscan demo" not in step)


def clean_env(cache: Path | None = None) -> dict[str, str]:
    """This process's environment without its virtual environment, with an empty pip cache and, given
    `cache`, that folder for caches (XDG_CACHE_HOME: where the demo keeps its sample drive)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return {**env, "PIP_NO_CACHE_DIR": "1", "COLUMNS": "200", **({"XDG_CACHE_HOME": str(cache)} if cache else {})}


def run_main_job(copy: Path, *, demo: bool = True, timeout: float = 1800) -> Run:
    """Run the README's main-job steps in `copy` (caches in copy/.cache, new); a failing step raises."""
    result = Run()
    env = clean_env(copy / ".cache")
    for step in main_job_steps():
        if "roadscan demo" in step and not demo:
            continue
        t0 = time.perf_counter()
        done = subprocess.run(["bash", "-c", step], cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
        result.seconds[step] = time.perf_counter() - t0
        result.outputs[step] = done
        if done.returncode != 0:
            raise RuntimeError(f"`{step}` failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        if "pip install" in step:
            result.venv_bytes = tree_bytes(copy / ".venv")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="folder to work in and keep (default: a temporary one)")
    parser.add_argument("--no-demo", action="store_true", help="stop after the install")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="roadscan-install-"))
    try:
        copy = fresh_copy(folder / "roadscan")
        print(f"fresh copy: {copy} ({tree_bytes(copy) / 1e6:.0f} MB)")
        run = run_main_job(copy, demo=not args.no_demo)
        for step, seconds in run.seconds.items():
            print(f"  {seconds:7.1f} s  {step}")
        if not args.no_demo:
            t0 = time.perf_counter()
            subprocess.run([str(copy / ".venv/bin/roadscan"), "demo", "--replace"], cwd=copy, check=True,
                           env=clean_env(copy / ".cache"), capture_output=True, timeout=1800)
            print(f"  {time.perf_counter() - t0:7.1f} s  .venv/bin/roadscan demo --replace (the sample drive cached)")
        print(f"main-job install: {run.install_s / 60:.1f} minutes, {run.venv_bytes / 1e9:.2f} GB in .venv "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
