"""Under CI=true an unreachable PostgreSQL fails the suite instead of skipping its half."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests/unit/test_smoke.py"


def run_probe(ci: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["CI"] = ci
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    env["SAAS_CORE_TEST_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unreachable_postgres_fails_under_ci() -> None:
    result = run_probe("true")
    assert result.returncode != 0
    assert "PostgreSQL is required under CI=true" in result.stdout


def test_unreachable_postgres_skips_outside_ci() -> None:
    result = run_probe("false")
    assert result.returncode == 0, result.stdout
    assert "skipped" in result.stdout
