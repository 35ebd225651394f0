"""The column contracts of the tables that pass between the steps of a survey.

Each step hands the next a plain pandas/GeoPandas frame; these lists say which columns it carries,
so the detector, geo/ and the store agree without importing each other. Names say which table a
list belongs to, since "frame", "observation" and "defect" each appear in more than one form.

    detector  DETECTION_COLUMNS          boxes of one image (Detections.to_frame)
    glue      FRAME_COLUMNS              sampled frames with their pose, as stored
              OBSERVATION_COLUMNS        detections placed on the ground, as stored
    geo       SNAPPED_OBSERVATION_COLUMNS  observations in metres with their place on the network
              MERGED_DEFECT_COLUMNS      merge output: one row per physical defect, in metres
              COVERAGE_COLUMNS           what the camera saw of each segment
    store     STORED_DEFECT_COLUMNS      a defect as a survey writes it (lon/lat, scored)
              CONDITION_COLUMNS          segment and 20 m bin condition rows
"""

from __future__ import annotations

DETECTION_COLUMNS = ["x1", "y1", "x2", "y2", "confidence", "code", "name"]

FRAME_COLUMNS = ["frame_index", "time", "lat", "lon", "heading_deg", "speed_mps", "distance_m",
                 "image_path", "width", "height"]

OBSERVATION_COLUMNS = ["frame_index", "code", "name", "confidence", "x1", "y1", "x2", "y2", "lat", "lon",
                       "forward_m", "right_m", "distance_m", "width_m", "length_m"]

# Where an observation lies on the network (geo.snap adds snap_x/snap_y, the point on the line).
SNAP_COLUMNS = ["segment_id", "road_name", "road_class", "chainage_m", "side", "offset_m", "on_network"]

# The source network's own road reference of a place on it (geo.snap.road_reference): the source
# feature's id, the mapping that read it, municipality and road code, chainage along the source line.
ROAD_REFERENCE_COLUMNS = ["source_id", "source_kind", "municipality_code", "road_code", "road_chainage_m"]

# What merging needs of each observation, besides SNAP_COLUMNS (absent: all off the network) and
# optionally gps_accuracy_m; x, y are metres in the network's CRS, obs_id its row in the survey.
SNAPPED_OBSERVATION_COLUMNS = ["obs_id", "survey_id", "frame_index", "time", "code", "confidence", "x", "y",
                               "width_m", "length_m", "distance_m"]

MERGED_DEFECT_COLUMNS = ["defect_key", "survey_id", "code", "name", "family", "x", "y", "segment_id", "road_name",
                         "road_class", "chainage_m", "side", "offset_m", "on_network", "width_m", "length_m",
                         "area_m2", "n_obs", "n_surveys", "max_confidence", "mean_confidence", "first_seen",
                         "last_seen", "gps_accuracy_m", "obs_ids", "other_classes"]

COVERAGE_COLUMNS = ["segment_id", "start_m", "end_m"]

STORED_DEFECT_COLUMNS = ["code", "name", "family", "lat", "lon", "segment_id", "road_name", "road_class",
                         "chainage_m", "side", "offset_m", "on_network", "width_m", "length_m", "area_m2", "n_obs",
                         "n_surveys", "max_confidence", "mean_confidence", "severity", "severity_reason",
                         "certainty", "priority", "priority_breakdown", "priority_reason", "first_seen",
                         "last_seen", "evidence", "other_classes", *ROAD_REFERENCE_COLUMNS]

SEGMENT_COLUMNS = ["segment_id", "name", "road_class", "speed_kmh", "length_m", "network", "geometry_wkt",
                   "source_id", "source_kind", "municipality_code", "road_code", "road_start_m"]

CONDITION_COLUMNS = ["segment_id", "level", "bin_start_m", "bin_end_m", "road_name", "road_class", "covered_m",
                     "n_defects", "index_per_100m", "condition", "condition_label", "geometry_wkt"]
