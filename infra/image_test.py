"""`make image-test`: build the deployable image (Dockerfile.lambda) and run it as Lambda does.

1. Build it with docker, or podman where there is no Docker engine. Where the real base image
   cannot be pulled (no registry reachable), build on a local stand-in for it: the workplace's
   ../shared/tools/lambda-base-standin.sh (LAMBDA_BASE_STANDIN overrides the path; read its
   header for how it differs: Debian, Python 3.11) where it is there, else our own
   (infra/standin_base.py, the same contract).
2. Run it through its own entrypoint (the Runtime Interface Emulator on port 8080) with host
   networking, read-only, as a non-root user, against a moto S3 server on 127.0.0.1, and invoke
   it with the events/ files: an HTTP API request, an S3 notification, an SQS-delivered one and
   S3's EventBridge events (created: captioned alike; deleted: an UnsupportedEvent error).
3. Check the answers, the objects' metadata, and that the image carries no PyTorch and no
   training checkpoint; print the image's size and the INIT duration on the last line
   (`--figures FILE` also writes them as JSON). Exit 1 with the reason when anything fails,
   no engine included.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra import standin_base  # noqa: E402
from infra.local_lambda import REPO, MotoServer, find_rie, free_port  # noqa: E402

TAG = "localhost/caption-lambda:image-test"
BASE_TAG = "public.ecr.aws/lambda/python:3.12"
RIE_PORT = 8080  # the base image's entrypoint starts the emulator there
WHEELHOUSE_PORT = 8765
SAMPLE = REPO / "events" / "sample.jpg"
BUCKET, KEY = "caption-demo-bucket", "holiday photos/chelsea the cat.jpg"  # the events' object
# podman on this kind of machine: crun fails in the VM, and ulimits above its hard limit fail.
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


class ImageTestFailed(Exception):
    pass


def log(message: str) -> None:
    print(f"[image-test] {message}", file=sys.stderr, flush=True)


def run(command: list[str], timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, timeout=timeout, check=False, text=True, **kwargs)


def find_engine() -> list[str]:
    if shutil.which("docker") and run(["docker", "info"], capture_output=True,
                                      timeout=30).returncode == 0:
        return ["docker"]
    if shutil.which("podman"):
        probe = run([*PODMAN, "info"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return PODMAN
        raise ImageTestFailed(f"podman cannot run here: {probe.stderr.strip()[-500:]}")
    raise ImageTestFailed("no container engine: neither a Docker engine (`docker info` failed "
                          "or docker is missing) nor podman (Debian: apt-get install podman "
                          "runc; .ci/run installs them)")


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_until_listening(port: int, seconds: float, alive, what: str) -> None:
    """Until something listens on the loopback port; ImageTestFailed if `alive()` turns False
    or the time runs out."""
    deadline = time.time() + seconds
    while port_is_free(port):
        if time.time() > deadline or not alive():
            raise ImageTestFailed(f"{what} never listened on port {port}")
        time.sleep(0.2)


def standin_script() -> Path | None:
    """The workplace's stand-in builder, if this checkout sits beside it (or it is named)."""
    path = Path(os.environ.get("LAMBDA_BASE_STANDIN")
                or REPO.parent / "shared" / "tools" / "lambda-base-standin.sh")
    return path if path.exists() else None


def can_pull_base(engine: list[str]) -> bool:
    if run([*engine, "image", "inspect", BASE_TAG], capture_output=True).returncode == 0:
        return True
    log(f"pulling {BASE_TAG}")
    return run([*engine, "pull", BASE_TAG], capture_output=True, timeout=300).returncode == 0


# The Dockerfile's own layers, recognised by what their step does (docker and podman print
# COPY steps differently, as the source or as "dir:<hash> in <destination>").
OUR_LAYERS = (("code, compiled", ("compileall",)),
              ("code", ("functions/caption", "LAMBDA_TASK_ROOT}/caption", "/var/task/caption")),
              ("model", ("COPY layers/model", "in /opt/caption-model")),
              ("dependencies", ("pip install --no-cache-dir --require-hashes",
                                "requirements.lock")))
