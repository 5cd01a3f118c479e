"""`python -m bench.before REVISION`: the cold start, the warm latency and the one-image CLI
process of an earlier revision of this repository, measured now, on this machine, with this
venv, so the performance page can set "before" beside "after" (`make bench` runs it on the last
revision that served with PyTorch, BEFORE_REVISION in the Makefile). Writes
bench/results/before.json.

The revision's own `bench/cold.py` and `bench/warm.py` measure it, from a `git archive` of that
revision in a temporary folder, with its own code and model bundle; and its own
`infra/image_test.py` builds and invokes its image (size, INIT; `--no-image` skips it).
`--out PATH` writes elsewhere: `make bench` also measures the revision before the COCO detector
(bench/results/before-objects.json), for the warm latency, INIT and image size side by side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import REPO, THREADS

OUT = REPO / "bench" / "results" / "before.json"


def alternating(root: Path, env: dict, rounds: int, samples: int) -> dict:
    """The warm API handler of the revision (its own bench/warm.py, in `root`) and of this
    checkout, in alternating rounds: a machine's drift over minutes lands on both alike, which
    one run of each, minutes apart, does not promise. Each round is a fresh process of each."""
    from bench.common import child_env

    p50 = {"before": [], "now": []}
    for _ in range(rounds):
        for name, cwd, child in (("before", root, env), ("now", REPO, child_env())):
            result = subprocess.run([sys.executable, "-m", "bench.warm", str(samples)],
                                    cwd=cwd, env=child, check=True, capture_output=True,
                                    text=True, timeout=900)
            p50[name].append(json.loads(result.stdout.strip().splitlines()[-1])
                             ["handler_api"]["p50_ms"])
    before, now = statistics.median(p50["before"]), statistics.median(p50["now"])
    return {"rounds": rounds, "samples_per_round": samples, "handler_api_p50_ms": p50,
            "before_p50_ms": before, "now_p50_ms": now, "ratio": round(now / before, 2)}


def measure(revision: str, repeat: int = 3, image_test: bool = True,
            alternate: int = 0) -> dict:
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
        side_by_side = alternating(root, env, alternate, 20) if alternate else None
        image = _image(root) if image_test else None
    cold = sorted(colds, key=lambda c: c["init_total_ms"])[len(colds) // 2]  # the median run
    figures = {"revision": revision, "cold": cold, "warm": warm,
               "cli": {"p50_ms": round(statistics.median(walls), 1), "n": repeat}}
    if image:
        figures["image"] = image
    if side_by_side:
        figures["alternating"] = side_by_side
    return figures


def _image(root: Path) -> dict | None:
    """The revision's own `make image-test` (its Dockerfile, built and invoked as it did it),
    without the sam checks; its last line gives the image's size and INIT."""
    (root / ".venv-tools").symlink_to(REPO / ".venv-tools")  # its sam and the emulator
    env = {**os.environ, "PYTHONPATH": f"{root / 'functions'}:{root}",
           "CAPTION_IMAGE_TEST_SAM": "0"}
    standin = REPO.parent / "shared" / "tools" / "lambda-base-standin.sh"
    if standin.exists():  # where the revision would look for it: beside its own checkout
        env.setdefault("LAMBDA_BASE_STANDIN", str(standin))
    result = subprocess.run([sys.executable, "infra/image_test.py"], cwd=root, text=True,
                            capture_output=True, timeout=1800, env=env)
    found = re.search(r"image (\d+) MB, INIT (\d+) ms", result.stdout)
    if result.returncode != 0 or found is None:
        print(f"the revision's image test did not pass:\n{result.stdout[-2000:]}",
              file=sys.stderr)
        return None
    return {"image_mb": int(found[1]), "init_ms": int(found[2])}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.before", description=__doc__)
    parser.add_argument("revision", nargs="?", default="7065e99")
    parser.add_argument("--no-image", action="store_true", help="skip the image test")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--alternate", type=int, default=0, metavar="ROUNDS",
                        help="also time the warm API handler of the revision and of this "
                             "checkout in ROUNDS alternating rounds")
    args = parser.parse_args()
    figures = measure(args.revision, image_test=not args.no_image, alternate=args.alternate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
