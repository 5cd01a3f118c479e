"""Caption S3 objects in place: read them, caption them, write each caption into its metadata.

The write is an in-place copy that replaces only the user metadata: the bytes, the user's other
metadata, the standard headers, storage class, encryption and tags stay. It is conditional on
the ETag we read, so a newer upload that lands meanwhile is never overwritten, and it is skipped
when the object already carries a caption from this model, so retries, replays and the Copy
event our own write causes end there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from caption.errors import CaptionError
from caption.metadata import MODEL, MetadataFull, caption_metadata
from caption.service import CaptionOptions, CaptionResult, CaptionService

# Headers S3 stores with an object that a metadata-replacing copy would otherwise reset.
_KEPT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                 "ContentLanguage", "WebsiteRedirectLocation")
# Expires is kept as the exact text the object has (see _send_expires_verbatim).
_EXPIRES_VERBATIM = "CaptionExpiresVerbatim"
# S3 error codes that will not go away by retrying.
_PERMANENT = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "AccessDenied", "InvalidObjectState",
              "InvalidRequest", "404", "403", "400", "405", "MethodNotAllowed",
              "KMS.DisabledException", "MetadataTooLarge"}


_REPLACED = "changed: a newer upload replaced the object; its own event captions it"
_CUSTOMER_KEY = "encrypted with a customer key we do not hold (SSE-C)"
_HEAD_REFUSED = ("S3 refused to read the object's headers (400): encrypted with a customer key "
                 "we do not hold (SSE-C), or a malformed key")


class TransientS3Error(Exception):
    """S3 failed in a way a retry may fix (throttling, 5xx, network)."""


@dataclass(frozen=True)
class Outcome:
    bucket: str
    key: str
    status: str  # captioned | skipped | failed
    reason: str = ""
    caption: str = ""
    # A fixed, short name for the reason (a metric dimension; the reason text varies).
    code: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v and k != "code"}


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


# Objects read and encoded together; bounds the bytes held at once (8 x the object cap).
BATCH = 8


@dataclass
class _Pending:
    """An object read and ready to caption, with what the conditional copy needs."""

    ref: ObjectRef
    head: dict
    data: bytes


def caption_objects(s3: Any, service: CaptionService, refs: list[ObjectRef],
                    options: CaptionOptions, max_bytes: int
                    ) -> list[Outcome | TransientS3Error]:
    """Caption several objects, one outcome (or transient error) per ref, in order. Objects are
    read, then encoded as one batch, then written; each fails or succeeds on its own."""
    outcomes: list[Outcome | TransientS3Error] = []
    for start in range(0, len(refs), BATCH):
        chunk = refs[start:start + BATCH]
        read = [_guarded(ref, lambda r=ref: _read_for_caption(s3, service, r, max_bytes))
                for ref in chunk]
        pending = [item for item in read if isinstance(item, _Pending)]
        results = iter(service.caption_many([p.data for p in pending], options))
        for ref, item in zip(chunk, read, strict=True):
            if not isinstance(item, _Pending):
                outcomes.append(item)
                continue
            result = next(results)
            item.data = b""  # the bytes are no longer needed; free them before the copy
            outcomes.append(_guarded(ref, lambda i=item, r=result: _write_caption(
                s3, service, i, r)))
    return outcomes


def _guarded(ref: ObjectRef, step) -> Any:
    """Run one object's S3 step, turning S3 errors into an Outcome or a TransientS3Error."""
    bucket, key = ref.bucket, ref.key
    try:
        return step()
    except ClientError as exc:
        if _error_code(exc) in ("PreconditionFailed", "412"):  # from IfMatch / CopySourceIfMatch
            return Outcome(bucket, key, "skipped", _REPLACED, code="replaced")
        if _is_permanent(exc):  # logged by the caller, once, with the outcome
            return Outcome(bucket, key, "failed", f"s3_error: {_error_code(exc)}", code="s3_error")
        return _transient(bucket, key, _error_code(exc) or str(exc), exc)
    except ParamValidationError as exc:  # botocore refused the request: retrying cannot help
        return Outcome(bucket, key, "failed", f"invalid_request: {exc}"[:500],
                       code="invalid_request")
    except BotoCoreError as exc:  # connection resets, timeouts
        return _transient(bucket, key, str(exc), exc)