_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def _bytes(human: str) -> float:
    """A size as the engines print it ("39.8 MB", "403kB", "0 B") in bytes."""
    found = re.match(r"\s*([\d.]+)\s*([kKMG]?B)", human)
    return float(found[1]) * _UNITS[found[2]] if found else 0.0


def contents(engine: list[str], total_bytes: int) -> dict:
    """What the image holds: the size of each of the Dockerfile's layers, the base's (the
    rest), and the largest files (MB), so that a cut can be chosen by what it saves."""
    history = run([*engine, "image", "history", "--no-trunc", "--format",
                   "{{.Size}}\t{{.CreatedBy}}", TAG], capture_output=True).stdout.splitlines()
    layers: dict[str, float] = {}
    for line in history:
        size, _, step = line.partition("\t")
        name = next((name for name, marks in OUR_LAYERS if any(m in step for m in marks)), None)
        if name is not None and "ENV " not in step:
            layers[name] = layers.get(name, 0.0) + _bytes(size)
    found = run([*engine, "run", "--rm", *LIMITS, "--entrypoint", "find", TAG, "/", "-xdev",
                 "-type", "f", "-size", "+2M", "-printf", "%s %p\n"],
                capture_output=True).stdout.splitlines()
    largest = sorted((line.split(" ", 1) for line in found if " " in line),
                     key=lambda item: -int(item[0]))[:10]
    return {"layers_mb": {name: round(size / 1e6, 1) for name, size in layers.items()},
            "base_mb": round((total_bytes - sum(layers.values())) / 1e6, 1),
            "largest_files_mb": {path: round(int(size) / 1e6, 1) for size, path in largest}}


