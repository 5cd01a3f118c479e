"""Process set-up: thread count from Lambda's memory, environment settings, load-once."""

from __future__ import annotations

import pytest

import caption.app as app
import caption.model.graphs as graphs
import caption.model.loader as loader
import caption.runtime as runtime
from caption.settings import Settings, inference_threads
from tests.conftest import REPO, load_event


@pytest.mark.parametrize("memory, cores, threads", [
    ("1024", 16, 1), ("1769", 16, 1), ("1770", 16, 2), ("3008", 16, 2), ("10240", 16, 6),
    ("10240", 2, 2),
])
def test_threads_follow_lambda_memory_not_host_cores(monkeypatch, memory, cores, threads):
    monkeypatch.delenv("CAPTION_NUM_THREADS", raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert inference_threads() == threads


def test_explicit_thread_count_wins(monkeypatch):
    monkeypatch.setenv("CAPTION_NUM_THREADS", "3")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
    assert inference_threads() == 3


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("CAPTION_ALLOWED_BUCKETS", " a, b ,,c ")
    monkeypatch.setenv("CAPTION_MAX_PIXELS", "1000")
    monkeypatch.delenv("CAPTION_MODEL_DIR", raising=False)
    settings = Settings.from_env()
    assert settings.allowed_buckets == {"a", "b", "c"}
    assert settings.max_pixels == 1000
    assert not settings.int8_encoder  # one precision, whatever the CPU
    monkeypatch.setenv("CAPTION_INT8_ENCODER", "1")
    assert Settings.from_env().int8_encoder
    assert settings.model_dir == REPO / "layers" / "model"  # a checkout finds its bundle


@pytest.mark.parametrize("env, problem", [
    ({"CAPTION_NUM_CAPTIONS": "5"}, "CAPTION_NUM_CAPTIONS"),
    ({"CAPTION_BEAM_SIZE": "0"}, "CAPTION_BEAM_SIZE"),
    ({"CAPTION_BEAM_SIZE": "11"}, "CAPTION_BEAM_SIZE"),
    ({"CAPTION_MAX_OBJECT_BYTES": "0"}, "CAPTION_MAX_OBJECT_BYTES"),
])
def test_a_configuration_that_could_only_fail_later_fails_at_init(monkeypatch, env, problem):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=problem):
        Settings.from_env()


def test_bad_numbers_in_the_environment_fail_loudly(monkeypatch):
    monkeypatch.setenv("CAPTION_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="CAPTION_MAX_PIXELS"):
        Settings.from_env()


def test_the_model_loads_once_at_import_never_per_request(monkeypatch, context):
    """Every name through which a request could load a model refuses; requests still work."""
    def refuse(*_, **__):
        raise AssertionError("the handler loaded a model during a request")

    for module, name in ((loader, "load_model"), (runtime, "load_captioner"),
                         (loader, "open_graph"), (graphs, "open_session"),
                         (runtime, "load_service"), (runtime, "start_loading"),
                         (app, "start_loading")):
        monkeypatch.setattr(module, name, refuse)
    service = app.service
    for _ in range(2):
        assert app.handler(load_event("api-http-upload"), context)["statusCode"] == 200
    assert app.service is service


def test_init_leaves_the_web_framework_to_the_first_api_event():
    """INIT imports no FastAPI (S3, queue and Batch Operations events never need it); the
    first API Gateway event makes the app, once, and answers it."""
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "import caption.app as app\n"
        "from bench.common import Context\n"
        "from tests.conftest import load_event\n"
        "at_init = 'fastapi' in sys.modules\n"
        "status = app.handler(load_event('api-http-upload'), Context())['statusCode']\n"
        "first = app.http_app()\n"
        "app.handler(load_event('api-http-upload'), Context())\n"
        "print(json.dumps([at_init, 'fastapi' in sys.modules, status,\n"
        "                  app.http_app() is first]))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": f"{REPO / 'functions'}:{REPO}",
                                 "POWERTOOLS_METRICS_DISABLED": "true"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[false, true, 200, true]"


def test_a_model_that_cannot_load_fails_the_init_with_the_reason(tmp_path):
    """The model loads in a thread while the handler's modules import: its error must still
    be the init's error, named, not a hang or a handler without a model."""
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import caption.app"], cwd=REPO,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO / "functions"),
                                 "CAPTION_MODEL_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "BundleError: no model at" in result.stderr, result.stderr[-2000:]
