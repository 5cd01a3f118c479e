"""News of a created object by every road AWS offers (S3's notification, S3's EventBridge event,
an SNS message around an S3 notification, each direct or through the upload queue), through the
handler against moto: each captions the object exactly as S3's own notification does, a replay
changes nothing, and an event that creates nothing is a clear error."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    S3EventNotificationEventBridgeModel,
    S3Model,
    SnsModel,
    SqsModel,
)

import caption.app as app
from caption.object_events import UnsupportedEvent
from tests.conftest import load_event
from tests.s3_helpers import BUCKET

KEY = "holiday photos/chelsea the cat.jpg"  # the key every event file names, decoded
ROADS = ["s3-put", "eventbridge-object-created", "sns-s3-put", "sqs-upload",
         "sqs-eventbridge-upload"]


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    return s3


def upload(s3, body: bytes) -> dict:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body, ContentType="image/jpeg",
                  Metadata={"owner": "alice"})
    return s3.head_object(Bucket=BUCKET, Key=KEY)


def sns_event(message: dict) -> dict:
    event = load_event("sns-s3-put")
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


@pytest.mark.parametrize(("name", "model"), [
    ("eventbridge-object-created", S3EventNotificationEventBridgeModel),
    ("eventbridge-object-deleted", S3EventNotificationEventBridgeModel),
    ("sns-s3-put", SnsModel), ("sqs-eventbridge-upload", SqsModel), ("s3-put", S3Model)])
def test_the_event_files_have_the_shapes_aws_sends(name, model):
    """Powertools' models of AWS's events accept every file as it is."""
    parsed = parse(event=load_event(name), model=model)
    if name == "sns-s3-put":  # and the message inside is S3's notification
        parse(event=json.loads(parsed.Records[0].Sns.Message), model=S3Model)
    if name == "sqs-eventbridge-upload":
        parse(event=json.loads(parsed.Records[0].body), model=S3EventNotificationEventBridgeModel)


def test_every_road_writes_the_metadata_s3s_own_notification_writes(bucket, photos, context):
    written = {}
    for name in ROADS:
        upload(bucket, photos["sample"])  # a fresh, uncaptioned upload each time
        result = app.handler(load_event(name), context)
        if name.startswith("sqs-"):
            assert result == {"batchItemFailures": []}, (name, result)
        else:
            assert [r["status"] for r in result["results"]] == ["captioned"], (name, result)
        written[name] = bucket.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]
    assert written["s3-put"]["caption"] and written["s3-put"]["owner"] == "alice"
    assert written["s3-put"]["caption-model"] == app.service.model_id
    for name in ROADS[1:]:
        assert written[name] == written["s3-put"], name


@pytest.mark.parametrize("name", ["eventbridge-object-created", "sns-s3-put"])
def test_a_replay_changes_nothing(bucket, photos, context, name):
    upload(bucket, photos["sample"])
    first = app.handler(load_event(name), context)["results"][0]
    before = bucket.head_object(Bucket=BUCKET, Key=KEY)
    again = app.handler(load_event(name), context)["results"][0]
    after = bucket.head_object(Bucket=BUCKET, Key=KEY)
    assert first["status"] == "captioned"
    assert again["status"] == "skipped" and again["reason"].startswith("already captioned")
    for field in ("ETag", "LastModified", "Metadata", "VersionId", "ContentType"):
        assert after.get(field) == before.get(field), field


def test_an_upload_replaced_since_the_event_is_left_to_its_own_event(bucket, photos, context):
    """The EventBridge event's etag pins the upload it reports, as S3's eTag does."""
    upload(bucket, photos["chelsea"])  # not the bytes whose etag the event carries
    result = app.handler(load_event("eventbridge-object-created"), context)["results"][0]
    assert result["status"] == "skipped" and result["reason"].startswith("changed")
    assert "caption" not in bucket.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]


def test_eventbridge_object_deleted_is_an_unsupported_event(bucket, photos, context):
    before = upload(bucket, photos["sample"])
    with pytest.raises(UnsupportedEvent, match="'Object Deleted'.*only 'Object Created'"):
        app.handler(load_event("eventbridge-object-deleted"), context)
    assert bucket.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == before["ETag"]


def test_a_removal_is_the_same_error_by_every_road(bucket, context):
    removed = load_event("s3-put")
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    for event in (removed, sns_event(removed)):
        with pytest.raises(UnsupportedEvent, match="ObjectRemoved:Delete notification"):
            app.handler(event, context)


def test_s3s_test_event_through_sns_names_nothing(bucket, context):
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET,
                  "Time": "2026-11-25T18:59:58.000Z", "RequestId": "5582815E1AEA5ADF"}
    assert app.handler(sns_event(test_event), context) == {"results": []}


def test_an_sns_message_that_is_not_an_s3_event_is_unsupported(context):
    event = load_event("sns-s3-put")
    event["Records"][0]["Sns"]["Message"] = "hello from a human"
    with pytest.raises(UnsupportedEvent, match="SNS message is not JSON"):
        app.handler(event, context)


def test_a_malformed_eventbridge_event_fails_alone_without_a_retry(bucket, context):
    event = load_event("eventbridge-object-created")
    del event["detail"]["object"]["key"]
    result = app.handler(event, context)
    assert result["results"][0]["status"] == "failed"
    assert result["results"][0]["reason"].startswith("malformed_record 0: invalid object key")


def test_the_queue_takes_sns_envelopes_and_sends_removals_to_the_dead_letters(
        bucket, photos, context):
    """A queue subscribed to an SNS topic receives SNS's envelope; a message that creates
    nothing is a batch item failure (after maxReceiveCount it waits in the dead-letter queue)."""
    upload(bucket, photos["sample"])
    created = load_event("sqs-eventbridge-upload")
    envelope = {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:caption-uploads",
                "Message": json.dumps(load_event("s3-put")),
                "Timestamp": "2026-11-25T19:00:00.512Z"}
    deleted = {**created["Records"][0], "messageId": "deleted",
               "body": json.dumps(load_event("eventbridge-object-deleted"))}
    sns = {**created["Records"][0], "messageId": "sns", "body": json.dumps(envelope)}
    response = app.handler({"Records": [sns, deleted]}, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "deleted"}]}
    assert bucket.head_object(Bucket=BUCKET, Key=KEY)["Metadata"]["caption"]
