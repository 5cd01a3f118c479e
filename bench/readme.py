"""Write the latest `make bench` figures into README.md, between the bench markers.

    python -m bench.readme        (after `make bench`; `make bench` runs it too)
"""

from __future__ import annotations

import json

from bench.common import REPO

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


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
    readme = REPO / "README.md"
    text = readme.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(before + render(results) + after)
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
