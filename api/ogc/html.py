"""The HTML face of the API: plain pages with the same links as the JSON, and tables of features.

Deliberately minimal (no scripts, no map, nothing fetched from elsewhere): it lets a person browse
the collections and check a feature, and it works offline on a municipal network.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;"
         "font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
         "th{background:#f3f3f3}nav a{margin-right:1em}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return escape(str(value))


def table(rows: list[dict[str, Any]], columns: list[str], links: dict[str, str] | None = None) -> str:
    """An HTML table; `links` maps a row's first-column value to the URL it links to."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(columns):
            text = _cell(row.get(c))
            if i == 0 and links and str(row.get(c)) in links:
                text = f'<a href="{escape(links[str(row.get(c))])}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, links: list[dict[str, Any]], body: str = "", description: str = "") -> str:
    nav = "".join(f'<a href="{escape(link["href"])}">{escape(link.get("title") or link["rel"])}</a>'
                  for link in links if link.get("type", "text/html") == "text/html" or link["rel"] in (
                      "next", "prev", "service-desc"))
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title if title == 'roadscan' else title + ' - roadscan')}</title><style>{STYLE}</style></head><body>"
            f"<nav>{nav}</nav><h1>{escape(title)}</h1>"
            + (f"<p>{escape(description)}</p>" if description else "") + body + "</body></html>")
