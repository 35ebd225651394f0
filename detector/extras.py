"""What to install when a command needs more than the main job: said once, the same way everywhere.

The main install (`pip install roadscan`) runs the pipeline, the demo, the server and the anonymiser
on ONNX Runtime. Training, exporting, running `.pt` weights and drawing evaluation plots need the
`train` extra (torch, torchvision, ultralytics, onnx, matplotlib).
"""

from __future__ import annotations

import importlib.util

from roadscan.core.errors import ConfigError

TRAIN_INSTALL = "pip install 'roadscan[train]'"
TRAIN_HINT = f"install the training extra: {TRAIN_INSTALL}"


def missing(module: str) -> bool:
    """True when the top-level `module` cannot be imported here (looked up, not imported)."""
    return importlib.util.find_spec(module) is None


def require_train(module: str, needed_for: str) -> None:
    """Raise a ConfigError naming the extra to install when `module` (of the train extra) is missing."""
    if missing(module):
        raise ConfigError(f"{module} is not installed (needed for {needed_for})", hint=TRAIN_HINT)
