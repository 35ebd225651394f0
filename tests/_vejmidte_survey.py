"""A survey on the real GeoDanmark Vejmidte network of Stige (Odense, kommunekode 0461), stored as
`roadscan process` stores one: frames every 5 m along a road, sightings of painted defects beside it,
snapped, merged and scored by geo/ and written in the survey's transaction by the store.

The footage is left out (the detector has its own tests): what is tested with it is what the store,
the API and the exports make of a survey on a municipality's own road reference. The road driven,
Vejmidte line 1217282350 (vejkode 0048, 411 m), is split at two junctions into three segments, so
that its along-road chainage differs from the segments' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer

from roadscan.api.store.database import open_store
from roadscan.core.tables import OBSERVATION_COLUMNS
from roadscan.geo.condition import condition_table
from roadscan.geo.defect_changes import MappingOptions, plan_defect_changes, search_bbox
from roadscan.geo.roads import RoadNetwork, load_network

LOKAL_ID = "1217282350"  # the Vejmidte line driven
ROAD_CHAINAGES = (40.0, 120.0, 190.0, 260.0, 350.0)  # where the painted defects lie along it, metres
CODES = ("D40", "D00", "D40", "D20", "D10")
RIGHT_M = 1.5  # beside the centreline, right of the direction of travel
STEP_M = 5.0
T0 = pd.Timestamp("2026-05-04T09:00:00Z")
TO_LONLAT = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class VejmidteSurvey:
    db: Path
    gml: Path
    network: RoadNetwork
    line: shapely.LineString  # the source line driven, EPSG:25832


def _lonlat(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return np.asarray(lon), np.asarray(lat)


def _along(line: shapely.LineString, d: np.ndarray, right: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Points at distances `d` along the line, `right` metres to its right; and the heading there (degrees)."""
    p = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
    q = shapely.get_coordinates(shapely.line_interpolate_point(line, np.minimum(d + 0.5, line.length)))
    back = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(d - 0.5, 0.0)))
    t = q - back
    t /= np.hypot(t[:, 0], t[:, 1])[:, None]
    normal_right = np.column_stack([t[:, 1], -t[:, 0]])
    heading = np.degrees(np.arctan2(t[:, 0], t[:, 1])) % 360.0
    return p + right * normal_right, heading


def drive(line: shapely.LineString) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(frames, observations) of one pass along the line in its digitised direction."""
    d = np.arange(0.0, line.length, STEP_M)
    xy, heading = _along(line, d)
    lon, lat = _lonlat(xy)
    frames = pd.DataFrame({"frame_index": np.arange(len(d)), "time": T0 + pd.to_timedelta(d / 8.0, "s"),
                           "lat": lat, "lon": lon, "heading_deg": heading, "speed_mps": 8.0, "distance_m": d,
                           "image_path": None, "width": 1920, "height": 1080})
    rows = []
    for code, c in zip(CODES, ROAD_CHAINAGES):
        first = int(c // STEP_M) - 4
        for k, frame in enumerate(range(first, first + 3)):
            pxy, _ = _along(line, np.array([c + 0.05 * k]), right=RIGHT_M)
            plon, plat = _lonlat(pxy)
            ahead = c - d[frame]
            rows.append(dict(frame_index=frame, code=code, name=code, confidence=0.7, x1=900, y1=700, x2=1000, y2=760,
                             lat=plat[0], lon=plon[0], forward_m=ahead, right_m=RIGHT_M, distance_m=ahead,
                             width_m=0.6, length_m=0.5, heading=frames["heading_deg"].iloc[frame]))
    return frames, pd.DataFrame(rows, columns=[*OBSERVATION_COLUMNS, "heading"])


def survey_row(frames: pd.DataFrame) -> dict:
    return dict(fingerprint="vejmidte-stige-" + "0" * 49, name="Stige, vejkode 0048", footage_path="/x/stige.mp4",
                footage_kind="video", gps_path="/x/stige.gpx", gps_format="gpx", time_offset_s=0.0,
                camera={"name": "dashcam"}, model="test", started_at=frames["time"].min().to_pydatetime(),
                ended_at=frames["time"].max().to_pydatetime(), processed_at=T0.to_pydatetime(),
                distance_m=float(frames["distance_m"].max()), track_wkt="LINESTRING (10.4 55.4, 10.41 55.41)",
                frames_read=len(frames), frames_sampled=len(frames), detections=0, summary={})


def store_survey(db: Path, gml: Path) -> VejmidteSurvey:
    """Load the Vejmidte network, drive line LOKAL_ID and store the survey with its defects in `db`."""
    network = load_network(gml)
    raw = pyogrio.read_dataframe(gml, columns=["id.lokalId"])
    line = raw.geometry[raw["id.lokalId"] == LOKAL_ID].iloc[0]
    store_drive(db, network, line)
    return VejmidteSurvey(db, gml, network, line)


def store_drive(db: Path, network: RoadNetwork, line: shapely.LineString) -> None:
    """Drive `line` (in the network's CRS, EPSG:25832) past the painted defects and store the survey."""
    from roadscan.api.store.surveys import survey_transaction

    frames, obs = drive(line)
    with open_store(db) as store, survey_transaction(store, survey_row(frames), frames,
                                                      obs.drop(columns="heading")) as tx:
        changes = plan_defect_changes(obs, frames, tx.defects_near(search_bbox(frames)), network, MappingOptions(),
                                      survey_id=tx.survey_id)
        tx.apply(changes)
        rated = network.segments[network.segments["segment_id"].isin(set(changes.rate_segments))]
        tx.replace_condition(condition_table(rated, tx.active_defects_on(changes.rate_segments),
                                             tx.coverage_on(changes.rate_segments)))
