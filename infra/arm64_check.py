"""`make arm64-check`: build the image for arm64 (Graviton) on an x86 machine and invoke it, under
QEMU's user-mode emulation, as `make image-test` does for x86_64.

1. A stand-in for the Lambda base image for arm64 (infra/standin_base.py with `--arch arm64`:
   Debian arm64, Python 3.11, the arm64 Runtime Interface Emulator from the aws-sam-cli wheel).
2. `Dockerfile.lambda` built with `--platform linux/arm64` on it: the same runtime lock, which
   holds the aarch64 wheels.
3. The container run read-only as a non-root user, an HTTP API event invoked through its own
   entrypoint, the answer and the init log checked: captions, and the float32 encoder serving
   (int8 needs x86 VNNI).

Needs podman (or docker), debootstrap and qemu-user-static (binfmt registered with the F flag,
so containers use it). What emulation cannot tell: speed (INIT and latency under QEMU are many
times Graviton's) and the real base image's Amazon Linux. One emulation artefact is worked
around: ONNX Runtime's CPU probe crashes reading an x86 host's CPU topology from an arm64
process, so the container sees an empty /sys/devices/system/cpu (a real Graviton has its own).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra import standin_base  # noqa: E402
from infra.image_test import LIMITS, ImageTestFailed, expect, find_engine, log  # noqa: E402
from infra.local_lambda import REPO, find_rie, free_port  # noqa: E402

BASE = "localhost/lambda-python-standin-arm64:3.12"
TAG = "localhost/caption-lambda:arm64-check"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def invoke(port: int, event: dict, seconds: float = 600) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
        data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=seconds) as answer:
        return json.loads(answer.read())


def main() -> int:
    try:
        if not BINFMT.exists():
            raise ImageTestFailed("no arm64 emulation: apt-get install qemu-user-static")
        engine = find_engine()
        rie = find_rie("arm64")
        if rie is None:
            raise ImageTestFailed("the arm64 emulator comes with aws-sam-cli in .venv-tools "
                                  "(make test installs it)")
        log("building the arm64 stand-in for the Lambda base image (debootstrap, emulated)")
        standin_base.build(engine, BASE, rie, LIMITS, arch="arm64")
        started = time.perf_counter()
        run_build = subprocess.run([*engine, "build", "--platform", "linux/arm64", "--network",
                                    "host", *LIMITS, "--build-arg", f"BASE_IMAGE={BASE}", "-f",
                                    "Dockerfile.lambda", "-t", TAG, "."], cwd=REPO)
        expect(run_build.returncode == 0, "the arm64 image builds")
        build_s = time.perf_counter() - started
        inspected = subprocess.run([*engine, "image", "inspect", "--format",
                                    "{{.Architecture}} {{.Size}}", TAG], capture_output=True,
                                   text=True).stdout.split()
        expect(inspected[:1] == ["arm64"], "the image is arm64", inspected)
        port = free_port()
        with tempfile.TemporaryDirectory() as empty:
            container = subprocess.run(
                [*engine, "run", "-d", "--platform", "linux/arm64", *LIMITS, "--read-only",
                 "--user", "1000:1000", "-p", f"127.0.0.1:{port}:8080",
                 "-v", f"{empty}:/sys/devices/system/cpu:ro",
                 "-e", "AWS_DEFAULT_REGION=us-east-1", "-e", "AWS_ACCESS_KEY_ID=x",
                 "-e", "AWS_SECRET_ACCESS_KEY=x", "-e", "POWERTOOLS_TRACE_DISABLED=true", TAG],
                capture_output=True, text=True, check=True).stdout.strip()
            try:
                time.sleep(3)
                event = json.loads((REPO / "events" / "api-http-upload.json").read_text())
                answer = invoke(port, event)
                body = json.loads(answer.get("body") or "{}")
                expect(answer.get("statusCode") == 200 and body.get("captions"),
                       "an HTTP API event answered with captions, on arm64", answer)
                shown = subprocess.run([*engine, "logs", container], capture_output=True,
                                       text=True)
                logs = shown.stdout + shown.stderr  # the function's log; the emulator's
            finally:
                subprocess.run([*engine, "rm", "-f", container], capture_output=True)
        ready = [json.loads(line[line.index("{"):]) for line in logs.splitlines()
                 if '"model ready"' in line]
        expect(ready and ready[0].get("encoder") == "onnxruntime float32",
               "the float32 encoder serves on arm64", ready)
        init = [line.split("durationMs:")[1].split(")")[0] for line in logs.splitlines()
                if "INIT REPORT(durationMs:" in line]
        expect(bool(init), "the emulator's INIT report", logs[-1000:])
    except (ImageTestFailed, subprocess.CalledProcessError, OSError) as exc:
        print(f"arm64-check FAILED: {exc}", flush=True)
        return 1
    print(f"arm64-check passed: built in {build_s:.0f} s, image {int(inspected[1]) / 1e6:.0f} MB "
          f"on the arm64 stand-in; first caption {body['captions'][0]['text']!r}; INIT "
          f"{float(init[0]):.0f} ms under QEMU (not Graviton's)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
