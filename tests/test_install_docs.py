"""The README's install: CI runs exactly its commands, apt steps wait for their lock and say why, the
numbers are stated, and what the commands write stays out of git."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _bench import load_bench

REPO = Path(__file__).resolve().parents[1]
install = load_bench("install")


def _commands(script: Path) -> list[str]:
    lines = [line for line in script.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [line for line in lines if not line.startswith(("set ", "cd "))]


def test_ci_runs_exactly_the_readme_test_install_and_test_commands():
    main_job, test_install, tests = install.readme_command_groups()
    assert _commands(REPO / ".ci" / "run") == [*test_install, *tests]
    assert tests == [".venv/bin/python -m pytest"]


def test_the_main_job_is_light_and_its_next_steps_need_no_db():
    main_job, *_ = install.readme_command_groups()
    assert install.main_job_steps() == ["python3 -m venv .venv", ".venv/bin/pip install .", ".venv/bin/roadscan demo"]
    assert ".venv/bin/roadscan serve" in main_job and not [c for c in main_job if "--db" in c]


@pytest.mark.parametrize("script", ["README.md", ".ci/run"])
def test_apt_steps_wait_for_the_lock_and_say_why(script):
    """The first install once failed in 3 s: another process held /var/lib/dpkg/lock-frontend."""
    text = (REPO / script).read_text()
    lines = text.splitlines()
    apt = [i for i, line in enumerate(lines) if "apt-get" in line and not line.lstrip().startswith("#")]
    assert apt
    for i in apt:
        line = lines[i]
        for install_cmd in re.findall(r"apt-get[^;&|}]* install [^;&|}]*", line):
            assert "DPkg::Lock::Timeout=" in install_cmd, install_cmd
        if "apt-get update" in line:  # apt-get update has no lock timeout (apt 2.6): it is retried
            assert re.search(r"for try in [\d ]+; do apt-get update[^;]*&& break; sleep \d+; done", line), line
        comment = " ".join(lines[max(0, i - 6):i]).lower()
        assert "chromium" in comment and "lock" in comment and "browser test" in comment, comment


def test_readme_states_measured_numbers_and_the_test_data():
    text = (REPO / "README.md").read_text()
    assert not re.search(r"\b(MAIN_INSTALL|DEMO_FIRST|DEMO_AGAIN|SUITE_MIN|TEST_SKIPS)", text)
    section = text[text.index("## Install, run, test"):text.index("## Processing your own footage")]
    assert re.search(r"install takes\s+[\d.]+\s+minutes\s+and\s+[\d.]+\s+GB", section)
    assert re.search(r"test suite takes\s+[\d.–-]+\s+minutes", section) and "training job" in section
    assert "### Test data" in section and "../shared/data/MANIFEST.md" in section and "skip" in section


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_what_the_commands_write_stays_out_of_git():
    written = ["roadscan.db", "roadscan.db-wal", "roadscan.db-shm", "roadscan-images/survey-1/frame-000001.jpg",
               "roadscan-demo.db", "roadscan-demo-images/x/frame.jpg", "roads-images-originals/s/frame.jpg",
               "roadscan-export.gpkg", "roadscan-export_defects.csv"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=REPO, capture_output=True,
                             text=True).stdout.split()
    assert sorted(ignored) == sorted(written)
