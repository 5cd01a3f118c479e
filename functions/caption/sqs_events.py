"""S3 notifications that arrive through the upload queue (S3 -> SQS -> this function).

Each message carries one S3 notification. The objects of all the messages in a batch are
captioned together (their images encoded in batches), then each message is answered on its own
through Powertools' partial batch response: a message whose object hit a transient S3 error, or
whose body is not an S3 notification, is reported as a batch item failure, so SQS delivers that
message again (and after the queue's maxReceiveCount, moves it to the dead-letter queue) while
the others are deleted.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from caption.s3_captioning import ObjectRef, TransientS3Error
from caption.s3_events import caption_and_report, is_s3_notification, notification_refs
from caption.service import CaptionOptions, CaptionService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

log = logging.getLogger(__name__)


class UndeliverableMessage(ValueError):
    """A queue message that is not an S3 notification; it goes to the dead-letter queue."""


def is_sqs_event(event: dict) -> bool:
    records = event.get("Records")
    return (isinstance(records, list) and bool(records)
            and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records))


def _notification(body: Any) -> dict | None:
    """The S3 notification a message carries; None for the test event S3 sends when the
    notification is configured."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise UndeliverableMessage(f"the message body is not JSON: {str(exc)[:200]}") from None
    if isinstance(payload, dict) and payload.get("Event") == "s3:TestEvent":
        return None
    if not isinstance(payload, dict) or not is_s3_notification(payload):
        raise UndeliverableMessage("the message body is not an S3 event notification")
    return payload


def handle_upload_queue(event: dict, s3: Any, service: CaptionService, options: CaptionOptions,
                        max_bytes: int) -> dict:
    """`{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}` for the messages to retry."""
    # Imported here: an API cold start never needs Powertools' batch utilities (about 30 ms).
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    problems: dict[str, Exception] = {}
    named: list[tuple[str, ObjectRef]] = []
    for record in event["Records"]:
        message_id = record.get("messageId", "")
        try:
            notification = _notification(record.get("body"))
        except UndeliverableMessage as exc:
            log.error("undeliverable upload-queue message",
                      extra={"messageId": message_id, "error": str(exc)})
            problems[message_id] = exc
            continue
        if notification is None:
            log.info("S3 test event", extra={"messageId": message_id})
            continue
        refs, _ = notification_refs(notification["Records"])  # malformed ones: logged, counted
        named.extend((message_id, ref) for ref in refs)

    results = caption_and_report(s3, service, [ref for _, ref in named], options, max_bytes)
    for (message_id, _), result in zip(named, results, strict=True):
        if isinstance(result, TransientS3Error):
            problems.setdefault(message_id, result)

    def answer(record: SQSRecord) -> None:
        if record.message_id in problems:
            raise problems[record.message_id]

    # With every message failed, Powertools raises: the invocation is an error (an alarm sees
    # it) and SQS retries the whole batch, which is what a partial answer would also do.
    return process_partial_response(event=event, record_handler=answer,
                                    processor=BatchProcessor(event_type=EventType.SQS))
