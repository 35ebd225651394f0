"""Road-damage classes: RDD2022 codes inside, human names in every output.

`DEFECT_CLASSES` is the one table of classes: adding a class is one row here (plus a severity
rule in geo/scoring.toml if it is to be graded differently from the default). Every other name
below is derived from it.

Models trained elsewhere name their classes in many ways ("D40", "pothole", "Potholes",
"longitudinal_crack"); `code_for` folds those spellings onto our codes so that a third-party
pothole model and our own model report the same class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class DefectClass:
    """One class: its code, the name people read, the family it merges with, its colour in plots."""

    code: str
    name: str
    family: str  # classes a detector confuses with each other merge into one defect (geo/merge.py)
    colour: str  # evaluation plots and example sheets
    aliases: tuple[str, ...] = ()  # other spellings in public datasets and model cards


# In the class-index order of the models we train (ultralytics `names`).
DEFECT_CLASSES: tuple[DefectClass, ...] = (
    DefectClass("D00", "longitudinal crack", "crack", "#1f77b4", ("longitudinal cracks",)),
    DefectClass("D10", "transverse crack", "crack", "#2ca02c", ("transverse cracks",)),
    DefectClass("D20", "alligator crack", "crack", "#ff7f0e",
                ("alligator cracks", "crocodile crack", "fatigue crack")),
    DefectClass("D40", "pothole", "pothole", "#d62728", ("potholes", "pot hole")),
    DefectClass("Repair", "repair", "repair", "#9467bd", ("repairs", "patch")),
)

CLASS_CODES: list[str] = [c.code for c in DEFECT_CLASSES]
CLASSES: dict[str, str] = {c.code: c.name for c in DEFECT_CLASSES}  # code -> human name
FAMILY: dict[str, str] = {c.code: c.family for c in DEFECT_CLASSES}
COLOURS: dict[str, str] = {c.code: c.colour for c in DEFECT_CLASSES}


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


_ALIASES: dict[str, str] = {_normalise(spelling): c.code for c in DEFECT_CLASSES
                            for spelling in (c.code, c.name, *c.aliases)}


def code_for(name: str) -> str:
    """Our class code for a model's class name; names we do not know come back unchanged."""
    return _ALIASES.get(_normalise(str(name)), name)


def human_name(code) -> str:
    """The name people read for a class code; unknown codes are shown as they are."""
    return CLASSES.get(code, str(code))
