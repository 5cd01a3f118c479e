"""Caption one S3 object in place: read it, caption it, write the caption into its metadata.

The write is an in-place copy that replaces only the user metadata: the bytes, the user's other
metadata, the standard headers, storage class, encryption and tags stay. It is conditional on
the ETag we read, so a newer upload that lands meanwhile is never overwritten, and it is skipped
when the object already carries a caption from this model, so retries, replays and the Copy
event our own write causes end there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from caption.errors import CaptionError
from caption.metadata import MODEL, MetadataFull, caption_metadata
from caption.service import CaptionOptions, CaptionService

log = logging.getLogger(__name__)

# Headers S3 stores with an object that a metadata-replacing copy would otherwise reset.
_KEPT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                 "ContentLanguage", "Expires", "WebsiteRedirectLocation")
# S3 error codes that will not go away by retrying.
_PERMANENT = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "AccessDenied", "InvalidObjectState",
              "InvalidRequest", "404", "403", "400", "405", "MethodNotAllowed",
              "KMS.DisabledException", "MetadataTooLarge"}


_REPLACED = "changed: a newer upload replaced the object; its own event captions it"


class TransientS3Error(Exception):
    """S3 failed in a way a retry may fix (throttling, 5xx, network)."""


@dataclass(frozen=True)
class Outcome:
    bucket: str
    key: str
    status: str  # captioned | skipped | failed
    reason: str = ""
    caption: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_permanent(exc: ClientError) -> bool:
    return _error_code(exc) in _PERMANENT


@dataclass(frozen=True)
class ObjectRef:
    """An object as an event names it. version_id and etag, when known, pin the upload that
    caused the event: a newer one gets its own event, so ours then has nothing to do."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None


def caption_object(s3: Any, service: CaptionService, ref: ObjectRef, options: CaptionOptions,
                   max_bytes: int) -> Outcome:
    """Returns what happened; raises TransientS3Error only when a retry may succeed."""
    bucket, key = ref.bucket, ref.key
    try:
        return _caption_object(s3, service, ref, options, max_bytes)
    except ClientError as exc:
        if _error_code(exc) in ("PreconditionFailed", "412"):  # from IfMatch / CopySourceIfMatch
            return Outcome(bucket, key, "skipped", _REPLACED)
        if _is_permanent(exc):
            log.warning("permanent S3 error", extra={"bucket": bucket, "key": key,
                                                     "s3_error": _error_code(exc)})
            return Outcome(bucket, key, "failed", f"s3_error: {_error_code(exc)}")
        raise TransientS3Error(f"s3://{bucket}/{key}: {_error_code(exc) or exc}") from exc
    except BotoCoreError as exc:  # connection resets, timeouts
        raise TransientS3Error(f"s3://{bucket}/{key}: {exc}") from exc


def _caption_object(s3: Any, service: CaptionService, ref: ObjectRef, options: CaptionOptions,
                    max_bytes: int) -> Outcome:
    bucket, key = ref.bucket, ref.key
    # Always the current version: copying an older version onto the key would resurrect it.
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NoSuchVersion"):
            return Outcome(bucket, key, "skipped", "gone: the object no longer exists")
        raise
    replaced = Outcome(bucket, key, "skipped", _REPLACED)
    if ref.version_id and head.get("VersionId") and head["VersionId"] != ref.version_id:
        return replaced
    if ref.etag and head["ETag"].strip('"') != ref.etag.strip('"'):
        return replaced
    metadata = head.get("Metadata", {})
    if metadata.get(MODEL) == service.model_id:
        return Outcome(bucket, key, "skipped", "already captioned by this model",
                       metadata.get("caption", ""))
    size = head.get("ContentLength", 0)
    if size > max_bytes:
        return Outcome(bucket, key, "skipped", f"too_large: {size} bytes > {max_bytes}")
    if head.get("SSECustomerAlgorithm"):
        return Outcome(bucket, key, "skipped", "encrypted with a customer key we do not hold")
    etag = head["ETag"]

    body = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    try:
        result = service.caption_bytes(data, options)
        new_metadata = caption_metadata(metadata, result.captions, service.model_id)
    except CaptionError as exc:
        return Outcome(bucket, key, "skipped", f"{exc.code}: {exc.message}")
    except MetadataFull as exc:
        return Outcome(bucket, key, "skipped", f"metadata_full: {exc}")

    copy_args: dict[str, Any] = {h: head[h] for h in _KEPT_HEADERS if head.get(h)}
    if head.get("StorageClass"):
        copy_args["StorageClass"] = head["StorageClass"]
    if head.get("ServerSideEncryption") == "aws:kms":
        copy_args["ServerSideEncryption"] = "aws:kms"
        if head.get("SSEKMSKeyId"):
            copy_args["SSEKMSKeyId"] = head["SSEKMSKeyId"]
        if head.get("BucketKeyEnabled"):
            copy_args["BucketKeyEnabled"] = True
    elif head.get("ServerSideEncryption"):
        copy_args["ServerSideEncryption"] = head["ServerSideEncryption"]
    s3.copy_object(
        Bucket=bucket, Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        CopySourceIfMatch=etag,  # never overwrite an upload newer than what we captioned
        MetadataDirective="REPLACE", Metadata=new_metadata, TaggingDirective="COPY",
        **copy_args,
    )
    return Outcome(bucket, key, "captioned", caption=new_metadata["caption"])
