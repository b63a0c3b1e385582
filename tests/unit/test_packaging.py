"""The wheel ships the migrations, the three adapter packages and the type marker."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("saas_core-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_contains_the_migrations(wheel_names: set[str]) -> None:
    assert "saas_core/migrations/env.py" in wheel_names
    assert "saas_core/migrations/script.py.mako" in wheel_names
    revisions = [n for n in wheel_names if n.startswith("saas_core/migrations/versions/")]
    assert any(n.endswith("_initial_schema.py") for n in revisions), revisions


def test_wheel_contains_the_three_adapters(wheel_names: set[str]) -> None:
    for package in ("saas_core_fastapi", "saas_core_flask", "saas_core_django"):
        assert f"{package}/__init__.py" in wheel_names, package


def test_wheel_ships_the_type_marker_and_no_tests(wheel_names: set[str]) -> None:
    assert "saas_core/py.typed" in wheel_names
    assert not any(n.startswith(("tests/", "examples/", "benchmarks/")) for n in wheel_names)


def test_console_script_is_declared(wheel_names: set[str]) -> None:
    (entry_points,) = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    assert entry_points
