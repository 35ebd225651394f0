"""Real footage without road damage, on a road network that covers it, puts nothing urgent on the work list.

Issue 17: on the GoPro clip (a paved path, no damage) the shipped model boxed a grass bed and the
whole frame as "potholes" at confidence 0.26-0.28, and with a network covering the clip that became
defect #1, a severity-5 pothole of 16.55 m² at the top of the crews' work list. Each clip is run at
the model's own per-class thresholds and at the flat 0.25 the issue saw.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from roadscan.api.store.database import open_store
from roadscan.api.store.filters import select_defects
from roadscan.geo.defect_changes import MappingOptions
from roadscan.geo.gps import read_track
from roadscan.geo.plausibility import FRAME
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey

pytestmark = pytest.mark.realdata


def network_around(track) -> object:
    """The track itself as a residential street, and two cross streets 200 m beyond it: a network that covers it."""
    fixes = track.fixes
    line = shapely.LineString(np.c_[fixes["lon"], fixes["lat"]]).simplify(1e-6)
    lon0, lat0, lon1, lat1 = line.bounds
    pad = 0.002
    cross = [shapely.LineString([(lon0 - pad, y), (lon1 + pad, y)]) for y in (lat0 - pad, lat1 + pad)]
    return load_network(gpd.GeoDataFrame({"highway": ["residential"] * 3, "name": ["path", "south", "north"]},
                                         geometry=[line, *cross], crs=4326))


CLIPS = {  # footage, GPS (None: in the footage), camera profile
    "gopro": ("gopro_max_gpmf_gps.mp4", None, "gopro"),
    "sample-5s": ("sample-5s.mp4", "sample-5s_track.gpx", "dashcam"),
}


@pytest.mark.parametrize("clip", sorted(CLIPS))
@pytest.mark.parametrize("confidence", [None, 0.25], ids=["model-thresholds", "flat-0.25"])
def test_no_defect_of_severity_4_or_more_on_footage_without_damage(shared_data, tmp_path, clip, confidence):
    name, gps_name, camera = CLIPS[clip]
    footage = shared_data / "gps" / name
    gps = shared_data / "gps" / gps_name if gps_name else None
    track = read_track(gps or footage)
    opts = ProcessOptions(camera=camera, confidence=confidence, store_images="none",
                          start_time=track.start.to_pydatetime() if gps else None,  # sample-5s has no start time
                          mapping=MappingOptions().resolved())
    with open_store(tmp_path / "roads.db") as store:
        summary = process_survey(footage, gps, store, opts, network=network_around(track))
        defects = select_defects(store)
    assert summary.frames_sampled > 0 and summary.network
    assert not (defects["severity"] >= 4).any(), defects[["code", "severity", "n_obs", "max_confidence"]]
    if clip == "gopro" and confidence == 0.25:  # the full-frame box: seen, and dropped as no defect
        assert summary.implausible.get(FRAME, 0) >= 1
