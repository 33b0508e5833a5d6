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
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "ASSAY": str(bin_dir / "assay"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    env.pop("ASSAY_DATABASE_URL", None)
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
