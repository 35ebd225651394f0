"""Work lists for road crews: the defects of an area, most urgent first or in driving order over the
road network, as JSON, CSV (a spreadsheet) or GPX (waypoints a phone navigator loads).

The list is the `limit` highest-priority defects that pass the filters; `order=route` then puts those
in the order to drive them from `start` (api/routing.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import gpxpy.gpx
import pandas as pd
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from roadscan.core.statuses import OPEN_STATUSES
from roadscan.api.auth import AUTH_ERRORS, Principal, Reader
from roadscan.api.exports import defect_links
from roadscan.api.hosts import base_url
from roadscan.api.ogc.errors import ExceptionBody, bad_request
from roadscan.api.routing import plan_route
from roadscan.api.store.filters import DefectFilter, select_top
from roadscan.api.store.segments import road_network
from roadscan.core.errors import ConfigError
from roadscan.core.evidence import Evidence

DEFAULT_STATUSES = OPEN_STATUSES  # what is still to do
MAX_ITEMS = 500
COLUMNS = ["order", "id", "code", "class", "road", "chainage_m", "side", "severity", "priority",
           "priority_breakdown", "status", "evidence", "lat", "lon", "route_m", "leg_m", "by_road", "image", "map",
           "source_id", "municipality_code", "road_code", "road_chainage_m", "external_ref"]

router = APIRouter(tags=["Maintenance"], responses={**AUTH_ERRORS,
                                                    400: {"model": ExceptionBody, "description": "bad parameter"}})


def read_districts(path: str | Path) -> dict[str, shapely.Geometry]:
    """Named districts from a polygon file with a `name` column (any CRS), as EPSG:4326 shapes."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio's errors for unreadable files
        raise ConfigError(f"cannot read the districts file ({str(exc).splitlines()[0]})", path=path) from None
    if "name" not in frame or frame.crs is None:
        raise ConfigError("the districts file needs polygons with a 'name' column and a CRS", path=path)
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])].to_crs(4326)
    return {str(name): group.union_all() for name, group in frame.groupby("name")}


def _start(text: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise bad_request(f"start '{text}' must be lon,lat in degrees") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise bad_request(f"start '{text}' is not lon,lat in degrees")
    return lon, lat


def select_work(request: Request, *, bbox: str | None, district: str | None, min_priority: float | None,
                classes: str | None, status: str | None, limit: int, unconfirmed: bool = False) -> pd.DataFrame:
    """The work list's defects; unconfirmed ones (a single weak sighting, core.evidence) only when asked."""
    settings = request.app.state.settings
    area = None
    if district is not None:
        districts = settings.districts or {}
        if district not in districts:
            known = ", ".join(sorted(districts)) or "none are configured (create_app(..., districts=FILE))"
            raise bad_request(f"unknown district '{district}'; known: {known}")
        area = districts[district]
    flt = DefectFilter.parse(classes=classes, statuses=status or DEFAULT_STATUSES, bbox=bbox, area=area)
    flt.evidence = () if unconfirmed else (str(Evidence.CONFIRMED),)
    return select_top(request.app.state.store, flt, limit=limit, min_priority=min_priority)


def _cell(value) -> Any:
    """A cell as JSON holds it: pandas' missing markers (NaN, NA, NaT) become None."""
    return None if value is None or pd.isna(value) else (float(value) if isinstance(value, float) else value)


def _items(request: Request, table: pd.DataFrame) -> list[dict[str, Any]]:
    base = base_url(request)
    items = []
    links = defect_links(table, base) if len(table) else pd.DataFrame(columns=["image_url", "map_url"])
    for n, (r, link) in enumerate(zip(table.to_dict("records"), links.to_dict("records")), start=1):
        breakdown = r.get("priority_breakdown")
        if isinstance(breakdown, str):
            breakdown = json.loads(breakdown)
        items.append({
            "order": n, "id": int(r["id"]), "code": r["code"], "class": r["name"], "road": _cell(r.get("road_name")),
            "chainage_m": _cell(r.get("chainage_m")), "side": _cell(r.get("side")), "severity": int(r["severity"]),
            "priority": float(r["priority"]), "priority_breakdown": breakdown, "status": r["status"],
            "evidence": r.get("evidence"),
            "lat": float(r["lat"]), "lon": float(r["lon"]),
            "route_m": _cell(r.get("route_m")), "leg_m": _cell(r.get("leg_m")),
            "by_road": None if r.get("by_road") is None or pd.isna(r.get("by_road")) else bool(r["by_road"]),
            "image": _cell(link["image_url"]), "map": link["map_url"],
            **{k: _cell(r.get(k)) for k in ("source_id", "municipality_code", "road_code", "road_chainage_m",
                                             "external_ref")},
        })
    return items


def _csv(items: list[dict[str, Any]]) -> str:
    table = pd.DataFrame(items, columns=COLUMNS)
    table["priority_breakdown"] = table["priority_breakdown"].map(lambda v: None if v is None else json.dumps(v))
    return table.to_csv(index=False)


def _gpx(items: list[dict[str, Any]], title: str) -> str:
    gpx = gpxpy.gpx.GPX()
    gpx.name, gpx.creator = title, "roadscan"
    route = gpxpy.gpx.GPXRoute(name=title)
    for it in items:
        name = f"{it['order']}. {it['class']} #{it['id']}"
        road = it["road"] or (f"road {it['road_code']}" if it["road_code"] else None)
        chainage = it["road_chainage_m"] if it["road_chainage_m"] is not None else it["chainage_m"]
        where = ", ".join(p for p in (road, f"{chainage:.0f} m" if chainage is not None else None,
                                      f"{it['side']} side" if it["side"] else None) if p)
        desc = (f"defect {it['id']}: {where}; severity {it['severity']}, priority {it['priority']:.0f}, {it['status']}"
                + ("; unconfirmed (one weak sighting)" if it.get("evidence") == "unconfirmed" else "")
                + (f"; ref {it['external_ref']}" if it["external_ref"] else "")
                + (f"; photo {it['image']}" if it["image"] else "") + f"; map {it['map']}")
        # GPX 1.1 <link>: the evidence photo where there is one, else the defect on the map page; both under
        # the server's public address (serve --public-url), which a crew's phone can reach
        href, text, kind = ((it["image"], "photo", "image/jpeg") if it["image"] else (it["map"], "map", "text/html"))
        waypoint = gpxpy.gpx.GPXWaypoint(it["lat"], it["lon"], name=name, description=desc, type=it["code"])
        point = gpxpy.gpx.GPXRoutePoint(it["lat"], it["lon"], name=name, description=desc)
        for p in (waypoint, point):
            p.link, p.link_text, p.link_type = href, text, kind
        gpx.waypoints.append(waypoint)
        route.points.append(point)
    gpx.routes.append(route)
    return gpx.to_xml()


@router.get("/worklists", summary="A crew's work list: defects of an area by priority or in driving order",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/gpx+xml": {}},
                             "description": "the work list"}})
