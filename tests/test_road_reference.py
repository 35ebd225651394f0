"""The municipality's own road reference (issue 14): the source road's id, codes and chainage along the
source line reach segments, defects, the API, exports and work lists.

Reproduced first: segment_id was a hash, the source id (GeoDanmark id.lokalId, OSM way id) was read and
dropped, there was no kommunekode/vejkode, and chainage ran from the start of each junction-to-junction
piece rather than along the road.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from _vejmidte_survey import LOKAL_ID, ROAD_CHAINAGES, store_survey
from roadscan.api.app import create_app
from roadscan.api.exports import export
from roadscan.api.store.database import open_store
from roadscan.geo.roads import load_network
from roadscan.geo.snap import road_reference, snap

UTM32 = "EPSG:25832"


@pytest.fixture(scope="module")
def gml(shared_data):
    return shared_data / "roads" / "vejmidte_stige_odense_0461.gml"


@pytest.fixture(scope="module")
def survey(gml, tmp_path_factory):
    return store_survey(tmp_path_factory.mktemp("vejmidte") / "stige.db", gml)


@pytest.fixture(scope="module")
def gpkg(survey, tmp_path_factory):
    with open_store(survey.db, create=False) as store:
        (path,) = export(store, "gpkg", tmp_path_factory.mktemp("export") / "stige", crs="EPSG:25832",
                         public_url="https://roads.odense.example")
    return path


@pytest.mark.realdata
def test_vejmidte_segments_keep_the_lokalid_kommunekode_vejkode_and_road_chainage(gml):
    network = load_network(gml)
    seg = network.segments
    raw = pyogrio.read_dataframe(gml, columns=["id.lokalId", "kommunekode", "vejkode"]).set_index("id.lokalId")
    assert seg["source_id"].isin(raw.index).all() and (seg["source_kind"] == "geodanmark").all()
    assert (seg["municipality_code"] == "0461").all()  # the leading zero kept: it is a code, not a number
    expected_vejkode = raw["vejkode"].reindex(seg["source_id"]).to_numpy()
    assert (seg["road_code"].fillna("").to_numpy() == pd.Series(expected_vejkode).fillna("").to_numpy()).all()
    # where each segment starts along its source line is what shapely measures on that line
    source_lines = raw.geometry.reindex(seg["source_id"]).to_numpy()
    starts = shapely.get_point(seg.geometry.to_numpy(), 0)
    assert np.allclose(shapely.line_locate_point(source_lines, starts), seg["road_start_m"], atol=1e-6)
    driven = seg[seg["source_id"] == LOKAL_ID]
    assert len(driven) == 3 and driven["road_start_m"].iloc[1] > 150  # split at two junctions


def test_osm_way_id_and_ref_and_road_chainage_across_a_split():
    """An OSM way running through a junction: two segments, one way id, road chainage continuing."""
    way = shapely.LineString([(0, 0), (100, 0), (200, 0)])
    cross = shapely.LineString([(100, -50), (100, 0), (100, 50)])
    frame = gpd.GeoDataFrame({"osm_id": [4711, 4712], "highway": ["primary", "residential"], "ref": ["O2", None],
                              "name": ["Ringvej", "Tværvej"]}, geometry=[way, cross], crs=UTM32)
    network = load_network(frame)
    seg = network.segments[network.segments["source_id"] == "4711"]
    assert len(seg) == 2 and list(seg["road_start_m"]) == [0.0, 100.0]
    assert set(seg["road_code"]) == {"O2"} and set(seg["source_kind"]) == {"osm"}
    snapped = snap((np.array([150.0, 20.0]), np.array([2.0, -2.0])), network)
    assert list(snapped["source_id"]) == ["4711", "4711"]
    assert snapped["road_chainage_m"].tolist() == pytest.approx([150.0, 20.0])
    assert snapped["chainage_m"].tolist() == pytest.approx([50.0, 20.0])  # the segment's own, as before
    # the same from a segment id and chainage, as merged defects get it
    ref = road_reference(network, snapped["segment_id"], snapped["chainage_m"])
    assert ref["road_chainage_m"].tolist() == pytest.approx([150.0, 20.0])
    assert road_reference(network, [None, "nope"], [1.0, 2.0])["road_chainage_m"].isna().all()


def test_nvdb_vegnett_keeps_veglenkesekvens_and_vegsystemreferanse():
    frame = gpd.GeoDataFrame({"veglenkesekvensid": [41423, 41423], "kommune": [5001, 5001],
                              "vegsystemreferanse": ["EV6 S78D1 m700-768", "EV6 S78D1 m768-900"],
                              "vegkategori": ["E", "E"], "typeVeg": ["ENKEL_BILVEG", "ENKEL_BILVEG"]},
                             geometry=[shapely.LineString([(0, 0), (68, 0)]), shapely.LineString([(68, 0), (200, 0)])],
                             crs="EPSG:25833")
    seg = load_network(frame).segments
    assert list(seg["source_id"]) == ["41423", "41423"] and set(seg["source_kind"]) == {"nvdb"}
    assert list(seg["road_code"]) == ["EV6 S78D1 m700-768", "EV6 S78D1 m768-900"]
    assert set(seg["municipality_code"]) == {"5001"} and set(seg["road_class"]) == {"arterial"}


@pytest.mark.realdata
def test_stored_defects_carry_the_road_reference(survey):
    with open_store(survey.db, create=False) as store:
        from roadscan.api.store.filters import select_defects
        defects = select_defects(store)
    assert len(defects) == len(ROAD_CHAINAGES)
    assert set(defects["source_id"]) == {LOKAL_ID} and set(defects["road_code"]) == {"0048"}
    assert set(defects["municipality_code"]) == {"0461"} and set(defects["source_kind"]) == {"geodanmark"}
    # beyond the first junction the road chainage runs on while the segment's starts again
    order = defects.sort_values("road_chainage_m")
    assert order["road_chainage_m"].to_numpy() == pytest.approx(np.array(ROAD_CHAINAGES), abs=1.0)
    assert (order["chainage_m"].to_numpy()[2:] < order["road_chainage_m"].to_numpy()[2:] - 150).all()


@pytest.mark.realdata
def test_exported_defects_join_back_to_vejmidte_by_its_own_id_with_road_chainage_within_1m(survey, gpkg, gml):
    """Issue 14, done when: a GeoDanmark-network survey's exported defects join back to the Vejmidte
    layer by its own id, and their along-road chainage matches shapely's line.project within 1 m."""
    defects = pyogrio.read_dataframe(gpkg, layer="defects")
    assert defects.crs.to_epsg() == 25832
    vejmidte = pyogrio.read_dataframe(gml, columns=["id.lokalId", "vejkode", "kommunekode"])
    joined = defects.merge(vejmidte.rename(columns={"geometry": "source_line"}), left_on="source_id",
                           right_on="id.lokalId", how="inner", validate="many_to_one")
    assert len(joined) == len(defects) == len(ROAD_CHAINAGES)
    assert (joined["vejkode"] == joined["road_code"]).all() and (joined["kommunekode"] == joined["municipality_code"]).all()
    projected = shapely.line_locate_point(joined["source_line"].to_numpy(), joined.geometry.to_numpy())
    assert np.abs(projected - joined["road_chainage_m"].to_numpy()).max() < 1.0


