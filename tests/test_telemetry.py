"""What an operator sees: the metrics each invocation emits (CloudWatch's embedded metric
format, printed by Powertools) and one log entry per unexpected error."""

from __future__ import annotations

import json

import caption.app as app
from tests.conftest import load_event
from tests.s3_helpers import BUCKET, s3_event


def emitted(out: str) -> list[dict]:
    """The EMF documents printed: each with its metric values and dimensions."""
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def values(documents: list[dict], name: str, **dimensions: str) -> list:
    found = []
    for doc in documents:
        declared = doc["_aws"]["CloudWatchMetrics"][0]
        names = {m["Name"] for m in declared["Metrics"]}
        if name in names and all(doc.get(k) == v for k, v in dimensions.items()):
            assert declared["Namespace"] == "CaptionLambda"
            value = doc[name]  # a list where one flush holds several values
            found.extend(value if isinstance(value, list) else [value])
    return found


def test_an_s3_invocation_counts_what_happened_and_measures_the_image(s3, photos, context,
                                                                      capsys):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="m/cat.jpg", Body=photos["chelsea"])
    capsys.readouterr()
    app.handler(s3_event("m/cat.jpg"), context)
    app.handler(s3_event("m/cat.jpg"), context)  # the second time: already captioned
    documents = emitted(capsys.readouterr().out)
    assert values(documents, "Captioned", service="caption") == [1]
    assert values(documents, "Skipped", reason="already_captioned") == [1]
    megapixels = values(documents, "ImageMegapixels")
    assert megapixels == [0.14]  # chelsea is 451 x 300 = 0.135 MP
    assert 0 < values(documents, "InferenceMs")[0] < 60_000


def test_a_failed_object_is_counted_by_reason(s3, context, capsys):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="m/notes.jpg", Body=b"plain text, not a JPEG")
    capsys.readouterr()
    result = app.handler(s3_event("m/notes.jpg"), context)
    assert result["results"][0]["status"] == "skipped"
    documents = emitted(capsys.readouterr().out)
    assert values(documents, "Skipped", reason="unsupported_image") == [1]


def test_api_errors_are_counted_by_code(context, capsys):
    event = load_event("api-http-upload")
    event["body"] = "bm90IGFuIGltYWdl"  # "not an image"
    capsys.readouterr()
    response = app.handler(event, context)
    assert response["statusCode"] == 415
    documents = emitted(capsys.readouterr().out)
    assert values(documents, "ApiErrors", code="unsupported_image") == [1]


def test_an_unexpected_error_answers_500_and_is_logged_once(context, capsys, caplog,
                                                              monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the bug under test")

    monkeypatch.setattr(app.service, "caption_bytes", broken)
    capsys.readouterr()
    response = app.handler(load_event("api-http-upload"), context)
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"error": {
        "code": "internal_error", "message": "the server failed; the error has been logged"}}
    captured = capsys.readouterr()
    # Every log record of any logger reaches caplog (Mangum's and uvicorn's too, which log a
    # plain-text traceback when an exception escapes the app): one record, ours, in JSON.
    logged = [r for r in caplog.records
              if r.exc_info and "the bug under test" in str(r.exc_info[1])]
    assert [r.name for r in logged] == ["caption.api"]
    documents = emitted(captured.out)
    assert values(documents, "ApiServerErrors") == [1]


def test_no_tracer_is_made_where_powertools_would_turn_it_off(monkeypatch):
    """Making a Tracer imports the X-Ray SDK (about 0.3 s of every cold start) even when it is
    off; outside Lambda, under `sam local` or with POWERTOOLS_TRACE_DISABLED none is made."""
    from caption.telemetry import tracing_possible

    for name in ("LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "POWERTOOLS_TRACE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing_possible()  # a laptop, the CLI, the tests
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert tracing_possible()  # Lambda
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    assert not tracing_possible()
    monkeypatch.delenv("AWS_SAM_LOCAL")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    assert not tracing_possible()
