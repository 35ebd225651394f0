"""Road networks: any vector source -> junction-to-junction segments in one road hierarchy, metric CRS."""

from roadscan.geo.roads.classes import ROAD_CLASSES, UNKNOWN, SourceMapping, read_mappings
from roadscan.geo.roads.load import default_network, load_network
from roadscan.geo.roads.network import SEGMENT_COLUMNS, LoadReport, RoadNetwork

__all__ = ["ROAD_CLASSES", "SEGMENT_COLUMNS", "UNKNOWN", "LoadReport", "RoadNetwork", "SourceMapping", "default_network",
           "load_network", "read_mappings"]