@contextlib.contextmanager
def wheelhouse(standin: bool):
    """The workplace stand-in's wheelhouse (its pip.conf's find-links) served while images
    build, so its pip finds what it looks for there; our own stand-in has none. Nothing the
    image installs comes from it any more (no PyTorch): the lock's hashes decide."""
    script = standin_script()
    if not standin or script is None:
        yield
        return
    if not port_is_free(WHEELHOUSE_PORT):
        raise ImageTestFailed(f"port {WHEELHOUSE_PORT} (the stand-in's wheelhouse) is busy")
    server = subprocess.Popen(["bash", str(script), "serve"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def prepare_base(engine: list[str]) -> bool:
    """Make sure there is a base image to build on; True when it is the local stand-in."""
    script = standin_script()
    if can_pull_base(engine):
        if not _is_standin(engine):
            return False
        if script is None:  # a stand-in built before, by us or the workplace's script
            return True
    if script is not None:
        log(f"building the local stand-in for {BASE_TAG} ({script})")
        made = run(["bash", str(script), "build"], cwd=REPO,
                   env={**os.environ, "TOOLS_VENV": str(REPO / ".venv-tools")})
        if made.returncode != 0:
            raise ImageTestFailed("the stand-in base image could not be built")
        return True
    rie = find_rie()
    if rie is None:
        raise ImageTestFailed("the stand-in needs the Runtime Interface Emulator from "
                              "aws-sam-cli in .venv-tools (make image-test installs it)")
    log(f"building our own stand-in for {BASE_TAG} (infra/standin_base.py)")
    try:
        standin_base.build(engine, BASE_TAG, rie, LIMITS)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise ImageTestFailed(f"the stand-in base image could not be built: {exc}") from None
    return True


# On the stand-in: its tag instead of the pinned digest.
STANDIN_ARGS = {"BASE_IMAGE": BASE_TAG}


def build(engine: list[str], standin: bool) -> float:
    """Build the image as `docker build` would; returns the seconds it took."""
    args = [f"--build-arg={k}={v}" for k, v in STANDIN_ARGS.items()] if standin else []
    started = time.perf_counter()
    built = run([*engine, "build", "--network", "host", *LIMITS, *args, "-f",
                 "Dockerfile.lambda", "-t", TAG, "."], cwd=REPO)
    if built.returncode != 0:
        raise ImageTestFailed("the image did not build (see above)")
    return time.perf_counter() - started


def _is_standin(engine: list[str]) -> bool:
    described = run([*engine, "image", "inspect", "--format",
                     "{{index .Config.Labels \"org.opencontainers.image.description\"}}",
                     BASE_TAG], capture_output=True)
    return "STAND-IN" in described.stdout


class Container:
    """The image, started as Lambda would start it, with the emulator in front."""

    def __init__(self, engine: list[str], s3_endpoint: str, tag: str = TAG,
                 options: tuple[str, ...] = ()):
        """options: more `run` options (another platform's, say: infra/arm64_check.py)."""
        if not port_is_free(RIE_PORT):
            raise ImageTestFailed(f"port {RIE_PORT} is busy; the image's emulator needs it")
        self.engine = engine
        started = run([
            *engine, "run", "-d", "--rm", "--network", "host", *LIMITS,
            "--read-only", "--tmpfs", "/tmp", "--user", "1051:1051",
            "-e", f"AWS_ENDPOINT_URL_S3={s3_endpoint}",
            "-e", "AWS_ACCESS_KEY_ID=testing", "-e", "AWS_SECRET_ACCESS_KEY=testing",
            "-e", "AWS_DEFAULT_REGION=us-east-1", "-e", "AWS_REGION=us-east-1",
            "-e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=3008",
            "-e", f"CAPTION_ALLOWED_BUCKETS={BUCKET}",
            *options, tag], capture_output=True)
        if started.returncode != 0:
            raise ImageTestFailed(f"the container did not start: {started.stderr[-1000:]}")
        self.id = started.stdout.strip()
        self.url = f"http://127.0.0.1:{RIE_PORT}/2015-03-31/functions/function/invocations"
        try:
            wait_until_listening(RIE_PORT, 60, lambda: True, "the image's emulator")
        except ImageTestFailed as exc:
            raise ImageTestFailed(f"{exc}:\n{self.logs()}") from None

    def invoke(self, event: dict) -> tuple[dict, float]:
        request = urllib.request.Request(self.url, data=json.dumps(event).encode(),
                                         headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                answer = json.loads(response.read())
        except OSError as exc:  # urllib's HTTPError and URLError included
            raise ImageTestFailed(f"the invocation failed: {exc}") from None
        return answer, 1000 * (time.perf_counter() - started)

    def logs(self) -> str:
        # the emulator writes to stderr, the function's own logs to stdout
        return run([*self.engine, "logs", self.id], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT).stdout

    def stop(self) -> None:
        run([*self.engine, "stop", "-t", "5", self.id], capture_output=True)


def load_event(name: str) -> dict:
    return json.loads((REPO / "events" / f"{name}.json").read_text())


def expect(condition: bool, what: str, detail: object = "") -> None:
    if not condition:
        raise ImageTestFailed(f"{what}: {str(detail)[:2000]}")
    log(f"ok: {what}")


def init_report(logs: str) -> dict:
    """The emulator's INIT duration (imports, bundle load, warm-up: Lambda's init phase) and
    the model-ready line the handler writes at init (bundle load and warm-up times)."""
    report: dict = {}
    for line in logs.splitlines():
        if "INIT REPORT(durationMs:" in line and "init_ms" not in report:
            report["init_ms"] = float(line.split("durationMs:")[1].split(")")[0])
        if '"model ready"' in line:
            report.update(json.loads(line[line.index("{"):]))
    return report


def photo(name: str) -> bytes:
    """One of scikit-image's photos as JPEG bytes."""
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def photo_event(image: bytes) -> dict:
    """The HTTP API event, carrying `image` as its raw body."""
    event = load_event("api-http-upload")
    event["body"] = base64.b64encode(image).decode()
    event["headers"]["content-length"] = str(len(image))
    return event


def check_formats(container: Container) -> None:
    """Every format the API accepts decodes in the image, whose Pillow lacks the libraries
    of the formats and features serving never uses (Dockerfile.lambda)."""
    import io

    from PIL import Image

    from caption.images import SUPPORTED_FORMATS

    cat = Image.open(io.BytesIO(photo("chelsea")))
    for name in SUPPORTED_FORMATS:
        buffer = io.BytesIO()
        cat.save(buffer, name)
        answer, _ = container.invoke(photo_event(buffer.getvalue()))
        expect(answer.get("statusCode") == 200, f"a {name} photo captioned", answer)


def check_objects(container: Container) -> None:
    """The astronaut is a person whose box holds her (her face and chest inside it), and the
    Hubble deep field holds no person, in the image's own answers."""
    answer, _ = container.invoke(photo_event(photo("astronaut")))
    body = json.loads(answer.get("body", "{}"))
    people = [o["box"] for o in body.get("objects", []) if o["name"] == "person"]
    expect(bool(people) and people[0]["left"] <= 130 and people[0]["top"] <= 60
           and people[0]["left"] + people[0]["width"] >= 300
           and people[0]["top"] + people[0]["height"] >= 400,
           "the astronaut: a person whose box holds her", body.get("objects"))
    answer, _ = container.invoke(photo_event(photo("hubble_deep_field")))
    body = json.loads(answer.get("body", "{}"))
    expect(answer.get("statusCode") == 200
           and "person" not in {o["name"] for o in body.get("objects", [])},
           "the Hubble deep field: no person", body.get("objects"))


def exercise(engine: list[str]) -> dict:
    """Invoke the running image with each kind of event; returns timings for the summary."""
    with MotoServer() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket=BUCKET)
        # The events' object, uploaded as the astronaut: its metadata must name a person.
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=photo("astronaut"),
                      ContentType="image/jpeg", Metadata={"owner": "alice"})
        container = Container(engine, moto.url)
        try:
            answer, first_ms = container.invoke(load_event("api-http-upload"))
            body = json.loads(answer.get("body", "{}"))
            expect(answer.get("statusCode") == 200 and body.get("captions"),
                   "HTTP API event answered with captions", answer)
            answer, warm_ms = container.invoke(load_event("api-http-upload"))
            expect(answer.get("statusCode") == 200, "a second, warm request", answer)
            check_objects(container)
            check_formats(container)

            event = load_event("s3-put")  # re-aimed at the astronaut's upload
            head = s3.head_object(Bucket=BUCKET, Key=KEY)
            event["Records"][0]["s3"]["object"].update(eTag=head["ETag"].strip('"'),
                                                       size=head["ContentLength"])
            answer, _ = container.invoke(event)
            result = (answer.get("results") or [{}])[0]
            expect(result.get("status") == "captioned", "S3 event captioned the object", answer)
            metadata = s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]
            expect(metadata.get("caption") == result.get("caption")
                   and metadata.get("owner") == "alice",
                   "the object's metadata holds the caption and keeps the user's", metadata)
            expect(metadata.get("caption-objects", "").startswith("person ")
                   and sum(len(k.encode()) + len(v.encode())
                           for k, v in metadata.items()) <= 2048,
                   "the astronaut's metadata names a person, within S3's 2 KB", metadata)

            s3.put_object(Bucket=BUCKET, Key=KEY, Body=SAMPLE.read_bytes(),
                          ContentType="image/jpeg")  # a fresh upload, as the queue names it
            answer, _ = container.invoke(load_event("sqs-upload"))
            expect(answer == {"batchItemFailures": []}, "SQS-delivered S3 event", answer)
            queued = s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]
            expect("caption" in queued, "the queued upload was captioned")

            # The same upload announced through EventBridge: the same metadata; a delete is
            # an UnsupportedEvent error (caption.object_events).
            s3.put_object(Bucket=BUCKET, Key=KEY, Body=SAMPLE.read_bytes(),
                          ContentType="image/jpeg")
            answer, _ = container.invoke(load_event("eventbridge-object-created"))
            expect((answer.get("results") or [{}])[0].get("status") == "captioned"
                   and s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"] == queued,
                   "EventBridge 'Object Created' captioned it as the queue's S3 event did",
                   answer)
            answer, _ = container.invoke(load_event("eventbridge-object-deleted"))
            expect(answer.get("errorType") == "UnsupportedEvent",
                   "EventBridge 'Object Deleted' is an UnsupportedEvent error", answer)
            logs = container.logs()
        except ImageTestFailed:
            log("container logs:\n" + container.logs()[-6000:])
            raise
        finally:
            container.stop()
    report = init_report(logs)
    expect({"init_ms", "load_ms"} <= set(report), "the INIT report and the handler's init log",
           logs[-2000:])
    # One precision on every CPU: the float32 encoder (caption.settings: int8_encoder).
    expect(report.get("encoder") == "onnxruntime float32",
           "the float32 encoder serves, under ONNX Runtime", report)
    expect(report.get("decoder") == "onnxruntime", "the decoder runs under ONNX Runtime", report)
    expect(report.get("detector") == "onnxruntime", "the detector runs under ONNX Runtime",
           report)
    return {"first_ms": first_ms, "warm_ms": warm_ms, **report}


