"""News of created S3 objects that arrives through the upload queue: S3's notification (S3 ->
SQS), S3's EventBridge event (S3 -> EventBridge rule -> SQS, the stack's `UploadEvents=
EventBridge`), or either inside SNS's envelope (a queue subscribed to a topic); all read by
caption.object_events.

Each message carries one event. The objects of all the messages in a batch are
captioned together (their images encoded in batches), then each message is answered on its own
through Powertools' partial batch response: a message whose object hit a transient S3 error, or
whose body names no created object, is reported as a batch item failure, so SQS delivers that
message again (and after the queue's maxReceiveCount, moves it to the dead-letter queue) while
the others are deleted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from caption.object_events import CreatedObjects, UnsupportedEvent, created_objects_in
from caption.s3_captioning import ObjectRef, TransientS3Error
from caption.s3_events import caption_and_report
from caption.service import CaptionOptions, CaptionService

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

log = logging.getLogger(__name__)


class UndeliverableMessage(ValueError):
    """A queue message that names no created object; it goes to the dead-letter queue."""


def is_sqs_event(event: dict) -> bool:
    records = event.get("Records")
    return (isinstance(records, list) and bool(records)
            and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records))


def _created(body: Any) -> CreatedObjects:
    """The objects a message says were created; none for the test event S3 sends when the
    notification is configured."""
    try:
        return created_objects_in(body, "the message body")
    except UnsupportedEvent as exc:
        raise UndeliverableMessage(str(exc)) from None


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
            created = _created(record.get("body"))  # malformed records: logged, counted
        except UndeliverableMessage as exc:
            log.error("undeliverable upload-queue message",
                      extra={"messageId": message_id, "error": str(exc)})
            problems[message_id] = exc
            continue
        named.extend((message_id, ref) for ref in created.refs)

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
