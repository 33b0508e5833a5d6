"""Child processes Assay starts and stops: the decision writer, batch helpers.

One place for the two things every such child needs: dying with its parent (a killed
``assay serve`` or ``assay screen`` must not leave a writer or a helper running), and being
stopped politely first, by force if it does not stop in time.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int, parent: int) -> bool:
    """Linux: have the kernel send ``signum`` to this process when the thread that started it
    ends (its parent dies, even by SIGKILL). False if ``parent`` is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    return os.getppid() == parent


def stop(process: subprocess.Popen[bytes], wait: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not exited within ``wait`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
