"""Every way news of a created S3 object reaches the function, unwrapped to the objects it names.

- **S3's own notification** (`Records[].eventSource == "aws:s3"`), sent straight to the
  function or through the upload queue;
- **S3's event on Amazon EventBridge** (`source: aws.s3`, `detail-type: Object Created`), from
  a rule that targets the function or the upload queue (the stack's `UploadEvents=EventBridge`);
- **S3's notification published to SNS**, delivered to the function (`Records[].EventSource ==
  "aws:sns"`) or to a queue subscribed to the topic (the body is SNS's envelope, `"Type":
  "Notification"`, unless raw delivery hands over the S3 notification itself).

All of them end in the same `ObjectRef`s, so each is captioned exactly like S3's own
notification: the same idempotence, metadata and errors. An event that names no created object
(an EventBridge "Object Deleted", an `ObjectRemoved` notification) is an `UnsupportedEvent`;
S3's test event, sent when a notification is configured, names nothing and is not an error.
The envelopes are read with Powertools' event classes; the objects inside are checked here,
because a malformed record must fail alone without failing the rest of the event.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from caption.s3_captioning import ObjectRef, Outcome
from caption.telemetry import record_outcome

log = logging.getLogger(__name__)

# S3's bucket naming rules (3-63 lower-case letters, digits, dots and hyphens, starting and
# ending with a letter or digit); anything else can only fail, every time.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
OBJECT_CREATED = "Object Created"  # EventBridge's detail-type for S3's ObjectCreated:*


class UnsupportedEvent(ValueError):
    """The event is none of the shapes this function serves, or names no created object."""


@dataclass
class CreatedObjects:
    """The objects an event says were created, and a failed Outcome for each malformed record
    (logged and counted; retrying could never fix it)."""

    refs: list[ObjectRef] = field(default_factory=list)
    malformed: list[Outcome] = field(default_factory=list)

    def extend(self, other: CreatedObjects) -> None:
        self.refs += other.refs
        self.malformed += other.malformed


def is_s3_notification(event: dict) -> bool:
    return _records_from(event, "eventSource", "aws:s3")


def is_sns_event(event: dict) -> bool:
    return _records_from(event, "EventSource", "aws:sns")


def is_eventbridge_s3(event: dict) -> bool:
    return (event.get("source") == "aws.s3" and isinstance(event.get("detail-type"), str)
            and "detail" in event)


def is_s3_test_event(event: dict) -> bool:
    return event.get("Event") == "s3:TestEvent"


def is_sns_envelope(payload: dict) -> bool:
    """SNS's message as an SQS queue subscribed to a topic receives it (no raw delivery)."""
    return payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str)


def _records_from(event: dict, source_key: str, source: str) -> bool:
    records = event.get("Records")
    return (isinstance(records, list) and bool(records)
            and all(isinstance(r, dict) and r.get(source_key) == source for r in records))


def checked_location(bucket: Any, key: Any) -> tuple[str, str]:
    """The bucket and key, or ValueError saying what is wrong with them."""
    if not isinstance(bucket, str) or not _BUCKET_NAME.match(bucket):
        raise ValueError(f"invalid bucket name {str(bucket)[:80]!r}")
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid object key {str(key)[:80]!r}")
    return bucket, key


def decoded_key(raw: Any) -> Any:
    """An event's key as S3 names the object (anything not a string passes, to be refused)."""
    # S3 event keys are form-encoded: '+' is a space, non-ASCII is UTF-8 percent-escaped.
    return unquote_plus(raw, encoding="utf-8") if isinstance(raw, str) else raw


def optional_text(value: Any) -> str | None:
    """An event's optional string field (a version id, an ETag): None unless a non-empty one."""
    return value if isinstance(value, str) and value else None


def _malformed(index: int, exc: ValueError) -> Outcome:
    log.error("malformed S3 record", extra={"record": index, "error": str(exc)})
    outcome = Outcome("", "", "failed", f"malformed_record {index}: {exc}", code="malformed_record")
    record_outcome(outcome)
    return outcome


