"""The layout rules of DESIGN.md, checked: detector/ and geo/ never import each other, and every
package folder ships in the wheel."""

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "detector": ("roadscan.geo", "roadscan.api", "roadscan.pipeline", "roadscan.cli"),
    "geo": ("roadscan.detector", "roadscan.api", "roadscan.pipeline", "roadscan.cli"),
    "api": ("roadscan.detector", "roadscan.pipeline", "roadscan.cli"),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_package_boundaries(folder):
    offenders = []
    for path in (REPO / folder).rglob("*.py"):
        for name in imported_modules(path):
            if name.startswith(FORBIDDEN[folder]):
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
