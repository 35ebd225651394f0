"""The layout rules of DESIGN.md, checked: the core imports nothing of ours, detector/ and geo/ never
import each other, nothing imports the glue, and every package folder ships in the wheel."""

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What each package may import of roadscan: the shared core, itself, and the layers below it.
# Nothing imports the glue (roadscan.cli, roadscan.pipeline, ...), so no arrow runs back up.
ALLOWED = {
    "core": ("roadscan.core",),
    "detector": ("roadscan.core", "roadscan.detector"),
    "geo": ("roadscan.core", "roadscan.geo"),
    "api": ("roadscan.core", "roadscan.api", "roadscan.geo"),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_package_boundaries(folder):
    offenders = []
    for path in (REPO / folder).rglob("*.py"):
        for name in imported_modules(path):
            if (name == "roadscan" or name.startswith("roadscan.")) and not name.startswith(ALLOWED[folder]):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {v: k for k, v in config["package-dir"].items()}
    found = set()
    for folder, package in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([package, *rel]))
    assert found - listed == set(), f"add these to [tool.setuptools] packages: {sorted(found - listed)}"


def test_api_imports_without_torch():
    """A GIS server runs the API without the detector stack: importing api/ must not pull torch in."""
    import subprocess
    import sys

    code = ("import sys, roadscan.api.store.surveys, roadscan.api.store.database; "
            "bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
