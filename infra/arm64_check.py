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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra import standin_base  # noqa: E402
from infra.image_test import (  # noqa: E402
    LIMITS,
    Container,
    ImageTestFailed,
    expect,
    find_engine,
    load_event,
    log,
)
from infra.local_lambda import REPO, find_rie  # noqa: E402

BASE = "localhost/lambda-python-standin-arm64:3.12"
TAG = "localhost/caption-lambda:arm64-check"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


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
        with tempfile.TemporaryDirectory() as empty:
            # The image test's own container (read-only, non-root, the emulator in front), on
            # arm64; no S3 is needed for an API event, so its endpoint leads nowhere.
            container = Container(engine, "http://127.0.0.1:9", TAG, (
                "--platform", "linux/arm64", "-v", f"{empty}:/sys/devices/system/cpu:ro"))
            try:
                answer, _ = container.invoke(load_event("api-http-upload"))
                body = json.loads(answer.get("body") or "{}")
                expect(answer.get("statusCode") == 200 and body.get("captions"),
                       "an HTTP API event answered with captions, on arm64", answer)
                logs = container.logs()
            finally:
                container.stop()
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
