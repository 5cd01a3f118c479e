"""The allocator setting that keeps freed inference buffers for the next image: the second
image's buffers come without fresh pages from the kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

# Buffers of growing sizes, as an encoder's activations (1 to 24 MB), allocated, written and
# freed twice; prints the page faults of the second round.
_ROUNDS = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from caption.allocator import keep_freed_memory
    assert keep_freed_memory()
sizes = [mb << 20 for mb in range(1, 25)]
for round_ in range(2):
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for size in sizes:
        buffer = np.ones(size, dtype=np.uint8)
        del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


def _second_round_faults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", _ROUNDS, mode], capture_output=True,
                            text=True, timeout=120, cwd=REPO,
                            env={"PYTHONPATH": str(REPO / "functions"), "PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_buffers_are_reused_without_new_pages():
    kept, default = _second_round_faults("keep"), _second_round_faults("default")
    # glibc's defaults map most of these buffers afresh (and fault every page in) each time.
    assert kept < default / 10, (kept, default)
