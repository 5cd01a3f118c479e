"""Created S3 objects (however the news came: caption.object_events) and S3 Batch Operations
tasks, turned into captioning.

Every record or task is checked before any object is touched: a malformed one gets a clear,
logged result of its own (retrying could never fix it), and the well-formed ones are captioned
together, their images encoded in batches (caption.s3_captioning.caption_objects).
"""

from __future__ import annotations

import logging
from typing import Any

from caption.object_events import (
    checked_location,
    created_objects,
    decoded_key,
    optional_text,
)
from caption.s3_captioning import ObjectRef, Outcome, TransientS3Error, caption_objects
from caption.service import CaptionOptions, CaptionService
from caption.telemetry import record_outcome

log = logging.getLogger(__name__)

class MalformedEvent(ValueError):
    """The event has the outline of a Batch Operations event but not its content."""


def is_batch_operation(event: dict) -> bool:
    return ("invocationSchemaVersion" in event and "tasks" in event
            and event.get("invocationSchemaVersion") in ("1.0", "2.0"))


def caption_and_report(s3: Any, service: CaptionService, refs: list[ObjectRef],
                       options: CaptionOptions, max_bytes: int
                       ) -> list[Outcome | TransientS3Error]:
    """caption_objects, with one log line and the metrics for each object."""
    results = caption_objects(s3, service, refs, options, max_bytes)
    for result in results:
        if isinstance(result, TransientS3Error):
            log.error("transient S3 error; the object will be retried",
                      extra={"error": str(result)})
            continue
        record_outcome(result)
        if result.status == "failed":
            log.error("s3 object failed", extra=result.to_json())
        else:
            log.info("s3 object %s", result.status, extra=result.to_json())
    return results


def handle_object_event(event: dict, s3: Any, service: CaptionService,
                        options: CaptionOptions, max_bytes: int) -> dict:
    """Caption every object an S3 notification, S3's EventBridge event or an SNS message
    around either says was created (caption.object_events). Raises UnsupportedEvent for one
    that names no created object, and a TransientS3Error only if some object hit a transient
    S3 error, after trying all of them: Lambda then retries the event, and the objects already
    done are recognised as captioned and skipped."""
    created = created_objects(event)
    outcomes = list(created.malformed)
    transient: list[str] = []
    for result in caption_and_report(s3, service, created.refs, options, max_bytes):
        if isinstance(result, TransientS3Error):
            transient.append(str(result))
        else:
            outcomes.append(result)
    if transient:
        raise TransientS3Error(f"{len(transient)} object(s) failed transiently: {transient[0]}")
    return {"results": [o.to_json() for o in outcomes]}


def _task_ref(schema: str, task: dict) -> ObjectRef:
    if schema == "1.0":
        arn = task.get("s3BucketArn")
        bucket = arn.split(":::", 1)[-1] if isinstance(arn, str) and ":::" in arn else arn
    else:
        bucket = task.get("s3Bucket")
    name, key = checked_location(bucket, decoded_key(task.get("s3Key")))
    return ObjectRef(name, key, optional_text(task.get("s3VersionId")))


def _validate_batch(event: dict) -> list[dict]:
    """The tasks, once the event is known to be answerable; MalformedEvent before any work."""
    invocation, tasks = event.get("invocationId"), event.get("tasks")
    if not isinstance(invocation, str) or not invocation:
        raise MalformedEvent("Batch Operations event without an invocationId")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise MalformedEvent("Batch Operations 'tasks' must be a list of task objects")
    if not all(isinstance(t.get("taskId"), str) and t["taskId"] for t in tasks):
        raise MalformedEvent("every Batch Operations task needs a taskId")
    return tasks


def handle_batch_operation(event: dict, s3: Any, service: CaptionService,
                           options: CaptionOptions, max_bytes: int) -> dict:
    """One result per task, as S3 Batch Operations expects: Succeeded, TemporaryFailure (it
    retries) or PermanentFailure (it reports). Objects skipped as already captioned succeed;
    objects that cannot be captioned (not an image, too large, an invalid bucket name) fail
    permanently, so the job's completion report lists them."""
    schema = event["invocationSchemaVersion"]
    tasks = _validate_batch(event)
    results: dict[str, dict] = {}
    pending: list[tuple[str, ObjectRef]] = []
    for task in tasks:
        try:
            pending.append((task["taskId"], _task_ref(schema, task)))
        except ValueError as exc:
            log.error("malformed Batch Operations task",
                      extra={"taskId": task["taskId"], "error": str(exc)})
            record_outcome(Outcome("", "", "failed", str(exc), code="malformed_task"))
            results[task["taskId"]] = {"taskId": task["taskId"], "resultCode": "PermanentFailure",
                                       "resultString": f"malformed task: {exc}"[:1000]}
    outcomes = caption_and_report(s3, service, [ref for _, ref in pending], options, max_bytes)
    for (task_id, _), outcome in zip(pending, outcomes, strict=True):
        if isinstance(outcome, TransientS3Error):
            results[task_id] = {"taskId": task_id, "resultCode": "TemporaryFailure",
                                "resultString": str(outcome)[:1000]}
            continue
        succeeded = outcome.status == "captioned" or outcome.reason.startswith(
            ("already captioned", "changed:"))
        text = outcome.caption if outcome.status == "captioned" else outcome.reason
        results[task_id] = {"taskId": task_id,
                            "resultCode": "Succeeded" if succeeded else "PermanentFailure",
                            "resultString": f"{outcome.status}: {text}"[:1000]}
    return {"invocationSchemaVersion": schema, "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event["invocationId"],
            "results": [results[task["taskId"]] for task in tasks]}
