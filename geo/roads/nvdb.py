"""Norwegian NVDB road links as the NVDB API answers them (`vegnett/veglenkesekvenser` JSON), as a frame
of source features for load_network.

GDAL does not read these answers: each veglenkesekvens (the NVDB road link sequence, a stable id) holds
its veglenker (links) with a WKT geometry and start and end ports at relative positions 0-1 along the
sequence. One row per veglenke keeps the sequence id (`veglenkesekvensid`) and where the link starts
along its sequence in metres (`start_m` = the start port's position x the sequence length), so that a
defect's road chainage is its metres along the veglenkesekvens, NVDB's own linear reference.
Links no longer valid (with a `sluttdato`) are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import CRS

from roadscan.core.errors import RoadNetworkError

KEY = "veglenkesekvenser"


def is_nvdb_json(path: Path) -> bool:
    """Whether a .json file is an NVDB API answer of road link sequences (looked at cheaply: its start)."""
    if path.suffix.lower() != ".json":
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return f'"{KEY}"'.encode() in head


def read_nvdb_json(path: Path) -> gpd.GeoDataFrame:
    """One row per valid veglenke: veglenkesekvensid, nummer, kommune, typeVeg, detaljniva, startposisjon,
    sluttposisjon, start_m and the 2D line, in the answer's horizontal CRS (srid 5973 -> EPSG:25833)."""
    try:
        sequences = json.loads(path.read_text())[KEY]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RoadNetworkError(f"cannot be read as an NVDB veglenkesekvenser answer ({exc})", path=path) from None
    rows, srids = [], set()
    for seq in sequences:
        ports = {p["nummer"]: p.get("posisjon") for p in seq.get("porter", [])}
        length = seq.get("lengde")
        for link in seq.get("veglenker", []):
            if link.get("sluttdato") or (link.get("gyldighetsperiode") or {}).get("sluttdato"):
                continue
            geometry = link.get("geometri") or {}
            srids.add(geometry.get("srid"))
            start, end = ports.get(link.get("startport")), ports.get(link.get("sluttport"))
            rows.append({"veglenkesekvensid": seq["id"], "nummer": link.get("nummer"), "kommune": link.get("kommune"),
                         "typeVeg": link.get("typeVeg"), "detaljniva": link.get("detaljniva"),
                         "startposisjon": start, "sluttposisjon": end,
                         "start_m": start * length if start is not None and length is not None else None,
                         "geometry": shapely.force_2d(shapely.from_wkt(geometry.get("wkt"), on_invalid="ignore"))})
    if not rows:
        raise RoadNetworkError("holds no valid veglenker", path=path)
    srids.discard(None)
    if len(srids) != 1:
        raise RoadNetworkError(f"its veglenker state {len(srids)} coordinate systems ({sorted(srids)})", path=path)
    crs = CRS.from_epsg(srids.pop())
    if crs.is_compound:  # 5973: ETRS89 / UTM 33N + NN2000 height; the lines are 2D now
        crs = crs.sub_crs_list[0]
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    return frame.sort_values(["veglenkesekvensid", "startposisjon"], kind="stable").reset_index(drop=True)
