"""Adapter packaging: install hints for missing frameworks, Django wiring."""

from __future__ import annotations

import subprocess
import sys

import pytest

MISSING = """
import sys
sys.modules[{framework!r}] = None  # makes `import {framework}` raise ImportError
try:
    import {adapter}
except Exception as exc:
    print(type(exc).__module__, type(exc).__name__, str(exc), sep="|")
else:
    print("imported")
"""


@pytest.mark.parametrize(
    ("adapter", "framework", "extra"),
    [
        ("saas_core_fastapi", "fastapi", "fastapi"),
        ("saas_core_flask", "flask", "flask"),
        ("saas_core_django", "django", "django"),
    ],
)
def test_missing_framework_raises_an_install_hint(adapter: str, framework: str, extra: str) -> None:
    script = MISSING.format(framework=framework, adapter=adapter)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    module, name, message = out.split("|")
    assert (module, name) == ("saas_core.errors", "MissingDependency")
    assert f'pip install "saas-core[{extra}]"' in message
