"""A defect's maintenance status, and the sets of statuses that rules and defaults are made of.

Adding a status is a change here: the store's check constraint, the API's enums and filters, the
work lists' default and the map's filter list all read these names.
"""

from __future__ import annotations

from enum import StrEnum


class DefectStatus(StrEnum):
    OPEN = "open"
    SCHEDULED = "scheduled"
    FIXED = "fixed"
    DISMISSED = "dismissed"
    NOT_REOBSERVED = "not re-observed"  # in view of a later survey but not detected: perhaps repaired


DEFECT_STATUSES: tuple[DefectStatus, ...] = tuple(DefectStatus)

# Still to be done: what work lists show by default and what a re-survey may change by itself.
OPEN_STATUSES: tuple[DefectStatus, ...] = (DefectStatus.OPEN, DefectStatus.SCHEDULED, DefectStatus.NOT_REOBSERVED)

# Damage still on the road: what counts towards a segment's condition.
ACTIVE_STATUSES: tuple[DefectStatus, ...] = OPEN_STATUSES

# What a person may set through the API; "not re-observed" is the surveys' to set.
SETTABLE_STATUSES: tuple[DefectStatus, ...] = (DefectStatus.OPEN, DefectStatus.SCHEDULED, DefectStatus.FIXED,
                                               DefectStatus.DISMISSED)

# A survey that fails to see these again marks them "not re-observed"; fixed and dismissed are a
# person's decision and stay as they are.
UNSEEN_MARKABLE: tuple[DefectStatus, ...] = (DefectStatus.OPEN, DefectStatus.SCHEDULED)
