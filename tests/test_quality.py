"""The codebase keeps its own promises: lint, strict types, and docs in step with code."""

from __future__ import annotations

import re
import subprocess
import sys

from assay.engine.errors import ERROR_CODES
from assay.engine.fields import CATALOGUE
from tests.conftest import ROOT


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_error_code_is_documented() -> None:
    documented = re.findall(r"^## (\w+)$", (ROOT / "docs" / "errors.md").read_text(), re.M)
    assert documented == list(ERROR_CODES)


def test_readme_field_table_matches_the_catalogue() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `((?:item|manifest)\.[\w.]+)` \| (\w+) \| (yes|) \|", readme, re.M)
    assert rows == [(f.path, f.type, "yes" if f.derived else "") for f in CATALOGUE]
