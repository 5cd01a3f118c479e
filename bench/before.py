"""`python -m bench.before REVISION`: the cold start, the warm latency and the one-image CLI
process of an earlier revision of this repository, measured now, on this machine, with this
venv, so the performance page can set "before" beside "after" (`make bench` runs it on the last
revision that served with PyTorch, BEFORE_REVISION in the Makefile). Writes
bench/results/before.json.

The revision's own `bench/cold.py` and `bench/warm.py` measure it, from a `git archive` of that
revision in a temporary folder, with its own code and model bundle.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import REPO, THREADS

OUT = REPO / "bench" / "results" / "before.json"


def measure(revision: str, repeat: int = 3) -> dict:
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=REPO,
                             check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="caption-before-") as work:
        root = Path(work)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "PYTHONPATH": f"{root / 'functions'}:{root}",
               "CAPTION_MODEL_DIR": str(root / "layers" / "model"),
               "CAPTION_NUM_THREADS": str(THREADS), "AWS_DEFAULT_REGION": "us-east-1"}
        colds = [json.loads(subprocess.run(
            [sys.executable, "-m", "bench.cold"], cwd=root, env=env, check=True,
            capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1])
            for _ in range(repeat)]
        warm = json.loads(subprocess.run(
            [sys.executable, "-m", "bench.warm", "30"], cwd=root, env=env, check=True,
            capture_output=True, text=True, timeout=900).stdout.strip().splitlines()[-1])
        walls = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "caption", "--json", "events/sample.jpg"],
                           cwd=root, env=env, check=True, capture_output=True, timeout=600)
            walls.append(1000 * (time.perf_counter() - started))
    cold = sorted(colds, key=lambda c: c["init_total_ms"])[len(colds) // 2]  # the median run
    return {"revision": revision, "cold": cold, "warm": warm,
            "cli": {"p50_ms": round(statistics.median(walls), 1), "n": repeat}}


def main() -> None:
    revision = sys.argv[1] if len(sys.argv) > 1 else "7065e99"
    figures = measure(revision)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
