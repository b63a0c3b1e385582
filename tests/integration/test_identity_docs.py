"""The code samples docs/identity.md includes are programs that run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"


def run_snippet(name: str, tmp_path: Path) -> str:
    env = {**os.environ, "SAAS_CORE_DATABASE_URL": f"sqlite:///{tmp_path / 'docs.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(SNIPPETS / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("identity_quickstart.py", "ada@example.com 20"),
        ("django_identity_bridge.py", "email=ada@example.com name=Ada Lovelace verified=True"),
    ],
)
def test_snippet_runs(name: str, expected: str, tmp_path: Path) -> None:
    assert expected in run_snippet(name, tmp_path)


def test_identity_page_includes_the_snippets() -> None:
    page = (ROOT / "docs" / "identity.md").read_text()
    assert '--8<-- "docs/snippets/identity_quickstart.py:quickstart"' in page
    assert '--8<-- "docs/snippets/django_identity_bridge.py:bridge"' in page
