"""What one survey does to the defects layer: computed by geo/ from plain frames, applied by the store.

The hand-over between the two is this one value, so geo/ never holds a database connection and the
store never decides a domain rule (which defect reopens, which is marked "not re-observed"): it
writes what it is given, in the survey's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from roadscan.core.statuses import DefectStatus
from roadscan.core.tables import COVERAGE_COLUMNS, SEGMENT_COLUMNS

# Why a status changed, in the change table's `change` column (counted in the survey summary).
FOUND = "found"
REOPENED = "reopened"  # was marked fixed, seen again
SEEN_AGAIN = "seen again"  # was "not re-observed", seen again
UNSEEN = str(DefectStatus.NOT_REOBSERVED)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


@dataclass
class DefectChanges:
    """Every table in stored form (lon/lat, WGS84 WKT); observation rows are positions in the
    survey's observation table, whose stored ids the store knows."""

    # STORED_DEFECT_COLUMNS + status, note (the first history entry), obs_rows, evidence_row
    inserts: pd.DataFrame
    # STORED_DEFECT_COLUMNS + defect_id, obs_rows, evidence_row (None: keep the stored evidence)
    updates: pd.DataFrame
    # defect_id, status, note, change: status changes of known defects, one history entry each
    status_changes: pd.DataFrame = field(default_factory=lambda: _empty(["defect_id", "status", "note", "change"]))
    coverage: pd.DataFrame = field(default_factory=lambda: _empty(COVERAGE_COLUMNS))
    segments: pd.DataFrame = field(default_factory=lambda: _empty(SEGMENT_COLUMNS))
    # per observation row (index): segment_id, chainage_m, side, offset_m, on_network
    observation_snaps: pd.DataFrame = field(default_factory=pd.DataFrame)
    # segments whose condition is to be rated again once the changes are stored
    rate_segments: list[str] = field(default_factory=list)

    def counts(self) -> DefectCounts:
        change = self.status_changes["change"] if len(self.status_changes) else pd.Series(dtype=object)
        return DefectCounts(new=len(self.inserts), updated=len(self.updates),
                            reopened=int((change == REOPENED).sum()), not_reobserved=int((change == UNSEEN).sum()))


@dataclass
class DefectCounts:
    """What a survey did to the defects: for the summary printed at the end of a run."""

    new: int = 0
    updated: int = 0
    reopened: int = 0  # were marked fixed, seen again
    not_reobserved: int = 0  # in view, not detected