def _transient(bucket: str, key: str, why: str, cause: Exception) -> TransientS3Error:
    error = TransientS3Error(f"s3://{bucket}/{key}: {why}")
    error.__cause__ = cause
    return error


def _send_expires_verbatim(s3: Any) -> None:
    """Let copy_object carry an Expires header exactly as the object has it.

    botocore parses Expires into a date (dropping values it cannot parse, like "never", and
    rewriting "0" as 1970) and would send its own rendering back. Instead the raw header text
    rides in a parameter of ours, taken out before botocore validates the call and written
    into the request's headers as it is. Registered once per client."""
    events = s3.meta.events
    if getattr(s3.meta, "_caption_expires_hooked", False):
        return

    def take(params: dict, context: dict, **_: Any) -> None:
        if _EXPIRES_VERBATIM in params:
            context[_EXPIRES_VERBATIM] = params.pop(_EXPIRES_VERBATIM)

    def put(params: dict, context: dict, **_: Any) -> None:
        if _EXPIRES_VERBATIM in context:
            params["headers"]["Expires"] = context[_EXPIRES_VERBATIM]

    events.register_first("before-parameter-build.s3.CopyObject", take)
    events.register_first("before-call.s3.CopyObject", put)
    s3.meta._caption_expires_hooked = True


def _raw_expires(head: dict) -> str | None:
    """The object's Expires header as S3 stores it, or None where it has none. botocore keeps
    the raw text as ExpiresString, and drops a value it cannot parse ("never") from the
    response's HTTPHeaders, so the headers alone would lose it."""
    raw = head.get("ExpiresString")
    if raw is None:
        raw = head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("expires")
    return raw


def _read_for_caption(s3: Any, service: CaptionService, ref: ObjectRef, max_bytes: int
                      ) -> Outcome | _Pending:
    bucket, key = ref.bucket, ref.key
    # Always the current version: copying an older version onto the key would resurrect it.
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in ("404", "NoSuchKey", "NoSuchVersion"):
            return Outcome(bucket, key, "skipped", "gone: the object no longer exists", code="gone")
        if _error_code(exc) in ("400", "BadRequest"):
            # S3 answers a HEAD without the customer's key on an SSE-C object with a bare 400
            # (a HEAD has no body to say more); nothing else about an object we were notified
            # of draws one, short of a malformed key, which retrying would not fix either.
            return Outcome(bucket, key, "skipped", _HEAD_REFUSED, code="head_refused")
        raise
    replaced = Outcome(bucket, key, "skipped", _REPLACED, code="replaced")
    if ref.version_id and head.get("VersionId") and head["VersionId"] != ref.version_id:
        return replaced
    if ref.etag and head["ETag"].strip('"') != ref.etag.strip('"'):
        return replaced
    metadata = head.get("Metadata", {})
    if metadata.get(MODEL) == service.model_id:
        return Outcome(bucket, key, "skipped", "already captioned by this model",
                       metadata.get("caption", ""), code="already_captioned")
    size = head.get("ContentLength", 0)
    if size > max_bytes:
        return Outcome(bucket, key, "skipped", f"too_large: {size} bytes > {max_bytes}",
                       code="too_large")
    if head.get("SSECustomerAlgorithm"):
        return Outcome(bucket, key, "skipped", _CUSTOMER_KEY, code="customer_key")

    body = s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    return _Pending(ref, head, data)


def _write_caption(s3: Any, service: CaptionService, pending: _Pending,
                   result: CaptionResult | CaptionError) -> Outcome:
    bucket, key, head = pending.ref.bucket, pending.ref.key, pending.head
    if isinstance(result, CaptionError):
        return Outcome(bucket, key, "skipped", f"{result.code}: {result.message}",
                       code=result.code)
    try:
        new_metadata = caption_metadata(head.get("Metadata", {}), result.captions,
                                        service.model_id, result.labels, result.objects)
    except MetadataFull as exc:
        return Outcome(bucket, key, "skipped", f"metadata_full: {exc}", code="metadata_full")
    etag = head["ETag"]

    copy_args: dict[str, Any] = {h: head[h] for h in _KEPT_HEADERS if head.get(h)}
    raw_expires = _raw_expires(head)
    if raw_expires is not None:
        _send_expires_verbatim(s3)
        copy_args[_EXPIRES_VERBATIM] = raw_expires
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
