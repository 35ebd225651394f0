"""Road networks from hand-made sources: hierarchy mapping, junction splitting, stable ids, CRS and
geometry problems, and round trips through the file formats municipalities hand over."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely import LineString, MultiLineString, Point, Polygon

from roadscan.core.errors import ConfigError, RoadNetworkError
from roadscan.geo.roads import ROAD_CLASSES, SEGMENT_COLUMNS, load_network, read_mappings
from roadscan.geo.roads.classes import BUILTIN_MAPPING, parse_speed_kmh
from roadscan.geo.roads.junctions import split_at_junctions

UTM32 = "EPSG:25832"
X0, Y0 = 588000.0, 6144000.0  # Stige, Odense


def frame(lines, crs=UTM32, **columns):
    """A source frame of `lines` given relative to (X0, Y0)."""
    geoms = [shapely.transform(g, lambda c: c + [X0, Y0]) if g is not None else None for g in lines]
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=crs)


def osm(lines, **columns):
    n = len(lines)
    columns = {"osm_id": np.arange(1, n + 1), "highway": ["residential"] * n, "name": [f"Vej {i}" for i in range(n)],
               **columns}
    return frame(lines, **columns)


# --- junctions -------------------------------------------------------------------------------------

def test_long_way_splits_at_shared_junction_vertices():
    """An OSM way through two junctions (nodes shared with the side roads) becomes three segments."""
    main = LineString([(0, 0), (50, 0), (100, 0), (150, 0), (200, 0)])
    side_a = LineString([(50, 0), (50, 80)])
    side_b = LineString([(150, -60), (150, 0)])
    net = load_network(osm([main, side_a, side_b]))
    seg = net.segments
    parts = seg[seg.source_id == "1"].sort_values("part")
    assert list(parts.part) == [0, 1, 2]
    assert list(parts.length_m) == pytest.approx([50, 100, 50])
    starts = shapely.get_coordinates(shapely.get_point(parts.geometry.values, 0))[:, 0] - X0
    assert list(starts) == pytest.approx([0, 50, 150])  # digitised direction kept
    assert len(seg) == 5 and net.report.lines == 3 and net.report.segments == 5
    assert list(seg.columns) == [*SEGMENT_COLUMNS, "geometry"] and list(seg.index) == list(range(5))


def test_line_end_touching_an_interior_without_vertex_splits_it():
    """Looser topology: the side road ends on the main road where the main road has no vertex."""
    main = LineString([(0, 0), (200, 0)])
    side = LineString([(120, 0.01), (120, 50)])  # ends 1 cm from the main road
    parts, parent, part_no = split_at_junctions(np.array([main, side]))
    assert list(parent) == [0, 0, 1] and list(part_no) == [0, 1, 0]
    assert shapely.length(parts[:2]) == pytest.approx([120, 80])


def test_touch_near_a_vertex_splits_at_the_vertex_without_a_sliver():
    main = LineString([(0, 0), (100, 0), (200, 0)])
    side = LineString([(100.02, 0), (100, 50)])  # 2 cm from main's middle vertex
    parts, parent, _ = split_at_junctions(np.array([main, side]))
    assert shapely.length(parts[parent == 0]) == pytest.approx([100, 100])


def test_crossing_without_shared_vertex_is_a_bridge_and_stays_whole():
    road = LineString([(0, 0), (200, 0)])
    bridge = LineString([(100, -100), (100, 100)])
    parts, parent, _ = split_at_junctions(np.array([road, bridge]))
    assert len(parts) == 2


def test_closed_way_and_end_to_end_lines_are_not_split():
    ring = LineString([(0, 0), (50, 0), (50, 50), (0, 50), (0, 0)])  # a roundabout drawn as one way
    a, b = LineString([(100, 0), (200, 0)]), LineString([(200, 0), (300, 0)])
    parts, _, _ = split_at_junctions(np.array([ring, a, b]))
    assert len(parts) == 3


# --- ids -------------------------------------------------------------------------------------------

def test_segment_ids_are_stable_across_loads_and_unique(tmp_path):
    main = LineString([(0, 0), (50, 0), (100, 0)])
    source = osm([main, LineString([(50, 0), (50, 40)])])
    path = tmp_path / "roads.gpkg"
    source.to_file(path)
    first, second = load_network(path).segments, load_network(path).segments
    assert first.segment_id.is_unique and len(first) == 3
    assert list(first.segment_id) == list(second.segment_id)
    assert first.segment_id.str.fullmatch(r"[0-9a-f]{16}").all()


def test_ids_come_from_geometry_without_a_source_id_and_duplicates_stay_apart():
    line = LineString([(0, 0), (80, 0)])
    source = frame([line, line, LineString([(0, 10), (80, 10)])], highway=["service"] * 3)
    a, b = load_network(source).segments, load_network(source.copy()).segments
    assert a.segment_id.is_unique and list(a.segment_id) == list(b.segment_id)
    assert a.source_id.isna().all()


def test_ids_depend_on_source_id_not_on_row_order():
    lines = [LineString([(0, 0), (80, 0)]), LineString([(0, 10), (80, 10)])]
    net = load_network(osm(lines))
    flipped = load_network(osm(lines[::-1], osm_id=[2, 1]))
    assert dict(zip(net.segments.source_id, net.segments.segment_id)) == \
        dict(zip(flipped.segments.source_id, flipped.segments.segment_id))


# --- hierarchy -------------------------------------------------------------------------------------

def test_osm_highway_values_map_to_the_hierarchy_and_drop_non_roads():
    values = ["primary", "tertiary_link", "residential", "service", "cycleway", "Footway", "platform",
              "weird_value", None]
    lines = [LineString([(0, 20 * i), (50, 20 * i)]) for i in range(len(values))]
    net = load_network(osm(lines, highway=values))
    got = dict(zip(net.segments.source_id.astype(int), net.segments.road_class))
    assert got == {1: "arterial", 2: "collector", 3: "local", 4: "access", 5: "path", 6: "path", 8: "unknown"}
    assert net.report.dropped_by_class == 1 and net.report.not_roads == 1 and net.report.unknown_class == 1
    assert "left out 1 features that are not roads" in net.report.summary()


def test_geodanmark_categories_map_with_fallback_on_vejmidtetype():
    cats = ["Stor vej", "Mellem vej", "Lille vej", "Adgangsvej", "Hovedsti", "Cykelsti langs vej", None]
    types = ["Vej"] * 4 + ["Sti", "Sti", "Sti"]
    lines = [LineString([(0, 20 * i), (50, 20 * i)]) for i in range(len(cats))]
    net = load_network(frame(lines, vejkategori=cats, vejmidtetype=types, **{"id.lokalId": list("abcdefg")}))
    assert net.report.mapping == "geodanmark"
    assert list(net.segments.road_class) == ["arterial", "collector", "local", "access", "path", "path", "path"]


def test_user_mapping_is_used_before_the_built_in_ones(tmp_path):
    mapping = tmp_path / "nvdb.toml"
    mapping.write_text('[nvdb]\ndetect = ["vegkategori"]\nname = "vegnavn"\nspeed = "fart"\n'
                       '[nvdb.classes.vegkategori]\nE = "arterial"\nF = "collector"\nK = "local"\nP = "drop"\n')
    lines = [LineString([(0, 20 * i), (50, 20 * i)]) for i in range(4)]
    source = frame(lines, vegkategori=["E", "f", "K", "P"], vegnavn=["E6", "Fv 704", "Kongens gate", "x"],
                   fart=[80, 60, 0, 30])
    net = load_network(source, mapping=mapping)
    seg = net.segments
    assert net.report.mapping == "nvdb" and list(seg.road_class) == ["arterial", "collector", "local"]
    assert list(seg.name) == ["E6", "Fv 704", "Kongens gate"]
    assert seg.speed_kmh.tolist()[:2] == [80, 60] and np.isnan(seg.speed_kmh.iloc[2])  # 0 means unknown


def test_user_mapping_with_unknown_class_names_the_file_and_the_value(tmp_path):
    mapping = tmp_path / "bad.toml"
    mapping.write_text('[mine]\n[mine.classes.type]\nbig = "arterial"\nsmall = "lokal"\n')
    with pytest.raises(ConfigError) as err:
        load_network(osm([LineString([(0, 0), (10, 0)])]), mapping=mapping)
    assert err.value.path == mapping and "lokal" in err.value.message and "arterial" in err.value.hint


@pytest.mark.parametrize("text, problem", [("[mine\n", "not a valid TOML"), ("x = 1\n", "no mapping table"),
                                           ('[mine]\nclasse = {}\n', "classe")])
def test_broken_mapping_files_are_config_errors(tmp_path, text, problem):
    mapping = tmp_path / "m.toml"
    mapping.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        read_mappings(mapping)


def test_a_folder_given_as_the_mapping_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is a folder") as err:
        read_mappings(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_built_in_mappings_only_name_known_classes():
    mappings = read_mappings(BUILTIN_MAPPING)
    assert {m.name for m in mappings} >= {"osm", "geodanmark"}
    targets = {t for m in mappings for table in m.classes.values() for t in table.values()}
    assert set(ROAD_CLASSES) <= targets <= {*ROAD_CLASSES, "unknown", "drop"}


def test_source_no_mapping_fits_is_all_unknown_and_says_so():
    net = load_network(frame([LineString([(0, 0), (10, 0)])], kind=["x"]))
    assert list(net.segments.road_class) == ["unknown"] and net.report.mapping is None
    assert "--road-classes FILE" in net.report.summary()


def test_maxspeed_from_osm_other_tags():
    tags = ['"maxspeed"=>"50","lit"=>"yes"', '"maxspeed"=>"30 mph"', '"maxspeed"=>"DK:urban"',
            '"maxspeed"=>"40;30"', None]
    lines = [LineString([(0, 20 * i), (50, 20 * i)]) for i in range(len(tags))]
    speeds = load_network(osm(lines, other_tags=tags)).segments.speed_kmh
    assert speeds.tolist()[:2] == [50.0, 48.3] and speeds.iloc[3] == 40.0
    assert np.isnan(speeds.iloc[2]) and np.isnan(speeds.iloc[4])


def test_parse_speed_kmh_values():
    got = parse_speed_kmh(pd.Series(["80", " 50 km/h", "20 mph", "none", "0", None, 60, "walk"]))
    assert got.tolist()[:3] == [80.0, 50.0, 32.2] and np.isnan(got.iloc[3:6]).all()
    assert got.iloc[6] == 60.0 and np.isnan(got.iloc[7])


# --- geometry and CRS problems ---------------------------------------------------------------------

def test_mixed_geometries_are_exploded_and_counted():
    geoms = [LineString([(0, 0), (100, 0)]),
             MultiLineString([[(0, 50), (100, 50)], [(0, 80), (100, 80)]]),
             Point(5, 5), Polygon([(0, 0), (1, 0), (1, 1)]), None, LineString(),
             LineString([(0, 100), (0, 100)])]  # a single repeated point: degenerate
    net = load_network(osm(geoms))
    r = net.report
    assert (r.source_features, r.multi_lines, r.not_lines, r.empty_geometries) == (7, 1, 2, 3)
    assert r.segments == 3 and list(net.segments.source_id) == ["1", "2", "2"]
    assert list(net.segments.part) == [0, 0, 1]


def test_source_without_any_road_is_a_clear_error():
    source = osm([LineString([(0, 0), (10, 0)])] * 3, highway=["platform", None, "construction"])
    with pytest.raises(RoadNetworkError, match="none of its 3 features is a road: 1 are not roads and 2 are dropped"):
        load_network(source)
    with pytest.raises(RoadNetworkError, match="zero length"):
        load_network(osm([LineString([(0, 0), (0, 0)])]))


def test_no_line_geometries_is_a_clear_error(tmp_path):
    path = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"highway": ["a", "b"]}, geometry=[Point(10, 55), Point(10.1, 55)], crs=4326).to_file(path)
    with pytest.raises(RoadNetworkError, match=r"no line geometries \(2 Point\)") as err:
        load_network(path)
    assert err.value.path == path


def test_shapefile_without_prj_asks_for_crs_and_loads_when_given(tmp_path):
    path = tmp_path / "veje.shp"
    osm([LineString([(0, 0), (100, 0)])]).to_file(path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(RoadNetworkError, match="no coordinate reference system") as err:
        load_network(path)
    assert err.value.path == path and "--roads-crs" in err.value.hint and "crs=" in err.value.hint
    net = load_network(path, crs="EPSG:25832")
    assert net.crs.to_epsg() == 25832 and net.segments.length_m.iloc[0] == pytest.approx(100)


def test_geojson_with_metric_coordinates_is_caught(tmp_path):
    """GeoJSON is read as EPSG:4326 whatever it holds; UTM metres there are a wrong CRS, not a road."""
    path = tmp_path / "utm.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"highway": "primary"},
         "geometry": {"type": "LineString", "coordinates": [[X0, Y0], [X0 + 100, Y0]]}}]}))
    with pytest.raises(RoadNetworkError, match="metres of some other CRS") as err:
        load_network(path)
    assert "crs=" in err.value.hint
    assert load_network(path, crs=UTM32).segments.length_m.iloc[0] == pytest.approx(100)


def test_unknown_crs_value_is_an_error():
    with pytest.raises(RoadNetworkError, match="not a coordinate reference system"):
        load_network(osm([LineString([(0, 0), (10, 0)])]), crs="EPSG:999999")


def test_lon_lat_network_is_computed_in_local_utm():
    lines = [LineString([(10.40, 55.43), (10.41, 55.43)])]
    net = load_network(gpd.GeoDataFrame({"highway": ["primary"]}, geometry=lines, crs=4326))
    assert net.crs.to_epsg() == 32632
    geodesic = Geod(ellps="WGS84").line_length([10.40, 10.41], [55.43, 55.43])
    assert net.segments.length_m.iloc[0] == pytest.approx(geodesic, rel=1e-3)  # UTM scale error < 0.1 %
    assert net.report.source_crs == "EPSG:4326"


def test_missing_file_and_unreadable_file(tmp_path):
    with pytest.raises(RoadNetworkError, match="not found"):
        load_network(tmp_path / "nope.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a geopackage")
    with pytest.raises(RoadNetworkError, match="cannot be read") as err:
        load_network(junk)
    assert err.value.path == junk


def test_layer_must_be_named_when_several_hold_lines(tmp_path):
    path = tmp_path / "two.gpkg"
    osm([LineString([(0, 0), (10, 0)])]).to_file(path, layer="veje")
    osm([LineString([(0, 5), (10, 5)])]).to_file(path, layer="stier")
    with pytest.raises(RoadNetworkError, match="say which holds the roads") as err:
        load_network(path)
    assert "veje" in err.value.hint and "stier" in err.value.hint and "--roads-layer" in err.value.hint
    assert len(load_network(path, layer="stier")) == 1
    with pytest.raises(RoadNetworkError, match="no layer 'roads'"):
        load_network(path, layer="roads")


# --- file formats ----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson"])
def test_round_trip_through_file_formats(tmp_path, suffix):
    main = LineString([(0, 0), (60, 0), (120, 0)])
    source = osm([main, LineString([(60, 0), (60, 70)]), MultiLineString([[(0, 200), (50, 200)]])],
                 highway=["secondary", "footway", "service"], name=["Stigevej", "Sti", None])
    source = source.to_crs(4326) if suffix == ".geojson" else source
    path = tmp_path / f"roads{suffix}"
    source.to_file(path)
    net = load_network(path)
    seg = net.segments
    assert list(seg.road_class) == ["collector", "collector", "path", "access"]
    assert list(seg.name.fillna("-")) == ["Stigevej", "Stigevej", "Sti", "-"]
    assert seg.length_m.sum() == pytest.approx(120 + 70 + 50, abs=0.01)
    assert net.crs.is_projected


# --- coverage --------------------------------------------------------------------------------------

def test_check_covers_raises_with_both_extents_in_lat_lon():
    net = load_network(osm([LineString([(0, 0), (500, 0)])]))
    copenhagen = gpd.GeoSeries([Point(12.57, 55.70), Point(12.58, 55.71)], crs=4326)
    with pytest.raises(RoadNetworkError, match=r"covers lat 55\.4.* points lie at lat 55\.70"):
        net.check_covers(copenhagen)
    with pytest.raises(RoadNetworkError):
        net.check_covers((12.57, 55.70, 12.58, 55.71))
    nearby = gpd.GeoSeries([Point(X0 + 50, Y0 + 30)], crs=UTM32)
    net.check_covers(nearby)  # no error
    net.check_covers(nearby.to_crs(4326).total_bounds)
