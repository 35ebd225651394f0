"""Run by Debian's python3 with PyQGIS (tests/test_exports_qgis.py): open each layer of an exported
GeoPackage as QGIS 3.22 does and print, as JSON, what QGIS made of it: validity, CRS, field types, the
renderer it loaded from the file's layer_styles table and the colour it gives each feature."""

import json
import os
import sys

from qgis.core import QgsApplication, QgsRenderContext, QgsVectorLayer

app = QgsApplication([], False)
app.initQgis()
out = {}
for name in sys.argv[2:]:
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    renderer = layer.renderer()
    context = QgsRenderContext()
    renderer.startRender(context, layer.fields())
    colours, ids_match = {}, True
    for feature in layer.getFeatures():
        if name == "defects":
            ids_match &= feature.id() == feature["defect_id"]
        symbol = renderer.symbolForFeature(feature, context)
        key = feature["defect_id"] if name == "defects" else feature.id()
        colours[str(key)] = {"colour": symbol.color().name() if symbol else None,
                             "value": feature["priority"] if name == "defects" else feature["condition"]}
    renderer.stopRender(context)
    out[name] = {"valid": layer.isValid(), "crs": layer.crs().authid(), "renderer": renderer.type(),
                 "attribute": renderer.classAttribute() if hasattr(renderer, "classAttribute") else None,
                 "order_by": renderer.orderByEnabled(), "order": renderer.orderBy().dump(),
                 "fields": {f.name(): f.typeName() for f in layer.fields()}, "colours": colours,
                 "feature_ids_are_defect_ids": ids_match}
print(json.dumps(out, default=str), flush=True)
os._exit(0)  # QgsApplication's teardown with layers still referenced can crash; nothing is left to save
