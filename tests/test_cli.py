"""`python -m caption` as a user runs it: a real process, files and s3:// URIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from infra.local_lambda import MotoServer
from tests.conftest import REPO


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caption", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(REPO / "functions"), **(env or {})})


def test_json_lines_one_per_input_and_failures_do_not_stop_the_rest(tmp_path, photos):
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(photos["chelsea"])
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    result = run_cli("--json", "--beam-size", "4", "--num-captions", "2", str(cat), str(notes),
                     str(tmp_path / "missing.jpg"))
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(cat), str(notes), str(tmp_path / "missing.jpg")]
    assert len(lines[0]["captions"]) == 2
    assert lines[0]["captions"][0]["score"] >= lines[0]["captions"][1]["score"]
    assert lines[1]["error"]["code"] == "unsupported_image"
    assert lines[2]["error"]["code"] == "file_not_found"


def test_text_output_and_success_exit_status(tmp_path, photos):
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(photos["chelsea"])
    result = run_cli("--beam-size", "1", str(cat))
    assert result.returncode == 0, result.stderr
    first, caption_line = result.stdout.splitlines()[:2]
    assert first == str(cat)
    assert caption_line.strip().split("  ", 1)[1]  # "  0.412  a cat ..."


def test_s3_uris_use_the_standard_endpoint_settings(photos):
    with MotoServer() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket="pictures")
        s3.put_object(Bucket="pictures", Key="pets/my cat.jpg", Body=photos["chelsea"])
        env = {"AWS_ENDPOINT_URL_S3": moto.url, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        result = run_cli("--json", "s3://pictures/pets/my cat.jpg", "s3://pictures/none.jpg",
                         env=env)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["captions"], result.stderr
    assert lines[1]["error"]["code"] == "object_not_found"


def test_bad_options_and_models_exit_2(tmp_path):
    assert run_cli("--beam-size", "0", "x.jpg").returncode == 2
    missing_model = run_cli("--model", str(tmp_path), "x.jpg")
    assert missing_model.returncode == 2
    assert "no model" in missing_model.stderr


def test_s3_inputs_without_credentials_are_reported_and_the_rest_go_on(tmp_path, photos):
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(photos["chelsea"])
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_DEFAULT_REGION": "us-east-1"}
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("AWS_") or k in ("AWS_DEFAULT_REGION",)}
    result = subprocess.run([sys.executable, "-m", "caption", "--json", "s3://b/k.jpg", str(cat)],
                            cwd=REPO, text=True, capture_output=True, timeout=180,
                            env={**clean, "PYTHONPATH": str(REPO / "functions"), **env})
    assert result.returncode == 1, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["error"]["code"] == "s3_error"
    assert second["captions"]


def test_one_photo_gets_the_captions_the_api_serves(tmp_path, photos):
    """The CLI serves through the API's loader (ONNX Runtime, the int8 encoder where the CPU has
    VNNI), so a photo's captions do not depend on which way it was sent."""
    from caption.runtime import load_service
    from caption.service import CaptionOptions
    from caption.settings import Settings

    coffee = tmp_path / "coffee.jpg"
    coffee.write_bytes(photos["coffee"])
    result = run_cli("--json", str(coffee))
    assert result.returncode == 0, result.stderr
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    service, timings = load_service(Settings.from_env(), warm_up=False)
    served = service.caption_bytes(photos["coffee"], CaptionOptions())
    assert timings["encoder"].startswith("onnxruntime ") and timings["decoder"] == "onnxruntime"
    assert [(c["text"], c["score"]) for c in record["captions"]] == [
        (c.text, c.score) for c in served.captions]


def test_serving_imports_no_pytorch():
    """The Lambda handler, the local server's app and the CLI run on NumPy, ONNX Runtime and
    Pillow alone: PyTorch is for training and export (a fresh process, since this one has
    imported it for other tests)."""
    code = ("import sys, caption.app, caption.cli; "
            "heavy = sorted(m for m in ('torch', 'sympy', 'safetensors', 'onnx') "
            "if m in sys.modules); print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True,
                            capture_output=True, timeout=180,
                            env={**os.environ, "PYTHONPATH": str(REPO / "functions")})
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
