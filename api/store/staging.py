"""Where a survey's frame images wait until its rows commit, and where they go then.

Images are written while the footage is processed, long before the survey's transaction. They go to
scratch folders on the store's own file system; the transaction moves them into place just before
it commits (a rename), so a crash or bad input leaves neither rows nor files. Unmasked originals
(`--keep-originals`) go to a folder beside the image folder that is never served.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from roadscan.api.store.database import Store
from roadscan.core.errors import StoreError


def staging_dir(store: Store) -> Path:
    """A fresh scratch folder beside the image folder (same file system, so the final move is a rename)."""
    path = store.images_dir / f".staging-{uuid.uuid4().hex}"
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise StoreError(f"cannot create the image folder ({exc.strerror})", path=store.images_dir) from None
    return path


def originals_dir(store: Store, fingerprint: str) -> Path:
    """Where `--keep-originals` puts a survey's unmasked frames: beside the image folder, never inside it."""
    return store.images_dir.with_name(store.images_dir.name + "-originals") / f"survey-{fingerprint[:16]}"


class ImageStaging:
    """Scratch folders for one survey's images (and originals), removed on exit whatever happened.

    `images` is handed to the survey's transaction, which moves it into place as it commits;
    `publish_originals` moves the originals after the commit.
    """

    def __init__(self, store: Store, fingerprint: str, *, keep_originals: bool = False):
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
        for folder in (self.images, self.originals):
            if folder is not None and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
