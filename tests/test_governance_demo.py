"""The governance walk-through in the docs runs as written, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.servers import free_port


def test_the_governance_demo_runs_draft_to_active_and_back(tmp_path: Path) -> None:
    """Run as the README says, right after the quick start: the venv is not on PATH and
    nothing names the `assay` program; the script finds the project's .venv itself."""
    bin_dir = Path(sys.executable).parent
    path = [p for p in os.environ["PATH"].split(os.pathsep) if Path(p or ".") != bin_dir]
    env = {**os.environ, "PORT": str(free_port()), "PATH": os.pathsep.join(path)}
    env["TMPDIR"] = str(tmp_path)
    for name in ("ASSAY_DATABASE_URL", "ASSAY", "VIRTUAL_ENV"):
        env.pop(name, None)
    if bin_dir.resolve() != (ROOT / ".venv" / "bin").resolve():
        env["ASSAY"] = str(bin_dir / "assay")  # tests run from another environment
    done = subprocess.run(
        ["bash", "scripts/governance-demo.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "unexpected '>'" in out  # the typo, caught at the edit
    assert "valid: True" in out and "changed: ['water-pet-too-heavy']" in out
    assert re.search(r"'newly_flagged': [1-9]\d*, 'no_longer_flagged': 0", out)
    assert re.search(r"'rules_gained': \{'water-pet-too-heavy': [1-9]", out)  # shadow
    assert "this needs a reviewer key; yours is author" in out  # four eyes, by role
    assert '{"state":"active"}' in out
    assert re.search(r"bob activate v2 ticket RISK-42\n.*bob rollback v1 demo over", out)
