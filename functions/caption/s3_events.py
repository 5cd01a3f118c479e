"""S3 `ObjectCreated` notifications and S3 Batch Operations tasks, turned into captioning."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

from caption.s3_captioning import ObjectRef, Outcome, TransientS3Error, caption_object
from caption.service import CaptionOptions, CaptionService

log = logging.getLogger(__name__)


def is_s3_notification(event: dict) -> bool:
    records = event.get("Records")
    return (isinstance(records, list) and bool(records)
            and all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records))


def is_batch_operation(event: dict) -> bool:
    return ("invocationSchemaVersion" in event and "tasks" in event
            and event.get("invocationSchemaVersion") in ("1.0", "2.0"))


def _decode_key(raw: str) -> str:
    # S3 event keys are form-encoded: '+' is a space, non-ASCII is UTF-8 percent-escaped.
    return unquote_plus(raw, encoding="utf-8")


def handle_notification(event: dict, s3: Any, service: CaptionService, options: CaptionOptions,
                        max_bytes: int) -> dict:
    """Caption every created object. Raises only if some record hit a transient S3 error,
    after trying all of them: Lambda then retries the event, and the records already done
    are recognised as captioned and skipped."""
    outcomes: list[Outcome] = []
    transient: list[str] = []
    for record in event["Records"]:
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            log.info("ignoring %s", record.get("eventName"))
            continue
        obj = record["s3"]["object"]
        ref = ObjectRef(record["s3"]["bucket"]["name"], _decode_key(obj["key"]),
                        obj.get("versionId"), obj.get("eTag"))
        try:
            outcome = caption_object(s3, service, ref, options, max_bytes)
        except TransientS3Error as exc:
            log.error("transient S3 error; the event will be retried", extra={"error": str(exc)})
            transient.append(str(exc))
            continue
        log.info("s3 object %s", outcome.status, extra=outcome.to_json())
        outcomes.append(outcome)
    if transient:
        raise TransientS3Error(f"{len(transient)} object(s) failed transiently: {transient[0]}")
    return {"results": [o.to_json() for o in outcomes]}


def _task_location(schema: str, task: dict) -> tuple[str, str]:
    if schema == "1.0":
        bucket = str(task["s3BucketArn"]).split(":::", 1)[-1]
    else:
        bucket = task["s3Bucket"]
    return bucket, _decode_key(task["s3Key"])


def handle_batch_operation(event: dict, s3: Any, service: CaptionService,
                           options: CaptionOptions, max_bytes: int) -> dict:
    """One result per task, as S3 Batch Operations expects: Succeeded, TemporaryFailure (it
    retries) or PermanentFailure (it reports). Objects skipped as already captioned succeed;
    objects that cannot be captioned (not an image, too large) fail permanently, so the job's
    completion report lists them."""
    schema = event["invocationSchemaVersion"]
    results = []
    for task in event["tasks"]:
        try:
            bucket, key = _task_location(schema, task)
        except (KeyError, TypeError):
            results.append({"taskId": task.get("taskId", ""), "resultCode": "PermanentFailure",
                            "resultString": "malformed task: no bucket or key"})
            continue
        ref = ObjectRef(bucket, key, task.get("s3VersionId"))
        try:
            outcome = caption_object(s3, service, ref, options, max_bytes)
        except TransientS3Error as exc:
            results.append({"taskId": task["taskId"], "resultCode": "TemporaryFailure",
                            "resultString": str(exc)[:1000]})
            continue
        succeeded = outcome.status == "captioned" or outcome.reason.startswith(
            ("already captioned", "changed:"))
        text = outcome.caption if outcome.status == "captioned" else outcome.reason
        results.append({"taskId": task["taskId"],
                        "resultCode": "Succeeded" if succeeded else "PermanentFailure",
                        "resultString": f"{outcome.status}: {text}"[:1000]})
    return {"invocationSchemaVersion": schema, "treatMissingKeysAs": "PermanentFailure",
            "invocationId": event["invocationId"], "results": results}
