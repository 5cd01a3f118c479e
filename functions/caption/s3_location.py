"""Parse `s3://bucket/key` URIs and read objects with a size cap."""

from __future__ import annotations

from dataclasses import dataclass

from caption.errors import CaptionError, malformed, too_large


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://"):
            raise malformed(f"expected an s3://bucket/key URI, got {uri[:100]!r}")
        bucket, _, key = uri[len("s3://"):].partition("/")
        if not bucket or not key:
            raise malformed(f"expected an s3://bucket/key URI, got {uri[:100]!r}")
        return cls(bucket, key)


def read_object(s3, location: S3Location, max_bytes: int) -> bytes:
    """The object's bytes, or a CaptionError with the status a caller of ours should see."""
    # Imported here, where an S3 client already exists: the CLI captioning local files never
    # loads botocore (about 20 ms of its start).
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise CaptionError(404, "object_not_found",
                               f"s3://{location.bucket}/{location.key} does not exist") from None
        if code in ("AccessDenied", "403"):
            message = f"no permission to read s3://{location.bucket}/{location.key}"
            raise CaptionError(403, "access_denied", message) from None
        raise CaptionError(502, "s3_error", f"S3 answered {code or 'an error'}") from None
    except BotoCoreError as exc:  # unreachable endpoint, no credentials, timeouts
        raise CaptionError(502, "s3_error", f"S3 could not be reached: {exc}") from None
    body = response["Body"]
    try:
        if response.get("ContentLength", 0) > max_bytes:
            raise too_large(f"the object is larger than {max_bytes:,} bytes")
        data = body.read(max_bytes + 1)  # one byte over the cap is enough to refuse it
    except BotoCoreError as exc:  # the connection broke while reading
        raise CaptionError(502, "s3_error", f"reading from S3 failed: {exc}") from None
    finally:
        body.close()
    if len(data) > max_bytes:
        raise too_large(f"the object is larger than {max_bytes:,} bytes")
    return data