@contextlib.contextmanager
def docker_api(engine: list[str], workdir: Path):
    """A Docker API for `sam`: Docker's own, or podman's (`podman system service`), whose
    containers.conf gives builds the host's network (the wheelhouse and PyPI) and this
    machine's runtime and limits."""
    if engine[0] == "docker":
        yield os.environ.get("DOCKER_HOST", "")
        return
    conf = workdir / "containers.conf"
    conf.write_text('[containers]\nnetns = "host"\n'
                    'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    '[engine]\nruntime = "runc"\n')
    socket_path = workdir / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0",
                                f"unix://{socket_path}"],
                               env={**os.environ, "CONTAINERS_CONF": str(conf)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not socket_path.exists():
            if time.time() > deadline or service.poll() is not None:
                raise ImageTestFailed("podman's Docker API service did not start")
            time.sleep(0.2)
        yield f"unix://{socket_path}"
    finally:
        service.terminate()
        service.wait(timeout=30)


def http(method: str, url: str, body: bytes | None = None, content_type: str = ""
         ) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sam_checks(engine: list[str], standin: bool) -> None:
    """The README's `sam build`, `sam local invoke` and `sam local start-api`, through the
    engine's Docker API (build output in a temporary folder, not the checkout)."""
    sam = str(REPO / ".venv-tools" / "bin" / "sam")
    with tempfile.TemporaryDirectory(prefix="caption-sam-") as tmp, \
            docker_api(engine, Path(tmp)) as docker_host:
        env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "DOCKER_HOST": docker_host,
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        env.pop("AWS_SESSION_TOKEN", None)
        overrides = (["--parameter-overrides", "BaseImage={BASE_IMAGE}".format(**STANDIN_ARGS)]
                     if standin else [])
        build_dir = Path(tmp) / "build"
        with wheelhouse(standin):
            built = run([sam, "build", "--build-dir", str(build_dir), *overrides],
                        cwd=REPO, env=env)
        expect(built.returncode == 0, "sam build")
        template = str(build_dir / "template.yaml")
        invoked = run([sam, "local", "invoke", "CaptionFunction", "-t", template,
                       "-e", "events/api-http-upload.json"], cwd=REPO, env=env,
                      capture_output=True, timeout=600)
        answer = _last_json(invoked.stdout)
        expect(answer.get("statusCode") == 200 and "captions" in answer.get("body", ""),
               "sam local invoke with the HTTP API event", invoked.stdout[-1000:]
               + invoked.stderr[-2000:])
        port = free_port()
        # Its log goes to a file: a pipe nobody reads would fill and stall it.
        server_log = (Path(tmp) / "start-api.log").open("w")
        server = subprocess.Popen([sam, "local", "start-api", "-t", template, "--host",
                                   "127.0.0.1", "--port", str(port)], cwd=REPO, env=env,
                                  stdout=server_log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_listening(port, 120, lambda: server.poll() is None,
                                     "sam local start-api")
            except ImageTestFailed as exc:
                started_log = (Path(tmp) / "start-api.log").read_text()
                raise ImageTestFailed(f"{exc}:\n{started_log[-3000:]}") from None
            status, body = http("GET", f"{base}/healthz")
            expect(status == 200 and b'"ok"' in body, "sam local start-api: GET /healthz", body)
            status, body = http("GET", f"{base}/")
            expect(status == 200 and b"<html" in body.lower(), "sam local start-api: GET /")
            image = base64.b64encode(SAMPLE.read_bytes()).decode()
            status, body = http("POST", f"{base}/captions?num_captions=2",
                                json.dumps({"image": image}).encode(), "application/json")
            expect(status == 200 and len(json.loads(body)["captions"]) == 2,
                   "sam local start-api: POST /captions with the image as JSON base64", body)
            status, body = http("POST", f"{base}/captions", SAMPLE.read_bytes(), "image/jpeg")
            log(f"sam local start-api, a raw image/jpeg body: {status} "
                f"{body[:160].decode(errors='replace')}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
            server_log.close()


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        start = line.find("{")
        if start >= 0:
            try:
                return json.loads(line[start:])
            except ValueError:
                continue
    return {}


def _explains(output: str, word: str) -> bool:
    """Whether caption.explain's JSON says which rule kept `word` out."""
    try:
        reasons = json.loads(output)["why_not"][word]
    except (ValueError, KeyError, TypeError):
        return False
    return any(reason.startswith(f"absent: {word}") for reason in reasons)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", type=Path, default=None,
                        help="also write the image's size, INIT and request times here as JSON "
                             "(make bench's bench/results/image.json)")
    args = parser.parse_args(argv)
    try:
        engine = find_engine()
        log(f"engine: {' '.join(engine)}")
        standin = prepare_base(engine)
        base = "the local stand-in (Debian, Python 3.11)" if standin else "the real base image"
        with wheelhouse(standin):
            build_s = build(engine, standin)
        size = run([*engine, "image", "inspect", "--format", "{{.Size}}", TAG],
                   capture_output=True).stdout.strip()
        python = run([*engine, "run", "--rm", *LIMITS, "--entrypoint", "python", TAG,
                      "--version"], capture_output=True).stdout.strip()
        # Serving needs no PyTorch, so the image must not carry it (nor sympy, onnxruntime's
        # offline-tools dependency); and of the model only what serving reads.
        carried = run([*engine, "run", "--rm", *LIMITS, "--entrypoint", "python", TAG, "-c",
                       "import importlib.util as u, os; print(sorted(m for m in ('torch', "
                       "'sympy', 'safetensors') if u.find_spec(m)), sorted(os.listdir("
                       "os.environ['CAPTION_MODEL_DIR'])))"], capture_output=True)
        expect(carried.stdout.startswith("[] ") and "model.safetensors" not in carried.stdout,
               "no torch, sympy or training checkpoint in the image", carried.stdout
               + carried.stderr[-500:])
        # An operator's first question about a wrong caption, answered in the image as built.
        explained = run([*engine, "run", "--rm", *LIMITS, "-v", f"{SAMPLE}:/sample.jpg:ro",
                         "--entrypoint", "python", TAG, "-m", "caption.explain", "/sample.jpg",
                         "two"], capture_output=True)
        expect(_explains(explained.stdout, "two"), "caption.explain answers in the image",
               explained.stdout[-500:] + explained.stderr[-500:])
        figures = exercise(engine)
        held = contents(engine, int(size))
        if os.environ.get("CAPTION_IMAGE_TEST_SAM", "1") != "0":
            sam_checks(engine, standin)
    except (ImageTestFailed, subprocess.TimeoutExpired) as exc:
        print(f"image-test FAILED: {exc}", flush=True)
        return 1
    if args.figures is not None:
        args.figures.parent.mkdir(parents=True, exist_ok=True)
        args.figures.write_text(json.dumps({
            "image_mb": round(int(size) / 1e6), "init_ms": figures["init_ms"],
            "first_ms": round(figures["first_ms"]), "warm_ms": round(figures["warm_ms"]),
            "load_ms": figures["load_ms"], "warm_up_ms": figures["warm_up_ms"],
            "encoder": figures["encoder"], "base": base, "python": python,
            "graphs_ms": figures.get("graphs_ms", {}), **held}, indent=1) + "\n")
    print(f"image-test passed on {base}, {python}, built in {build_s:.0f} s: "
          f"first request {figures['first_ms']:.0f} ms, warm request {figures['warm_ms']:.0f} ms; "
          f"image {int(size) / 1e6:.0f} MB, INIT {figures['init_ms']:.0f} ms (bundle load "
          f"{figures['load_ms']:.0f} ms, warm-up {figures['warm_up_ms']:.0f} ms), "
          f"{figures['encoder']} encoder",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
