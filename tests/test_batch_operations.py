"""S3 Batch Operations tasks (invocation schema 1.0 and 2.0) through the handler."""

from __future__ import annotations

import pytest

import caption.app as app
from tests.conftest import load_event
from tests.s3_helpers import BUCKET, fail_calls

KEY = "holiday photos/chelsea the cat.jpg"  # the key in events/batch-task*.json, decoded


@pytest.fixture
def bucket(s3, photos):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=photos["sample"], ContentType="image/jpeg")
    return s3


@pytest.mark.parametrize("name", ["batch-task", "batch-task-v2"])
def test_tasks_succeed_and_report_the_caption(bucket, context, name):
    event = load_event(name)
    response = app.handler(event, context)
    assert response["invocationSchemaVersion"] == event["invocationSchemaVersion"]
    assert response["invocationId"] == event["invocationId"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    [result] = response["results"]
    assert result["taskId"] == event["tasks"][0]["taskId"]
    assert result["resultCode"] == "Succeeded"
    caption = bucket.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]["caption"]
    assert result["resultString"] == f"captioned: {caption}"
    again = app.handler(event, context)["results"][0]
    assert again["resultCode"] == "Succeeded"
    assert again["resultString"].startswith("skipped: already captioned")


def test_non_images_and_missing_keys_fail_permanently(bucket, context):
    bucket.put_object(Bucket=BUCKET, Key="readme.txt", Body=b"hello")
    event = load_event("batch-task")
    template = event["tasks"][0]
    event["tasks"] = [{**template, "taskId": "t1", "s3Key": "readme.txt"},
                      {**template, "taskId": "t2", "s3Key": "no/such+key.jpg"}]
    codes = {r["taskId"]: r["resultCode"] for r in app.handler(event, context)["results"]}
    assert codes == {"t1": "PermanentFailure", "t2": "PermanentFailure"}


def test_throttling_is_a_temporary_failure(bucket, context):
    fail_calls(bucket, "HeadObject", 503, "SlowDown")
    [result] = app.handler(load_event("batch-task-v2"), context)["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert "SlowDown" in result["resultString"]
