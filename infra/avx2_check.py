"""`make avx2-check`: caption coco-dev twice, on this CPU and on an emulated AVX2 CPU without
AVX-512 or VNNI (QEMU's user-mode `-cpu Haswell`), and compare the captions and figures.

Lambda's x86 hosts and the machines that score us are not all of one kind: some have AVX-512
VNNI, some AVX2 alone. ONNX Runtime picks its kernels by the CPU's instructions, so a graph whose
results depend on them (an int8 convolution whose 16-bit pair sums saturate without VNNI) would
serve one set of captions on one kind and another on the other, and figures measured here would
not describe Lambda. Serving computes in float32 with int8 decoder weights within +-64
(docs/model-card.md); this check is how that claim is measured, not assumed.

QEMU runs the same virtual environment and bundle, instruction by instruction, about a hundred
times slower (coco-dev: about 8 minutes on 2 cores). Writes bench/results/avx2.json: the CPU
flags each run saw, each run's figures, and every photo whose best caption differs. Needs
qemu-user-static (Debian: apt-get install qemu-user-static) and ../shared/coco-dev.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QEMU = "qemu-x86_64-static"
EMULATED_CPU = "Haswell"  # AVX2 and FMA; no AVX-512, no VNNI
COCO_DEV = REPO.parent / "shared" / "coco-dev"
FIGURES = ("bleu4", "cider_d", "names_subject", "chair_s", "sentence_faults",
           "invented_places", "broken_sentences")
OUT = REPO / "bench" / "results" / "avx2.json"

# What ONNX Runtime's kernels see: CPUID as the process reads it (under QEMU, the emulated
# model's), not /proc/cpuinfo, which is the host's either way.
PROBE = ("import json, numpy; c = numpy._core._multiarray_umath.__cpu_features__; "
         "print(json.dumps({k: c[k] for k in ('AVX2', 'FMA3', 'AVX512F', 'AVX512VNNI')}))")


def run(prefix: list[str], args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, *args], cwd=REPO, capture_output=True,
                          text=True, check=False)


def evaluate(prefix: list[str], data: Path, limit: int | None, predictions: Path) -> dict:
    args = ["-m", "caption.metrics.evaluate", "--data", str(data), "--guidance", "on",
            "--predictions", str(predictions)]
    if limit:
        args += ["--limit", str(limit)]
    done = run(prefix, args)
    if done.returncode != 0:
        raise SystemExit(f"evaluation under {prefix or 'this CPU'} failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout)
    presence = figures.get("detector_presence") or {}
    return {**{k: figures[k] for k in FIGURES if k in figures},
            "presence_precision": presence.get("precision"),
            "presence_recall": presence.get("recall"),
            "encoder": figures.get("encoder")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/avx2_check.py", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--data", type=Path, default=COCO_DEV)
    parser.add_argument("--limit", type=int, default=None, help="the first N photos only")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if shutil.which(QEMU) is None:
        print(f"no {QEMU}: apt-get install qemu-user-static", file=sys.stderr)
        return 2
    if not args.data.exists():
        print(f"no {args.data}", file=sys.stderr)
        return 2
    emulated = [QEMU, "-cpu", EMULATED_CPU]
    runs = {"this CPU": [], f"QEMU {EMULATED_CPU}": emulated}
    report: dict = {"data": str(args.data), "limit": args.limit, "runs": {}}
    captions = {}
    with tempfile.TemporaryDirectory() as work:
        for name, prefix in runs.items():
            flags = json.loads(run(prefix, ["-c", PROBE]).stdout)
            predictions = Path(work) / f"{len(captions)}.json"
            figures = evaluate(prefix, args.data, args.limit, predictions)
            captions[name] = json.loads(predictions.read_text())
            report["runs"][name] = {"cpu_features": flags, "figures": figures}
            print(name, json.dumps(report["runs"][name]), flush=True)
    here, there = captions.values()
    differ = {photo: {"this CPU": text, f"QEMU {EMULATED_CPU}": there.get(photo)}
              for photo, text in here.items() if there.get(photo) != text}
    report.update(photos=len(here), captions_differ=len(differ), differing=differ)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{len(here)} photos, {len(differ)} best captions differ; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