def worklist(request: Request,
             bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None,
             district: Annotated[str | None, Query(description="a named district (see the districts setting)")] = None,
             min_priority: Annotated[float | None, Query(ge=0, allow_inf_nan=False,
                                                         description="at least this priority")] = None,
             class_: Annotated[str | None, Query(alias="class", description="class codes or names, comma-separated")] = None,
             status: Annotated[str | None, Query(description="statuses, comma-separated "
                                                             f"(default: {', '.join(DEFAULT_STATUSES)})")] = None,
             limit: Annotated[int, Query(ge=1, le=MAX_ITEMS, description="the most urgent N")] = 50,
             order: Annotated[Literal["priority", "route"], Query(description="priority, or driving order "
                                                                               "over the roads from start")] = "priority",
             start: Annotated[str | None, Query(description="lon,lat where the crew starts (order=route; "
                                                            "default: the most urgent defect)")] = None,
             f: Annotated[Literal["json", "csv", "gpx"], Query(description="json, csv or gpx")] = "json",
             unconfirmed: Annotated[bool, Query(description="also list unconfirmed defects (a single weak "
                                                            "sighting; left out by default)")] = False,
             _principal: Principal = Reader) -> Response:
    if bbox and district:
        raise bad_request("give bbox or district, not both")
    origin = _start(start) if start else None
    table = select_work(request, bbox=bbox, district=district, min_priority=min_priority, classes=class_,
                        status=status, limit=limit, unconfirmed=unconfirmed)
    total = None
    if order == "route" and len(table):
        segments = road_network(request.app.state.store)
        if segments.empty:
            raise bad_request("the store holds no road network to route over; process a survey with --roads, "
                              "or use order=priority")
        route = plan_route(segments, table[["lon", "lat", "segment_id", "chainage_m"]], start=origin)
        table = table.iloc[route.order].reset_index(drop=True)
        table["leg_m"], table["by_road"] = route.leg_m.round(1), route.by_road
        table["route_m"] = route.leg_m.cumsum().round(1)
        total = round(route.total_m, 1)
    items = _items(request, table)
    title = f"roadscan work list ({len(items)} defects, {'driving order' if order == 'route' else 'by priority'})"
    if f == "csv":
        return Response(_csv(items), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="worklist.csv"'})
    if f == "gpx":
        return Response(_gpx(items, title), media_type="application/gpx+xml",
                        headers={"Content-Disposition": 'attachment; filename="worklist.gpx"'})
    return JSONResponse({"title": title, "order": order, "start": list(origin) if origin else None,
                         "count": len(items), "total_route_m": total, "items": items})
