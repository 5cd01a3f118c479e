"""Write the latest `make bench` figures into the performance page (docs/performance.md,
between the bench markers) and draw its plots (bench/plots.py).

    python -m bench.report        (after `make bench`; `make bench` runs it too)
"""

from __future__ import annotations

import json

from bench.common import REPO
from bench.plots import draw

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PAGE = REPO / "docs" / "performance.md"


def render(results: dict) -> str:
    machine = results["machine"]
    isa = ", ".join(machine.get("cpu_features", [])) or "unknown"
    return (f"{START}\nMeasured {results['when']} by `make bench` on {machine['cpu']} "
            f"(vector instructions: {isa}), Python {machine['python']}, ONNX Runtime "
            f"{machine['onnxruntime']}, {machine['threads']} encoder threads (figures in "
            f"`bench/results/latest.json`):\n\n"
            f"{results['table']}\n{END}")


def main() -> None:
    results = json.loads((REPO / "bench" / "results" / "latest.json").read_text())
    text = PAGE.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    PAGE.write_text(before + render(results) + after)
    for path in draw(results, PAGE.parent / "performance"):
        print(f"drew {path}")
    print(f"updated {PAGE}")


if __name__ == "__main__":
    main()