@pytest.mark.realdata
def test_api_items_and_work_lists_carry_the_road_reference(survey):
    with TestClient(create_app(survey.db, base_url="https://roads.odense.example")) as client:
        items = client.get("/collections/defects/items").json()["features"]
        props = items[0]["properties"]
        assert props["defect_id"] == items[0]["id"]
        assert props["source_id"] == LOKAL_ID and props["road_code"] == "0048" and props["road_chainage_m"] > 0
        only = client.get("/collections/defects/items", params={"source_id": LOKAL_ID}).json()
        assert only["numberMatched"] == len(ROAD_CHAINAGES)
        work = client.get("/worklists", params={"limit": 10}).json()["items"]
        assert {w["source_id"] for w in work} == {LOKAL_ID} and all(w["road_chainage_m"] is not None for w in work)
        assert all(w["map"].startswith("https://roads.odense.example/map?defect=") for w in work)


@pytest.mark.realdata
def test_vejmidte_road_names_come_from_a_dar_names_table(gml, tmp_path):
    """Vejmidte carries no road name (names live in DAR, keyed by kommunekode + vejkode): without a names
    table road_name stays empty, as the issue found; with DAWA's vejstykker as CSV the segments are named."""
    assert load_network(gml).segments["name"].isna().all()
    names = tmp_path / "vejstykker.csv"
    names.write_text("kommunekode,kode,navn\n0461,0048,Stigevej\n461,2992,Bådehavnsvej\n0101,0048,Elsewhere\n")
    seg = load_network(gml, road_names=names).segments
    assert set(seg.loc[seg["road_code"] == "0048", "name"]) == {"Stigevej"}
    assert set(seg.loc[seg["road_code"] == "2992", "name"]) == {"Bådehavnsvej"}
    assert seg.loc[~seg["road_code"].isin(["0048", "2992"]), "name"].isna().all()
    bad = tmp_path / "bad.csv"
    bad.write_text("kommune_nr,x\n1,2\n")
    from roadscan.core.errors import RoadNetworkError
    with pytest.raises(RoadNetworkError, match="lacks"):
        load_network(gml, road_names=bad)


