"""Run the handler inside the real Lambda runtime, without Docker.

The AWS Lambda Runtime Interface Emulator (shipped in the aws-sam-cli wheel) plays the Lambda
service; it starts `python -m awslambdaric caption.app.handler`, the same runtime interface
client the container image uses, and accepts invocations over HTTP. S3 is a moto server.
Used by the tests and by `make invoke` (infra/invoke.py).
"""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def find_rie(arch: str = "x86_64") -> Path | None:
    """The Runtime Interface Emulator from the aws-sam-cli wheel, for arch (x86_64, arm64)."""
    explicit = os.environ.get("CAPTION_RIE")
    if explicit and arch == "x86_64":
        return Path(explicit)
    pattern = str(REPO / ".venv-tools/lib/python3*/site-packages/samcli/local/rapid/"
                  f"aws-lambda-rie-{arch}")
    found = sorted(glob.glob(pattern))
    return Path(found[-1]) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoServer:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


class LambdaRuntime:
    """The RIE with our handler behind it; `invoke(event)` returns the function's payload."""

    def __init__(self, rie: Path, s3_endpoint: str, extra_env: dict[str, str] | None = None):
        self.port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO / "functions"),
            "AWS_ENDPOINT_URL_S3": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
            **(extra_env or {}),
        }
        env.pop("AWS_SESSION_TOKEN", None)
        self.process = subprocess.Popen(
            [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             sys.executable, "-m", "awslambdaric", "caption.app.handler"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.url = (f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations")
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited: {self.output()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("the emulator did not start listening")

    def invoke(self, event: dict, timeout: float = 120) -> dict:
        request = urllib.request.Request(self.url, data=json.dumps(event).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def output(self) -> str:
        if self.process.poll() is None:
            return ""
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> str:
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode(errors="replace")
