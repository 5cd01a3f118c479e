"""The handler in the real Lambda runtime (RIE + awslambdaric), on the events/ files, with S3
on a moto server reached through boto3's standard AWS_ENDPOINT_URL_S3 setting."""

from __future__ import annotations

import json
import os

import pytest

from infra.local_lambda import LambdaRuntime, MotoServer, find_rie
from tests.conftest import load_event

BUCKET = "caption-demo-bucket"
KEY = "holiday photos/chelsea the cat.jpg"

RIE = find_rie()
pytestmark = pytest.mark.skipif(
    RIE is None and not os.environ.get("CI"),
    reason="the Runtime Interface Emulator comes with aws-sam-cli in .venv-tools (make test)")


@pytest.fixture(scope="module")
def runtime():
    assert RIE is not None, "CI must have the emulator: make test installs .venv-tools"
    with MotoServer() as moto:
        function = LambdaRuntime(RIE, moto.url)
        try:
            yield function, moto.client()
        finally:
            logs = function.stop()
            print(logs[-5000:])


def test_http_api_event(runtime):
    function, _ = runtime
    response = function.invoke(load_event("api-http-upload"))
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert len(body["captions"]) == 2 and body["captions"][0]["text"]


def test_rest_api_event(runtime):
    function, _ = runtime
    response = function.invoke(load_event("api-rest-upload"))
    assert response["statusCode"] == 200, response
    assert len(json.loads(response["body"])["captions"]) == 3


def test_s3_put_event_captions_the_object(runtime, photos):
    function, s3 = runtime
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=photos["sample"], ContentType="image/jpeg",
                  Metadata={"owner": "alice"})
    response = function.invoke(load_event("s3-put"))
    assert response["results"][0]["status"] == "captioned", response
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Metadata"]["owner"] == "alice"
    assert head["Metadata"]["caption"] == response["results"][0]["caption"]
    assert head["ContentType"] == "image/jpeg"
    # Batch Operations on the same object: already captioned, so it succeeds without a write.
    batch = function.invoke(load_event("batch-task"))
    assert batch["results"][0]["resultCode"] == "Succeeded"
    assert batch["results"][0]["resultString"].startswith("skipped: already captioned")


def test_sqs_event_captions_the_uploaded_object(runtime, photos):
    function, s3 = runtime
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=photos["sample"], ContentType="image/jpeg")
    response = function.invoke(load_event("sqs-upload"))
    assert response == {"batchItemFailures": []}, response
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]["caption"]


def test_unsupported_event_is_a_function_error(runtime):
    function, _ = runtime
    response = function.invoke({"detail-type": "Scheduled Event", "source": "aws.events"})
    assert response["errorType"] == "UnsupportedEvent"
    assert "unsupported event" in response["errorMessage"]


def test_eventbridge_and_sns_events_caption_exactly_as_s3s_own(runtime, photos):
    """The same upload, announced by S3's notification, by S3's EventBridge event and by SNS:
    the same metadata each time, and a replay of each changes nothing."""
    function, s3 = runtime
    s3.create_bucket(Bucket=BUCKET)
    written = {}
    for name in ("s3-put", "eventbridge-object-created", "sns-s3-put"):
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=photos["sample"], ContentType="image/jpeg",
                      Metadata={"owner": "alice"})
        response = function.invoke(load_event(name))
        assert response["results"][0]["status"] == "captioned", (name, response)
        captioned = s3.head_object(Bucket=BUCKET, Key=KEY)
        written[name] = captioned["Metadata"]
        replay = function.invoke(load_event(name))
        assert replay["results"][0]["reason"].startswith("already captioned"), (name, replay)
        again = s3.head_object(Bucket=BUCKET, Key=KEY)
        assert [again.get(f) for f in ("ETag", "LastModified", "Metadata")] == [
            captioned.get(f) for f in ("ETag", "LastModified", "Metadata")], name
    assert written["s3-put"]["caption"] and written["s3-put"]["owner"] == "alice"
    assert written["eventbridge-object-created"] == written["s3-put"]
    assert written["sns-s3-put"] == written["s3-put"]


def test_an_eventbridge_object_deleted_event_is_an_unsupported_event_error(runtime):
    function, _ = runtime
    response = function.invoke(load_event("eventbridge-object-deleted"))
    assert response["errorType"] == "UnsupportedEvent"
    assert "'Object Deleted'" in response["errorMessage"]
    assert "only 'Object Created' events are captioned" in response["errorMessage"]
