"""Helpers for S3 tests: AWS-shaped events for any object, and injected S3 failures."""

from __future__ import annotations

from urllib.parse import quote_plus

from botocore.awsrequest import AWSResponse

from tests.conftest import load_event

BUCKET = "caption-demo-bucket"


def s3_event(key: str, etag: str | None = None, event_name: str = "ObjectCreated:Put",
             version_id: str | None = None, size: int = 1) -> dict:
    """events/s3-put.json re-aimed at `key`, which is encoded the way S3 encodes it."""
    event = load_event("s3-put")
    record = event["Records"][0]
    record["eventName"] = event_name
    obj = record["s3"]["object"]
    obj["key"] = quote_plus(key, safe="/")
    obj["size"] = size
    if etag is None:
        obj.pop("eTag")
    else:
        obj["eTag"] = etag.strip('"')
    if version_id:
        obj["versionId"] = version_id
    return event


def fail_calls(client, operation: str, status: int, code: str) -> None:
    """Make every `operation` call answer like S3 would with an error, before the network."""

    def answer(**_):
        response = AWSResponse(f"https://{BUCKET}.s3.amazonaws.com/", status, {}, None)
        return response, {"Error": {"Code": code, "Message": f"injected {code}"},
                          "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(f"before-call.s3.{operation}", answer)


def count_calls(client, operation: str) -> list:
    calls: list = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda **kw: calls.append(1))
    return calls


def enforce_copy_source_if_match(client) -> None:
    """moto ignores CopyObject's `x-amz-copy-source-if-match` (it implements only
    if-none-match); S3 answers 412 PreconditionFailed when the source's ETag differs. This
    applies that documented rule in front of moto so the race tests see real S3 semantics."""
    from urllib.parse import unquote

    def check(params, **_):
        headers = params.get("headers", {})
        expected = headers.get("x-amz-copy-source-if-match")
        if not expected:
            return None
        source = unquote(str(headers["x-amz-copy-source"]).lstrip("/"))
        bucket, _, key = source.partition("/")
        key = key.split("?versionId=")[0]
        current = client.head_object(Bucket=bucket, Key=key)["ETag"]
        if current.strip('"') == expected.strip('"'):
            return None
        response = AWSResponse(f"https://{bucket}.s3.amazonaws.com/", 412, {}, None)
        return response, {"Error": {"Code": "PreconditionFailed",
                                    "Message": "At least one of the pre-conditions you "
                                               "specified did not hold"},
                          "ResponseMetadata": {"HTTPStatusCode": 412}}

    client.meta.events.register("before-call.s3.CopyObject", check)
