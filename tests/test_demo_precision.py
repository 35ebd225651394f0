"""`roadscan demo` finds the painted defects once each, invents none, and says so (issue 17).

Before issue 17 the demo stored 33 defects for 24 painted ones: 3 phantoms more than 1.5 m from any
painted defect (one a severity-5 pothole), 7 duplicate records (4 painted potholes also stored as a
co-located alligator crack, 3 cracks split in two), precision 0.70, and it printed recall only.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from roadscan.api.store.database import open_store
from roadscan.api.store.filters import select_defects
from roadscan.cli import app
from roadscan.geo.roads import default_network
from roadscan.sample import sample_drive_cached
from roadscan.sample.score import PHANTOM_M, defect_precision

pytestmark = pytest.mark.slow


def test_demo_recall_precision_and_no_duplicates_printed(tmp_path):
    db = tmp_path / "demo.db"
    run = CliRunner().invoke(app, ["demo", "--db", str(db)], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    text = " ".join(run.output.split())
    found, painted = map(int, re.search(r"recall (\d+) of (\d+) defects found", text).groups())
    printed = float(re.search(r"precision (\d\.\d+) \(", text)[1])
    assert painted == 24 and found >= 23
    assert f"farther than {PHANTOM_M:g} m from every painted defect" in text and "duplicates" in text

    with open_store(db, create=False) as store:
        defects = select_defects(store)
    score = defect_precision(defects, sample_drive_cached().defects(), default_network().crs.to_string())
    assert score.duplicates == 0, score.line()
    assert score.precision >= 0.95, score.line()
    assert score.found >= 23 and printed == pytest.approx(score.precision, abs=0.005)
    # what is left over is at most one weak sighting, unconfirmed and off the work list's top
    for phantom in defects[defects["id"].isin(score.phantom_ids)].itertuples():
        assert phantom.evidence == "unconfirmed" and phantom.severity <= 3, phantom
