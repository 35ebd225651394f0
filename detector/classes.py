"""Road-damage classes: RDD2022 codes inside, human names in every output.

Models trained elsewhere name their classes in many ways ("D40", "pothole", "Potholes",
"longitudinal_crack"); `code_for` folds those spellings onto our codes so that a third-party
pothole model and our own model report the same class.
"""

from __future__ import annotations

import re

CLASSES: dict[str, str] = {
    "D00": "longitudinal crack",
    "D10": "transverse crack",
    "D20": "alligator crack",
    "D40": "pothole",
    "Repair": "repair",
}

CLASS_CODES = ["D00", "D10", "D20", "D40", "Repair"]  # class index order of the models we train

# Spellings seen in public datasets and model cards, after `_normalise`.
_ALIASES: dict[str, str] = {
    **{code.lower(): code for code in CLASSES},
    **{name: code for code, name in CLASSES.items()},
    "potholes": "D40",
    "pot hole": "D40",
    "longitudinal cracks": "D00",
    "transverse cracks": "D10",
    "alligator cracks": "D20",
    "crocodile crack": "D20",
    "fatigue crack": "D20",
    "repairs": "Repair",
    "patch": "Repair",
}


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def code_for(name: str) -> str:
    """Our class code for a model's class name; names we do not know come back unchanged."""
    return _ALIASES.get(_normalise(str(name)), name)


def human_name(code) -> str:
    """The name people read for a class code; unknown codes are shown as they are."""
    return CLASSES.get(code, str(code))
