"""Real GIS clients, run against a live server as a user runs them, reporting what they counted and the
URLs they asked for (so a test can see whether a filter went to the server or was applied after a full
download):

- GDAL 3.12 through pyogrio (this Python), in a child process with GDAL's debug log, which names every
  URL fetched (a fresh process: GDAL opens its log file once per process);
- GDAL 3.6, Debian's `ogrinfo` (gdal-bin), with `--debug on`;
- QGIS 3.22, Debian's PyQGIS (python3-qgis), headless (QT_QPA_PLATFORM=offscreen), started once for
  all the jobs of a test module; its network manager reports each request it finished.

Run as a script (`python _gis_clients.py pyogrio|qgis`), it reads jobs as JSON on stdin and writes the
results as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
SYSTEM_PYTHON = Path("/usr/bin/python3")  # Debian's, the one python3-qgis is built for
_FETCH = re.compile(r"HTTP: Fetch\((.*)\)")


def _child(python: str, mode: str, jobs: list[dict], env: dict[str, str] | None = None, timeout: float = 300) -> list[dict]:
    done = subprocess.run([python, str(HERE), mode], input=json.dumps(jobs), capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{mode} client failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- GDAL 3.12 (pyogrio) --------------------------------------------------------------------------------


def pyogrio_read(jobs: list[dict]) -> list[dict]:
    """Each job: {source, layer, where?, bbox?, options?} -> {count, fids, columns, urls}."""
    return _child(sys.executable, "pyogrio", jobs)


def _run_pyogrio(jobs: list[dict]) -> list[dict]:
    log = Path(tempfile.mkdtemp()) / "gdal.log"
    import pyogrio

    pyogrio.set_gdal_config_options({"CPL_DEBUG": "ON", "CPL_LOG": str(log)})
    out = []
    for job in jobs:
        before = log.stat().st_size if log.exists() else 0
        frame = pyogrio.read_dataframe(job["source"], layer=job["layer"], where=job.get("where"),
                                       bbox=tuple(job["bbox"]) if job.get("bbox") else None,
                                       fid_as_index=True, **job.get("options", {}))
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(before)
            urls = _FETCH.findall(f.read())
        out.append({"count": len(frame), "fids": [int(i) for i in frame.index], "columns": list(frame.columns),
                    "urls": urls})
    return out


# -- GDAL 3.6 (ogrinfo) ---------------------------------------------------------------------------------


def ogrinfo() -> str | None:
    return shutil.which("ogrinfo")


def ogrinfo_count(source: str, layer: str, where: str | None = None, bbox: tuple | None = None) -> dict:
    """`ogrinfo -so` with a where clause and/or spatial filter: {count, version, urls}."""
    args = [ogrinfo(), "--debug", "on", "-ro", "-so"]
    if where:
        args += ["-where", where]
    if bbox:
        args += ["-spat", *(repr(float(v)) for v in bbox)]
    args += [source, layer]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    text = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"ogrinfo failed ({done.returncode}): {text[-3000:]}")
    count = re.search(r"Feature Count: (\d+)", text)
    version = subprocess.run([ogrinfo(), "--version"], capture_output=True, text=True).stdout.strip()
    return {"count": int(count.group(1)) if count else None, "version": version, "urls": _FETCH.findall(text),
            "output": text}


# -- QGIS 3.22 (PyQGIS) ---------------------------------------------------------------------------------


def qgis_missing() -> str | None:
    """Why QGIS cannot run here, or None."""
    if not SYSTEM_PYTHON.is_file():
        return f"no {SYSTEM_PYTHON}: install Debian's python3-qgis (apt-get install -y python3-qgis)"
    done = subprocess.run([str(SYSTEM_PYTHON), "-c", "import qgis.core"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    if done.returncode != 0:
        return "PyQGIS is not installed for /usr/bin/python3: apt-get install -y python3-qgis"
    return None


def qgis_run(jobs: list[dict]) -> list[dict]:
    """Each job: {kind: "vector", uri, provider, subset?, rect?} -> {valid, count, fields, ids, urls, version}
    or {kind: "vectortile", uri} -> {valid, fields..., renderer}."""
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="qgis-run-")}
    env.pop("PYTHONPATH", None)
    return _child(str(SYSTEM_PYTHON), "qgis", jobs, env=env)


def _run_qgis(jobs: list[dict]) -> list[dict]:
    from qgis.core import (Qgis, QgsApplication, QgsFeatureRequest, QgsNetworkAccessManager, QgsRectangle,
                           QgsVectorLayer, QgsVectorTileLayer)

    app = QgsApplication([], False)
    app.initQgis()
    seen: list[str] = []
    QgsNetworkAccessManager.instance().finished.connect(lambda reply: seen.append(reply.request().url().toString()))
    out = []
    for job in jobs:
        app.processEvents()
        start = len(seen)
        if job["kind"] == "vectortile":
            layer = QgsVectorTileLayer(job["uri"], "tiles")
            result = {"valid": layer.isValid(), "source_type": layer.sourceType(), "max_zoom": layer.sourceMaxZoom()}
            if layer.isValid() and job.get("style_url"):
                message, ok = layer.loadDefaultStyle()
                result.update({"style_loaded": ok, "style_message": message,
                               "renderer": type(layer.renderer()).__name__ if layer.renderer() else None,
                               "styles": len(layer.renderer().styles()) if layer.renderer() else 0,
                               "labeling": layer.labeling() is not None})
        else:
            layer = QgsVectorLayer(job["uri"], "layer", job.get("provider", "OAPIF"))
            result = {"valid": layer.isValid(), "fields": [f.name() for f in layer.fields()],
                      "types": {f.name(): f.typeName() for f in layer.fields()}}
            if layer.isValid():
                if job.get("subset"):
                    result["subset_accepted"] = layer.setSubsetString(job["subset"])
                request = QgsFeatureRequest()
                if job.get("rect"):
                    request.setFilterRect(QgsRectangle(*job["rect"]))
                features = list(layer.getFeatures(request))
                result["count"] = len(features)
                id_field = job.get("id_field")
                if id_field and id_field in result["fields"]:
                    result["ids"] = sorted(int(f[id_field]) for f in features)
        app.processEvents()
        result["urls"] = seen[start:]
        result["version"] = Qgis.QGIS_VERSION
        out.append(result)
    return out


if __name__ == "__main__":
    jobs = json.loads(sys.stdin.read())
    runner = {"pyogrio": _run_pyogrio, "qgis": _run_qgis}[sys.argv[1]]
    results = runner(jobs)
    sys.stdout.write("\n" + json.dumps(results) + "\n")
    sys.stdout.flush()
    os._exit(0)  # QGIS's exit handlers can crash a headless process after the work is done
