"""How strong the evidence for a defect is: the pipeline's word, not a person's (that is the status).

A defect seen once, weakly, is stored *unconfirmed*: it keeps severity at most 3 and stays off the
crews' work lists until a later survey sees it again or a sighting is confident
(geo/severity.py, rule and thresholds in geo/scoring.toml [evidence]). It is recomputed whenever a
survey updates the defect. People's triage (verified, not an issue) lives in core/statuses.py.
"""

from __future__ import annotations

from enum import StrEnum


class Evidence(StrEnum):
    CONFIRMED = "confirmed"  # more than one sighting, or one confident sighting
    UNCONFIRMED = "unconfirmed"  # a single weak sighting


EVIDENCE_LEVELS: tuple[str, ...] = tuple(e.value for e in Evidence)
