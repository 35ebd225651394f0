"""A defect's maintenance status, and the sets of statuses that rules and defaults are made of.

Adding a status is a change here: the store's check constraint, the API's enums and filters, the
work lists' default and the map's filter list all read these names.

Triage (issue 14) is part of the same lifecycle: a defect a survey found is `open`, which is
unverified (no person has looked at it; "unverified" is accepted as its other name wherever a status
is given); a person marks it `verified` (real damage, still to do) or `not an issue` (no damage, or
not the municipality's), then `scheduled` and `fixed`, or `dismissed` (real, but left as it is).
"""

from __future__ import annotations

from enum import StrEnum


class DefectStatus(StrEnum):
    OPEN = "open"  # found by a survey, not verified by a person
    VERIFIED = "verified"  # a person confirmed it is real damage that needs work
    SCHEDULED = "scheduled"
    FIXED = "fixed"
    DISMISSED = "dismissed"  # real, but will not be repaired
    NOT_AN_ISSUE = "not an issue"  # a person found no damage there (a false detection), or not ours
    NOT_REOBSERVED = "not re-observed"  # in view of a later survey but not detected: perhaps repaired


DEFECT_STATUSES: tuple[DefectStatus, ...] = tuple(DefectStatus)

# Other names people use for a status: accepted wherever a status is given, stored as the status.
STATUS_SYNONYMS: dict[str, DefectStatus] = {"unverified": DefectStatus.OPEN}

# Still to be done: what work lists show by default and what a re-survey may change by itself.
OPEN_STATUSES: tuple[DefectStatus, ...] = (DefectStatus.OPEN, DefectStatus.VERIFIED, DefectStatus.SCHEDULED,
                                           DefectStatus.NOT_REOBSERVED)

# Damage still on the road: what counts towards a segment's condition.
ACTIVE_STATUSES: tuple[DefectStatus, ...] = OPEN_STATUSES

# What a person may set through the API; "not re-observed" is the surveys' to set.
SETTABLE_STATUSES: tuple[DefectStatus, ...] = (DefectStatus.OPEN, DefectStatus.VERIFIED, DefectStatus.SCHEDULED,
                                               DefectStatus.FIXED, DefectStatus.DISMISSED, DefectStatus.NOT_AN_ISSUE)

# A survey that fails to see these again marks them "not re-observed"; fixed, dismissed and "not an
# issue" are a person's decision and stay as they are.
UNSEEN_MARKABLE: tuple[DefectStatus, ...] = (DefectStatus.OPEN, DefectStatus.VERIFIED, DefectStatus.SCHEDULED)


def canonical_status(value: str) -> str:
    """A status as stored: its synonym resolved ("unverified" -> "open"), anything else unchanged."""
    text = str(value).strip()
    return str(STATUS_SYNONYMS.get(text.lower(), text))