@pytest.mark.realdata
def test_osm_xml_keeps_the_way_id_and_chainage_along_each_way(shared_data):
    path = shared_data / "roads" / "copenhagen_osterbro_2017.osm"
    network = load_network(path)
    seg = network.segments
    ways = pyogrio.read_dataframe(path, layer="lines", columns=["osm_id"]).to_crs(network.crs).set_index("osm_id")
    assert seg["source_id"].isin(ways.index).all() and (seg["source_kind"] == "osm").all()
    split = seg[seg["source_id"].duplicated(keep=False)]
    assert split["source_id"].nunique() > 10  # OSM ways run through junctions: many are split
    lines = ways.geometry.reindex(split["source_id"]).to_numpy()
    starts = shapely.get_point(split.geometry.to_numpy(), 0)
    assert np.abs(shapely.line_locate_point(lines, starts) - split["road_start_m"].to_numpy()).max() < 0.01


@pytest.mark.realdata
def test_nvdb_api_answer_loads_with_chainage_along_the_veglenkesekvens(shared_data):
    """The NVDB API's veglenkesekvenser JSON (Trondheim), which GDAL does not read: one segment per link,
    the sequence id kept, and road chainage in metres along the sequence (port position x its length)."""
    import json

    path = shared_data / "roads" / "veglenkesekvenser-41658-2553792.json"
    network = load_network(path)
    seg = network.segments
    assert network.crs.to_epsg() == 25833 and set(seg["source_kind"]) == {"nvdb"}
    assert set(seg["source_id"]) == {"41658", "2553792"} and set(seg["municipality_code"]) == {"5001"}
    answer = json.loads(path.read_text())["veglenkesekvenser"]
    for sequence in answer:
        ports = {p["nummer"]: p["posisjon"] for p in sequence["porter"]}
        starts = sorted(ports[link["startport"]] * sequence["lengde"] for link in sequence["veglenker"])
        mine = seg.loc[seg["source_id"] == str(sequence["id"]), "road_start_m"].sort_values()
        assert mine.to_numpy() == pytest.approx(np.array(starts), abs=0.01)
    # a point beside the middle of a link: road chainage = the link's start along the sequence + metres on it
    link = seg.sort_values("road_start_m").iloc[2]
    middle = link.geometry.interpolate(0.5, normalized=True)
    snapped = snap((np.array([middle.x + 1.0]), np.array([middle.y])), network)
    assert snapped["source_id"].iloc[0] == link["source_id"]
    assert snapped["road_chainage_m"].iloc[0] == pytest.approx(link["road_start_m"] + link["length_m"] / 2, abs=1.5)


def test_an_nvdb_answer_without_links_is_refused_by_name(tmp_path):
    from roadscan.core.errors import RoadNetworkError

    empty = tmp_path / "nvdb.json"
    empty.write_text('{"veglenkesekvenser": [], "metadata": {"returnert": 0}}')
    with pytest.raises(RoadNetworkError, match="no valid veglenker") as err:
        load_network(empty)
    assert str(empty) in str(err.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"veglenkesekvenser": [{"id": 1, "veglenker": [')
    with pytest.raises(RoadNetworkError, match="cannot be read as an NVDB"):
        load_network(broken)
