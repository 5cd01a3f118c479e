"""Write the image's (and the venv's) lock files from the top-level pins: `make lock`.

layers/deps/requirements.txt -> requirements.lock (serving: the image and `make run`) and
layers/deps/torch.txt -> torch.lock (training and the tests), every package pinned with the
hashes of all its files, resolved for Python 3.11 and up (the tests' Python and the image's
3.12) on every platform (`--universal`: the x86_64 and the arm64 image install the same
lock). PyTorch's CPU index is unreachable from the machines this project is built on, so
torch's CPU wheel comes from the local wheel cache (/opt/wheels, or --find-links), which only
holds the cp311 build; the cp312 wheel's digest is added from the index's own listing (below).
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPS = Path("layers/deps")  # relative to REPO, as the lock files' headers show it
# SHA-256 of torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl as listed at
# https://download.pytorch.org/whl/cpu/torch/ (that listing's cp311 digest equals the cp311
# wheel's own, checked with sha256sum). Update with torch.
EXTRA_TORCH_HASHES = {
    "2.13.0+cpu": ["4ca4a9394b0c771238a4f73590fdbbc4debad85ed0fa63d026ae1b085da7d6e2"],
}


# onnxruntime names them as dependencies of its offline tools (symbolic shape inference, model
# conversion), which serving never imports: its runtime parses graphs with its own copy of
# protobuf. Left out of the runtime lock, they stay out of the image (85 MB); training gets them
# through the train extra (onnx needs protobuf).
NOT_SERVED = ("sympy", "mpmath", "protobuf", "flatbuffers")


def compile_lock(uv: str, index: str, source: Path, output: Path, *extra: str) -> None:
    subprocess.run([uv, "pip", "compile", "--quiet", "--universal", "--python-version", "3.11",
                    "--generate-hashes", "--index-url", index, *extra, str(source),
                    "-o", str(output)], check=True, cwd=REPO)


def add_torch_hashes(lock: Path) -> None:
    lock = REPO / lock
    text = lock.read_text()
    match = re.search(r"^torch==(\S+) \\\n((?:    --hash=sha256:\w+(?: \\)?\n)+)", text, re.M)
    if match is None:
        raise SystemExit(f"{lock}: no torch entry")
    known = set(re.findall(r"sha256:(\w+)", match.group(2)))
    extra = [h for h in EXTRA_TORCH_HASHES.get(match.group(1), []) if h not in known]
    if not extra:
        return
    hashes = sorted(known | set(extra))
    entry = f"torch=={match.group(1)} \\\n" + " \\\n".join(
        f"    --hash=sha256:{h}" for h in hashes) + "\n"
    lock.write_text(text[:match.start()] + entry + text[match.end():])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uv", default="uv")
    parser.add_argument("--index", default="https://pypi.org/simple")
    parser.add_argument("--find-links", default="/opt/wheels",
                        help="where torch's CPU wheel is (PyTorch's CPU index, if reachable)")
    args = parser.parse_args()
    compile_lock(args.uv, args.index, DEPS / "requirements.txt", DEPS / "requirements.lock",
                 *(f"--no-emit-package={name}" for name in NOT_SERVED))
    compile_lock(args.uv, args.index, DEPS / "torch.txt", DEPS / "torch.lock",
                 "--find-links", args.find_links)
    add_torch_hashes(DEPS / "torch.lock")


if __name__ == "__main__":
    main()
