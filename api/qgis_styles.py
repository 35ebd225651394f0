"""Layer styles embedded in exported GeoPackages, so that QGIS opens defects coloured by priority (the
most urgent drawn on top) and segment condition coloured by class, with no style file to hand round.

QGIS reads a layer's default style from the GeoPackage's `layer_styles` table (QGIS's GeoPackage
styling extension: f_table_catalog and f_table_schema empty, f_table_name the layer, f_geometry_column
its geometry column, styleQML the style, useAsDefault true). The table is written as an ordinary
GeoPackage attribute table, so GDAL lists it and keeps the file valid. An SLD of the same colours sits
beside each QML for tools that read SLD instead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from xml.sax.saxutils import quoteattr

import pandas as pd

# (lower, upper, label, RGB): priority is the sum of points (geo/scoring.toml), severity 5 alone is 100.
PRIORITY_RANGES = ((0.0, 25.0, "low (under 25)", "255,255,178"), (25.0, 50.0, "moderate (25-50)", "254,204,92"),
                   (50.0, 75.0, "high (50-75)", "253,141,60"), (75.0, 100.0, "urgent (75-100)", "240,59,32"),
                   (100.0, 1e9, "most urgent (100 and over)", "189,0,38"))
# condition class -> (label, RGB); geo/condition.py names the classes
CONDITION_CLASSES = {1: ("1 good", "26,150,65"), 2: ("2 fair", "166,217,106"), 3: ("3 poor", "253,174,97"),
                     4: ("4 very poor", "215,25,28"), 5: ("5 critical", "128,0,38")}
NOT_RATED = ("not surveyed", "160,160,160")

_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.22.0\" styleCategories=\"Symbology\">\n"


def _props(**props: str) -> str:
    return "".join(f"<prop k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in props.items())


def _marker(name: str, rgb: str) -> str:
    return (f'<symbol type="marker" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            '<layer class="SimpleMarker" enabled="1" pass="0" locked="0">'
            + _props(name="circle", color=f"{rgb},255", outline_color="35,35,35,255", outline_width="0.2",
                     outline_width_unit="MM", size="3", size_unit="MM")
            + "</layer></symbol>")


def _line(name: str, rgb: str) -> str:
    return (f'<symbol type="line" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            '<layer class="SimpleLine" enabled="1" pass="0" locked="0">'
            + _props(line_color=f"{rgb},255", line_width="0.9", line_width_unit="MM", capstyle="round",
                     joinstyle="round")
            + "</layer></symbol>")


def priority_qml() -> str:
    """Defects: graduated colour on priority, drawn in priority order so the most urgent is on top."""
    ranges = "".join(f'<range lower="{lo:g}" upper="{hi:g}" symbol="{i}" label={quoteattr(label)} render="true"/>'
                     for i, (lo, hi, label, _) in enumerate(PRIORITY_RANGES))
    symbols = "".join(_marker(str(i), rgb) for i, (*_, rgb) in enumerate(PRIORITY_RANGES))
    return (_HEAD + '<renderer-v2 type="graduatedSymbol" attr="priority" graduatedMethod="GraduatedColor" '
            'symbollevels="0" enableorderby="1" forceraster="0">'
            f"<ranges>{ranges}</ranges><symbols>{symbols}</symbols>"
            '<orderby><orderByClause asc="1" nullsFirst="1">"priority"</orderByClause></orderby>'
            "</renderer-v2></qgis>\n")


def condition_qml() -> str:
    """Segment condition and bins: one colour per condition class, grey where not rated."""
    items = [*((str(k), label, rgb) for k, (label, rgb) in CONDITION_CLASSES.items()), ("", *NOT_RATED)]
    categories = "".join(f'<category value={quoteattr(v)} symbol="{i}" label={quoteattr(label)} render="true"/>'
                         for i, (v, label, _) in enumerate(items))
    symbols = "".join(_line(str(i), rgb) for i, (*_, rgb) in enumerate(items))
    return (_HEAD + '<renderer-v2 type="categorizedSymbol" attr="condition" symbollevels="0" enableorderby="0" '
            f'forceraster="0"><categories>{categories}</categories><symbols>{symbols}</symbols>'
            "</renderer-v2></qgis>\n")


def _hex(rgb: str) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb.split(","))


def _sld(layer: str, rules: list[str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<StyledLayerDescriptor version="1.1.0" '
            'xmlns="http://www.opengis.net/sld" xmlns:se="http://www.opengis.net/se" '
            'xmlns:ogc="http://www.opengis.net/ogc"><NamedLayer>'
            f"<se:Name>{layer}</se:Name><UserStyle><se:FeatureTypeStyle>{''.join(rules)}</se:FeatureTypeStyle>"
            "</UserStyle></NamedLayer></StyledLayerDescriptor>\n")


def priority_sld(layer: str) -> str:
    rules = [f"<se:Rule><se:Name>{label}</se:Name><ogc:Filter><ogc:And>"
             f"<ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyName>priority</ogc:PropertyName><ogc:Literal>{lo:g}"
             "</ogc:Literal></ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyIsLessThan><ogc:PropertyName>priority"
             f"</ogc:PropertyName><ogc:Literal>{hi:g}</ogc:Literal></ogc:PropertyIsLessThan></ogc:And></ogc:Filter>"
             "<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName><se:Fill>"
             f'<se:SvgParameter name="fill">{_hex(rgb)}</se:SvgParameter></se:Fill></se:Mark><se:Size>11</se:Size>'
             "</se:Graphic></se:PointSymbolizer></se:Rule>" for lo, hi, label, rgb in PRIORITY_RANGES]
    return _sld(layer, rules)


def condition_sld(layer: str) -> str:
    rules = [f"<se:Rule><se:Name>{label}</se:Name><ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>condition"
             f"</ogc:PropertyName><ogc:Literal>{k}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"
             f'<se:LineSymbolizer><se:Stroke><se:SvgParameter name="stroke">{_hex(rgb)}</se:SvgParameter>'
             '<se:SvgParameter name="stroke-width">3</se:SvgParameter></se:Stroke></se:LineSymbolizer></se:Rule>'
             for k, (label, rgb) in CONDITION_CLASSES.items()]
    return _sld(layer, rules)


def layer_styles(geometry_columns: dict[str, str]) -> pd.DataFrame:
    """The `layer_styles` rows for the exported layers present: layer name -> its geometry column."""
    now = datetime.now(timezone.utc)
    rows = []
    for layer, geometry in geometry_columns.items():
        if layer == "defects":
            qml, sld, what = priority_qml(), priority_sld(layer), "defects coloured by priority, most urgent on top"
        else:
            qml, sld, what = condition_qml(), condition_sld(layer), "road condition coloured by class (1 good - 5 critical)"
        rows.append({"f_table_catalog": "", "f_table_schema": "", "f_table_name": layer, "f_geometry_column": geometry,
                     "styleName": f"roadscan {layer}", "styleQML": qml, "styleSLD": sld, "useAsDefault": True,
                     "description": f"roadscan: {what}", "owner": "roadscan", "ui": "",
                     "update_time": pd.Timestamp(now)})
    return pd.DataFrame(rows)