def _notification_ref(record: dict) -> ObjectRef:
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise ValueError("the record has no 's3' object")
    bucket, obj = s3.get("bucket"), s3.get("object")
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise ValueError("the record's 's3' lacks its 'bucket' or 'object'")
    name, key = checked_location(bucket.get("name"), decoded_key(obj.get("key")))
    return ObjectRef(name, key, optional_text(obj.get("versionId")), optional_text(obj.get("eTag")))


def notification_objects(notification: dict) -> CreatedObjects:
    """The created objects of an S3 notification's records. Records of other events are
    skipped; a notification with none at all is an UnsupportedEvent."""
    found = CreatedObjects()
    others = []
    for index, record in enumerate(notification["Records"]):
        name = str(record.get("eventName", ""))
        if not name.startswith("ObjectCreated:"):
            others.append(name)
            continue
        try:
            found.refs.append(_notification_ref(record))
        except ValueError as exc:
            found.malformed.append(_malformed(index, exc))
    if others and not found.refs and not found.malformed:
        raise UnsupportedEvent(f"unsupported event: S3 {', '.join(sorted(set(others)))[:200]} "
                               "notification; only ObjectCreated events are captioned")
    if others:
        log.info("ignoring S3 records that create nothing", extra={"events": others})
    return found


def eventbridge_objects(event: dict) -> CreatedObjects:
    """The object of S3's EventBridge event; any detail-type but "Object Created" is an
    UnsupportedEvent."""
    # Imported here, as the other event classes are: the package costs an API cold start
    # about 17 ms, and no API request needs it.
    from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

    bridged = S3EventBridgeNotificationEvent(event)
    if bridged.detail_type != OBJECT_CREATED:
        raise UnsupportedEvent(f"unsupported event: EventBridge {bridged.detail_type[:80]!r} "
                               f"from aws.s3; only {OBJECT_CREATED!r} events are captioned")
    found = CreatedObjects()
    try:
        detail = bridged.detail
        bucket, obj = detail.get("bucket"), detail.get("object")
        if not isinstance(bucket, dict) or not isinstance(obj, dict):
            raise ValueError("the event's 'detail' lacks its 'bucket' or 'object'")
        name, key = checked_location(bucket.get("name"), decoded_key(obj.get("key")))
        found.refs.append(ObjectRef(name, key, optional_text(obj.get("version-id")),
                                    optional_text(obj.get("etag"))))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        found.malformed.append(_malformed(0, ValueError(str(exc))))
    return found


def created_objects_in(text: Any, carrier: str) -> CreatedObjects:
    """What an event carried as JSON text names (an SNS message, a queue message's body);
    `carrier` names the text in the UnsupportedEvent it raises otherwise."""
    try:
        payload = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise UnsupportedEvent(f"unsupported event: {carrier} is not JSON "
                               f"({str(exc)[:200]})") from None
    if not isinstance(payload, dict):
        raise UnsupportedEvent(f"unsupported event: {carrier} is not an S3 event")
    return created_objects(payload)


def sns_objects(event: dict) -> CreatedObjects:
    from aws_lambda_powertools.utilities.data_classes import SNSEvent

    found = CreatedObjects()
    for record in SNSEvent(event).records:
        found.extend(created_objects_in(record.sns.message, "the SNS message"))
    return found


def created_objects(payload: dict) -> CreatedObjects:
    """The created objects `payload` names, whichever way it came: an S3 notification, S3's
    EventBridge event, an SNS event or SNS envelope around either; nothing for S3's test event.
    UnsupportedEvent for anything else."""
    if is_s3_test_event(payload):
        log.info("S3 test event")
        return CreatedObjects()
    if is_s3_notification(payload):
        return notification_objects(payload)
    if is_eventbridge_s3(payload):
        return eventbridge_objects(payload)
    if is_sns_event(payload):
        return sns_objects(payload)
    if is_sns_envelope(payload):
        return created_objects_in(payload["Message"], "the SNS message")
    raise UnsupportedEvent("unsupported event: not an S3 event notification, S3's EventBridge "
                           f"event or an SNS message carrying one (keys {sorted(payload)[:8]})")


def is_object_event(event: dict) -> bool:
    """An event the function receives straight from S3, EventBridge or SNS."""
    return is_s3_notification(event) or is_eventbridge_s3(event) or is_sns_event(event)
