"""Road networks municipalities and OSM really hand over: GeoDanmark Vejmidte GML, OSM XML, and the
built-in Helsinki extract. Skipped when ../shared/data is absent."""

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from roadscan.core.errors import RoadNetworkError
from roadscan.geo.roads import ROAD_CLASSES, default_network, load_network
from roadscan.geo.snap import snap

pytestmark = pytest.mark.realdata

# GeoDanmark's vejkategori values seen in Stige, and the class each must get.
VEJKATEGORI = {"Stor vej": "arterial", "Mellem vej": "collector", "Lille vej": "local", "Anden vej": "access",
               "Adgangsvej": "access", "Hovedsti": "path", "Mindre sti": "path", "Cykelsti langs vej": "path"}


@pytest.fixture(scope="module")
def vejmidte_path(shared_data):
    return shared_data / "roads" / "vejmidte_stige_odense_0461.gml"


@pytest.fixture(scope="module")
def vejmidte(vejmidte_path):
    return load_network(vejmidte_path)


@pytest.fixture(scope="module")
def osterbro(shared_data):
    return load_network(shared_data / "roads" / "copenhagen_osterbro_2017.osm")


def test_vejmidte_loads_with_every_line_classified(vejmidte, vejmidte_path):
    r = vejmidte.report
    assert (r.source_features, r.lines, r.empty_geometries, r.not_lines) == (422, 422, 0, 0)
    assert r.mapping == "geodanmark" and r.unknown_class == 0
    assert vejmidte.crs.to_epsg() == 25832 and r.crs == "EPSG:25832"
    assert set(vejmidte.segments.road_class) == set(ROAD_CLASSES)
    # Each segment's class is the one its source line's vejkategori maps to.
    raw = pyogrio.read_dataframe(vejmidte_path, columns=["id.lokalId", "vejkategori"], read_geometry=False)
    expected = vejmidte.segments.source_id.map(raw.set_index("id.lokalId").vejkategori).map(VEJKATEGORI)
    assert (expected == vejmidte.segments.road_class).all()


def test_vejmidte_splitting_keeps_every_metre(vejmidte, vejmidte_path):
    raw = pyogrio.read_dataframe(vejmidte_path, columns=[])
    assert vejmidte.segments.length_m.sum() == pytest.approx(raw.length.sum(), rel=1e-9)
    assert len(vejmidte) >= 422 and vejmidte.segments.segment_id.is_unique


def test_vejmidte_ids_are_stable_across_loads(vejmidte, vejmidte_path):
    again = load_network(vejmidte_path)
    assert list(again.segments.segment_id) == list(vejmidte.segments.segment_id)


def test_osm_xml_loads_through_gdal_with_names_classes_and_speeds(osterbro):
    seg, r = osterbro.segments, osterbro.report
    assert r.mapping == "osm" and r.source_features == 282 and r.not_roads == 24 and r.lines == 258
    assert osterbro.crs.to_epsg() == 32633  # Copenhagen: UTM zone 33
    assert {"collector", "local", "access", "path"} <= set(seg.road_class) and r.unknown_class == 0
    assert seg.name.notna().sum() > 200
    assert seg.speed_kmh.notna().sum() > 20 and seg.speed_kmh.dropna().between(20, 80).all()
    assert len(seg) > r.lines  # OSM ways run through junctions: they were split
    # No segment passes through a junction: interior vertices are never shared with another segment.
    xy, which = shapely.get_coordinates(seg.geometry.values, return_index=True)
    first = np.r_[True, which[1:] != which[:-1]]
    last = np.r_[which[1:] != which[:-1], True]
    nodes = pd.DataFrame({"x": xy[:, 0].round(3), "y": xy[:, 1].round(3), "seg": which, "interior": ~(first | last)})
    segments_at_node = nodes.groupby(["x", "y"]).seg.transform("nunique")
    assert not (nodes.interior & (segments_at_node > 1)).any()


def test_helsinki_default_network(shared_data):
    net = default_network()
    assert net.crs.to_epsg() == 32635 and net.report.mapping == "osm"
    assert set(net.segments.road_class) == set(ROAD_CLASSES) and net.report.unknown_class == 0
    assert net.segments.speed_kmh.notna().sum() > 500
    lon0, lat0, lon1, lat1 = net.bounds_lonlat()
    assert 24.9 < lon0 < lon1 < 25.0 and 60.1 < lat0 < lat1 < 60.2
    assert default_network() is net  # loaded once per process


def test_snapping_back_points_placed_beside_real_roads(vejmidte):
    """Points 2 m left of each segment's middle come back to the same segment, chainage and side."""
    seg = vejmidte.segments[vejmidte.segments.length_m > 10]
    middle = seg.length_m.to_numpy() / 2
    at = shapely.line_interpolate_point(seg.geometry.values, middle)
    ahead = shapely.line_interpolate_point(seg.geometry.values, middle + 0.01)
    d = shapely.get_coordinates(ahead) - shapely.get_coordinates(at)
    d /= np.hypot(d[:, 0], d[:, 1])[:, None]
    xy = shapely.get_coordinates(at) + 2.0 * np.c_[-d[:, 1], d[:, 0]]  # 2 m to the left
    out = snap((xy[:, 0], xy[:, 1]), vejmidte, tolerance_m=5)
    same = ((out.segment_id.to_numpy() == seg.segment_id.to_numpy())
            & (np.abs(out.chainage_m.to_numpy() - middle) < 0.05)
            & (out.side == "left").to_numpy() & (np.abs(out.offset_m.to_numpy() - 2.0) < 0.05))
    # A few sit nearer to a parallel path, a junction or the inside of a tight bend than to their spot.
    assert same.mean() > 0.95


def test_network_of_another_town_is_refused(vejmidte, osterbro):
    with pytest.raises(RoadNetworkError, match="does not reach the survey") as err:
        vejmidte.check_covers(osterbro.segments.geometry)
    assert "covers lat 55.43" in err.value.message and "points lie at lat 55.69" in err.value.message
    assert err.value.path.name == "vejmidte_stige_odense_0461.gml"
