"""Shared helpers: percentiles, test photos, a child-process runner that returns JSON."""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"
THREADS = int(os.environ.get("BENCH_THREADS", "2"))


class Context:
    """The Lambda context the handler's Powertools decorators read."""

    function_name = "caption"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:caption"
    aws_request_id = "bench"


def percentiles(samples_s: list[float]) -> dict:
    ms = sorted(1000 * s for s in samples_s)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(p95, 2), "n": len(ms)}


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def photos() -> list[bytes]:
    """Real photos (skimage), JPEG-encoded as a user would upload them."""
    from PIL import Image
    from skimage import data

    out = []
    for array in (data.chelsea(), data.coffee(), data.astronaut(), data.rocket()):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def caption_latency(captioner, beam: int, repeat: int, guidance: bool = False) -> dict:
    """Warm per-image latency of the model (preprocess, encoder, labels, search) on decoded
    photos, rotating through them, after one untimed call."""
    from caption.images import decode_image

    images = [decode_image(p, 10**8, captioner.preprocess.size).image for p in photos()]
    counter = iter(range(10**9))

    def once():
        captioner.describe([images[next(counter) % len(images)]], beam, min(3, beam),
                           guidance=guidance)

    once()
    return percentiles(timed(once, repeat))


def child_env(**extra: str) -> dict:
    """The environment of every benchmark child process: the checkout's code, fixed threads."""
    return {**os.environ, "PYTHONPATH": f"{REPO / 'functions'}:{REPO}",
            "CAPTION_NUM_THREADS": str(THREADS), **extra}


def peak_rss_mb() -> float:
    """This process's peak RSS since its exec: /proc's VmHWM (getrusage's ru_maxrss is kept
    across exec, so a child would report its parent's peak if that was higher)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # not Linux


def run_child(module: str, *args: str) -> dict:
    """Run `python -m <module>` in a fresh process; its last stdout line is JSON."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=child_env(),
                            capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_wall_ms"] = round(1000 * wall, 1)
    return figures
