"""Priority scores, their breakdown, and the scoring config they read."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest

from roadscan.core.errors import ConfigError
from roadscan.geo.priority import score_priority
from roadscan.geo.scoring import ROAD_CLASSES, default_scoring, load_scoring

CRS = "EPSG:25832"


def defects(*rows):
    base = dict(code="D40", severity=4, certainty=1.0, road_class="local", segment_id="S1", x=0.0, y=0.0)
    return pd.DataFrame([{**base, **r} for r in rows])


def test_breakdown_adds_up_to_the_score():
    places = gpd.GeoDataFrame({"kind": ["school", "bus_stop", "playground"]},
                              geometry=gpd.points_from_xy([30, 0, 10], [0, 20, 0]), crs=CRS)
    table = defects(dict(severity=5, road_class="arterial", maxspeed_kmh=80, certainty=0.4),
                    dict(severity=2, road_class="path", x=500.0),
                    dict(severity=3, road_class=None, segment_id=None, certainty=0.9),
                    dict(severity=1, road_class="collector", maxspeed_kmh=30))
    out = score_priority(table, places=places)
    for score, terms in zip(out["priority"], out["priority_breakdown"]):
        assert sum(terms.values()) == pytest.approx(score, abs=0.011)
        json.dumps(terms)  # storable as JSON
    first = out["priority_breakdown"].iloc[0]
    assert set(first) == {"severity", "road_class", "speed_limit", "place:school", "place:bus_stop",
                          "place:playground", "certainty"}
    assert first == {"severity": 100.0, "road_class": 100.0, "speed_limit": 30.0, "place:school": 50.0,
                     "place:bus_stop": 30.0, "place:playground": 10.0, "certainty": -30.0}
    assert out["priority"].iloc[0] == pytest.approx(290.0)
    assert "school 30 m away +50" in out["priority_reason"].iloc[0]


def test_road_importance_raises_priority_but_severity_dominates():
    out = score_priority(defects(dict(road_class="arterial"), dict(road_class="local"),
                                 dict(severity=5, road_class="access"), dict(severity=2, road_class="arterial")))
    arterial, local, big_on_access, small_on_arterial = out["priority"]
    assert arterial > local
    assert big_on_access > small_on_arterial


def test_speed_limit_from_the_segments_table_and_unknown_speed_adds_nothing():
    segments = pd.DataFrame({"segment_id": ["S1", "S2"], "road_class": ["collector", "local"],
                             "maxspeed_kmh": [80, None]})
    out = score_priority(defects(dict(segment_id="S1", road_class=None), dict(segment_id="S2")), segments=segments)
    assert out["road_class"].tolist() == ["collector", "local"]
    assert out["priority_breakdown"].iloc[0]["speed_limit"] == pytest.approx(70 * 0.3)  # (80 - 50) / 10 x 0.1
    assert out["priority_breakdown"].iloc[1]["speed_limit"] == 0.0
    assert "speed limit unknown" in out["priority_reason"].iloc[1]
    # geo.roads calls the column speed_kmh
    renamed = score_priority(defects({}), segments=segments.rename(columns={"maxspeed_kmh": "speed_kmh"}))
    assert renamed["maxspeed_kmh"].iloc[0] == 80


def test_off_network_defects_count_as_unknown_road_even_with_a_nearest_road_named():
    segments = pd.DataFrame({"segment_id": ["S1"], "road_class": ["arterial"], "maxspeed_kmh": [80]})
    out = score_priority(defects(dict(on_network=True), dict(on_network=False)), segments=segments)
    assert out["road_class"].tolist() == ["arterial", "unknown"]
    assert out["priority_breakdown"].iloc[1] == {"severity": 70.0, "road_class": 21.0, "speed_limit": 0.0,
                                                 "certainty": 0.0}


def test_places_count_within_their_radius_once_per_kind():
    places = gpd.GeoDataFrame({"kind": ["school", "school", "bus_stop"]},
                              geometry=gpd.points_from_xy([40, 45, 35], [0, 0, 0]), crs=CRS)
    out = score_priority(defects({}), places=places)
    terms = out["priority_breakdown"].iloc[0]
    assert terms["place:school"] == pytest.approx(70 * 0.5)  # two schools within 50 m count once
    assert "place:bus_stop" not in terms  # bus stops reach 30 m


def test_places_in_another_crs_are_reprojected():
    table = gpd.GeoDataFrame(defects(dict(x=500000.0, y=6100000.0)),
                             geometry=gpd.points_from_xy([500000.0], [6100000.0]), crs=CRS)
    school = gpd.GeoDataFrame({"kind": ["school"]}, geometry=gpd.points_from_xy([500020.0], [6100000.0]), crs=CRS)
    out = score_priority(table, places=school.to_crs("EPSG:4326"))
    assert "place:school" in out["priority_breakdown"].iloc[0]


def test_low_certainty_costs_points():
    out = score_priority(defects(dict(certainty=1.0), dict(certainty=0.2)))
    assert out["priority_breakdown"].iloc[1]["certainty"] == pytest.approx(-70 * 0.5 * 0.8)
    assert out["priority"].iloc[0] > out["priority"].iloc[1]


def test_severity_is_assessed_when_missing():
    table = pd.DataFrame([dict(code="D40", width_m=1.0, length_m=1.0, n_obs=5, mean_confidence=0.8,
                               road_class="local", segment_id="S1", x=0.0, y=0.0)])
    out = score_priority(table)
    assert out["severity"].iloc[0] == 5 and out["priority_breakdown"].iloc[0]["severity"] == 100.0


def test_user_overrides_are_merged_over_the_defaults(tmp_path):
    path = tmp_path / "faxe.toml"
    path.write_text("[priority.road_class]\npath = 1.0\n\n[priority.places.weights]\nlibrary = 0.25\n")
    scoring = load_scoring(path)
    assert scoring.priority.road_class["path"] == 1.0
    assert scoring.priority.road_class["arterial"] == default_scoring().priority.road_class["arterial"]
    assert scoring.priority.places.weight("library") == 0.25 and scoring.priority.places.weight("school") == 0.5
    out = score_priority(defects(dict(road_class="path")), scoring=path)
    assert out["priority_breakdown"].iloc[0]["road_class"] == 70.0


def test_defaults_cover_every_road_class():
    assert set(default_scoring().priority.road_class) == set(ROAD_CLASSES)


@pytest.mark.parametrize("text, words", [
    ("[priority.road_class]\nmotorway = 2.0\n", ["unknown road class 'motorway'", "priority.road_class"]),
    ("[priority.road_class]\nlocal = -0.5\n", ["priority.road_class.local", "greater than or equal to 0"]),
    ("[priority.places.weights]\nschool = -1\n", ["priority.places.weights.school"]),
    ("[priority.severity_points]\n6 = 200\n", ["severities 1 to 5"]),
    ("[severity.D99]\nbase = 2\nmeasure = \"area\"\n", ["unknown class code 'D99'"]),
    ("[severity.D40]\nbands = [0.5, 0.1]\n", ["increase"]),
    ("[priority]\ncertainty_wieght = 0.2\n", ["certainty_wieght"]),
    ("[condition]\nbands = [1, 2]\n", ["condition.bands"]),
    ("[priority.road_class\n", ["not a valid TOML file"]),
    ("[priority.speed]\nmax = inf\n", ["priority.speed.max", "finite"]),
    ("[priority]\ncertainty_weight = nan\n", ["priority.certainty_weight", "finite"]),
    ("[condition.severity_weights]\n1 = inf\n", ["condition.severity_weights.1", "finite"]),
])
def test_config_errors_name_the_file_and_the_key(tmp_path, text, words):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_scoring(path)
    message = str(err.value)
    assert str(path) in message
    for w in words:
        assert w in message


def test_a_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        score_priority(defects({}), scoring=tmp_path / "nope.toml")


def test_a_folder_given_as_the_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is a folder") as err:
        load_scoring(tmp_path)
    assert str(tmp_path) in str(err.value)
