"""The API definition as OpenAPI 3.0, which OGC API Features Part 1 (conformance class oas30) and
the GIS clients that read it expect; FastAPI writes 3.1.

The differences FastAPI's output touches are few: optional values (`anyOf [..., {type: null}]`
becomes `nullable`), and the 422 validation responses, which this API answers as 400 with the OGC
exception body instead: every operation with parameters documents that 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from roadscan.api.ogc.errors import ExceptionBody

OPENAPI_VERSION = "3.0.3"


def _downgrade(node: Any) -> Any:
    if isinstance(node, list):
        return [_downgrade(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _downgrade(v) for k, v in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        node.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            node = {**rest[0], **node}
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and "in" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    return node


def openapi_30(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document in version 3.0, built once and cached on the app."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ExceptionBody", ExceptionBody.model_json_schema())
        refused = {"description": "bad request: the body says which parameter and why",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExceptionBody"}}}}
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                if operation.get("parameters") or operation.get("requestBody"):
                    responses.setdefault("400", refused)  # any parameter may be malformed
                if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                    responses.setdefault("404", {**refused, "description": "no such resource"})
        if not any("HTTPValidationError" in str(op) for p in doc.get("paths", {}).values() for op in p.values()):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        doc = _downgrade(doc)
        doc["openapi"] = OPENAPI_VERSION
        app.openapi_schema = doc
    return app.openapi_schema


SWAGGER_UI = "/map/static/vendor/swagger-ui"  # vendored (api/static/vendor/README.md): no CDN


def install_docs(app: FastAPI) -> None:
    """`/docs`: Swagger UI over the API definition, its scripts served by this server, not a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title}: API documentation",
                                   swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
                                   swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no call to swagger.io
