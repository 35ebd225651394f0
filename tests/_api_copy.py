"""A private, writable copy of the live API's store (tests/_live_api.py) for tests that change data."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from _live_api import live_api


def copy_live_store(folder: Path) -> Path:
    """Copy the sample-survey store and its images into `folder`; returns the new database path."""
    src = live_api().db
    dst = folder / src.name
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    images = src.with_name(src.stem + "-images")
    if images.is_dir():
        shutil.copytree(images, dst.with_name(dst.stem + "-images"))
    return dst
