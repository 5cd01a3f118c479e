"""Uploads through the queue (S3 -> SQS -> the handler), against moto: batched captioning and
Powertools' partial batch response, in the exact event shape Lambda's SQS poller sends."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.awsrequest import AWSResponse

import caption.app as app
from tests.conftest import load_event
from tests.s3_helpers import BUCKET, s3_event

KEY = "holiday photos/chelsea the cat.jpg"  # the key events/sqs-upload.json names


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    return s3


def queue_event(*bodies: str) -> dict:
    """events/sqs-upload.json's record shape, one record per message body."""
    template = load_event("sqs-upload")["Records"][1]
    return {"Records": [{**template, "messageId": f"message-{i}", "body": body}
                        for i, body in enumerate(bodies)]}


def failures(response: dict) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def fail_key(client, operation: str, key_part: str) -> None:
    """S3 answers 503 SlowDown to `operation` on keys containing key_part, and only those."""

    def answer(params, **_):
        if key_part in params.get("url_path", ""):
            response = AWSResponse(f"https://{BUCKET}.s3.amazonaws.com/", 503, {}, None)
            return response, {"Error": {"Code": "SlowDown", "Message": "injected"},
                              "ResponseMetadata": {"HTTPStatusCode": 503}}
        return None

    client.meta.events.register(f"before-call.s3.{operation}", answer)


def test_the_event_file_captions_its_object_and_ignores_s3s_test_event(bucket, photos, context):
    bucket.put_object(Bucket=BUCKET, Key=KEY, Body=photos["sample"], ContentType="image/jpeg",
                      Metadata={"owner": "alice"})
    response = app.handler(load_event("sqs-upload"), context)
    assert response == {"batchItemFailures": []}
    head = bucket.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Metadata"]["owner"] == "alice"
    assert head["Metadata"]["caption-model"] == app.service.model_id
    assert head["Metadata"]["caption"]


def test_copies_are_captioned_and_our_own_copy_event_ends_at_the_check(bucket, photos, context):
    """`aws s3 cp s3://a/x s3://b/x` raises ObjectCreated:Copy; so does our metadata write."""
    bucket.put_object(Bucket=BUCKET, Key="copied.jpg", Body=photos["chelsea"])
    copy = json.dumps(s3_event("copied.jpg", event_name="ObjectCreated:Copy"))
    assert app.handler(queue_event(copy), context) == {"batchItemFailures": []}
    first = bucket.head_object(Bucket=BUCKET, Key="copied.jpg")
    assert first["Metadata"]["caption"]
    assert app.handler(queue_event(copy), context) == {"batchItemFailures": []}
    assert bucket.head_object(Bucket=BUCKET, Key="copied.jpg")["ETag"] == first["ETag"]


def test_only_the_messages_that_can_succeed_later_are_returned(bucket, photos, context):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        bucket.put_object(Bucket=BUCKET, Key=f"q/{name}", Body=photos["chelsea"])
    bucket.put_object(Bucket=BUCKET, Key="q/readme.txt", Body=b"not an image")
    fail_key(bucket, "GetObject", "b.jpg")
    event = queue_event(
        json.dumps(s3_event("q/a.jpg")),
        json.dumps(s3_event("q/b.jpg")),  # S3 throttles it: retry this message
        "this is not JSON",  # nothing can fix it: the dead-letter queue keeps it
        json.dumps(s3_event("q/readme.txt")),  # not an image: skipped, done
        json.dumps(s3_event("q/c.jpg")),
    )
    response = app.handler(event, context)
    assert failures(response) == ["message-1", "message-2"]
    metadata = {k: bucket.head_object(Bucket=BUCKET, Key=f"q/{k}")["Metadata"]
                for k in ("a.jpg", "b.jpg", "c.jpg", "readme.txt")}
    assert metadata["a.jpg"]["caption"] and metadata["c.jpg"]["caption"]
    assert "caption" not in metadata["b.jpg"] and "caption" not in metadata["readme.txt"]


def test_a_message_with_several_records_fails_if_any_record_can_be_retried(bucket, photos,
                                                                           context):
    bucket.put_object(Bucket=BUCKET, Key="two/ok.jpg", Body=photos["chelsea"])
    bucket.put_object(Bucket=BUCKET, Key="two/slow.jpg", Body=photos["chelsea"])
    fail_key(bucket, "GetObject", "slow.jpg")
    notification = s3_event("two/ok.jpg")
    notification["Records"] += s3_event("two/slow.jpg")["Records"]
    ok = json.dumps(s3_event("two/ok.jpg"))
    response = app.handler(queue_event(json.dumps(notification), ok), context)
    assert failures(response) == ["message-0"]
    assert bucket.head_object(Bucket=BUCKET, Key="two/ok.jpg")["Metadata"]["caption"]


def test_a_batch_where_every_message_failed_is_an_invocation_error(bucket, context):
    """Powertools raises: Lambda counts an error (the alarm sees it) and retries the batch."""
    with pytest.raises(BatchProcessingError):
        app.handler(queue_event("[1, 2]", '{"Records": []}'), context)


def test_a_malformed_record_inside_a_message_is_logged_not_retried(bucket, context):
    notification = s3_event("x.jpg")
    notification["Records"][0]["s3"]["bucket"]["name"] = "Not A Bucket!"
    assert app.handler(queue_event(json.dumps(notification)), context) == {
        "batchItemFailures": []}


def test_many_messages_are_encoded_in_batches(bucket, photos, context, monkeypatch):
    keys = [f"many/{i}.jpg" for i in range(10)]
    for key in keys:
        bucket.put_object(Bucket=BUCKET, Key=key, Body=photos["chelsea"])
    batch_sizes: list[int] = []
    describe = app.service.captioner.describe

    def counting(images, *args, **kwargs):
        batch_sizes.append(len(images))
        return describe(images, *args, **kwargs)

    monkeypatch.setattr(app.service.captioner, "describe", counting)
    response = app.handler(queue_event(*(json.dumps(s3_event(k)) for k in keys)), context)
    assert response == {"batchItemFailures": []}
    assert batch_sizes == [8, 2]
