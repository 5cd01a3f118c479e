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


@pytest.mark.parametrize("bucket_arn", ["arn:aws:s3:::", "arn:aws:s3:::Bad_Bucket!", None])
def test_invalid_bucket_names_fail_permanently(bucket, context, bucket_arn):
    event = load_event("batch-task")
    event["tasks"][0]["s3BucketArn"] = bucket_arn
    [result] = app.handler(event, context)["results"]
    assert result["resultCode"] == "PermanentFailure", result


@pytest.mark.parametrize("mangle", [
    lambda e: e["tasks"].__setitem__(0, None),
    lambda e: e.update(tasks="not a list"),
    lambda e: e["tasks"][0].pop("taskId"),
    lambda e: e.pop("invocationId"),
], ids=["null-task", "tasks-string", "no-task-id", "no-invocation-id"])
def test_malformed_batch_events_are_refused_before_any_work(bucket, context, mangle):
    event = load_event("batch-task-v2")
    event["tasks"].append({**event["tasks"][0], "taskId": "second"})
    mangle(event)
    from caption.s3_events import MalformedEvent

    with pytest.raises(MalformedEvent):
        app.handler(event, context)
    assert "caption" not in bucket.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]
