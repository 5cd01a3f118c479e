"""S3 ObjectCreated events through the handler, against moto: what we promise a user's objects."""

from __future__ import annotations

import datetime as dt

import pytest

import caption.app as app
from caption.metadata import USER_METADATA_LIMIT
from caption.s3_captioning import TransientS3Error
from caption.s3_events import handle_object_event
from caption.service import CaptionOptions
from tests.conftest import load_event
from tests.s3_helpers import BUCKET, count_calls, fail_calls, s3_event

EXPIRES = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    return s3


def put(s3, key: str, body: bytes, **extra) -> dict:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return s3.head_object(Bucket=BUCKET, Key=key)


def test_the_event_file_captions_its_object_and_keeps_everything_else(bucket, photos, context):
    key = "holiday photos/chelsea the cat.jpg"  # the event file's key, decoded
    before = put(bucket, key, photos["sample"], ContentType="image/jpeg",
                 CacheControl="max-age=3600", ContentDisposition='inline; filename="cat.jpg"',
                 ContentEncoding="identity", ContentLanguage="en", Expires=EXPIRES,
                 Metadata={"owner": "alice", "album": "2026"}, Tagging="project=zoo&keep=yes",
                 StorageClass="STANDARD_IA", ServerSideEncryption="AES256")

    result = app.handler(load_event("s3-put"), context)

    assert result["results"][0]["status"] == "captioned", result
    after = bucket.head_object(Bucket=BUCKET, Key=key)
    meta = after["Metadata"]
    assert meta["owner"] == "alice" and meta["album"] == "2026"
    assert meta["caption"] == result["results"][0]["caption"] and meta["caption"]
    assert 0 < float(meta["caption-score"]) <= 1
    assert meta["caption-model"] == app.service.model_id
    for header in ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding",
                   "ContentLanguage", "Expires", "StorageClass", "ServerSideEncryption"):
        assert after.get(header) == before.get(header), header
    assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == photos["sample"]
    tags = bucket.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("keep", "yes"), ("project", "zoo")]


@pytest.mark.parametrize("key", [
    "a+b/plus+sign.jpg",
    "spaces and+plus/c a t.jpg",
    "unicode/chat-noir-été-猫.jpg",
    "percent/100% real.jpg",
])
def test_keys_are_url_decoded(bucket, photos, context, key):
    head = put(bucket, key, photos["chelsea"], ContentType="image/jpeg")
    result = app.handler(s3_event(key, head["ETag"]), context)
    assert result["results"][0]["status"] == "captioned", result
    assert "caption" in bucket.head_object(Bucket=BUCKET, Key=key)["Metadata"]


def test_replays_and_our_own_copy_events_do_not_rewrite(bucket, photos, context):
    key = "cat.jpg"
    head = put(bucket, key, photos["chelsea"])
    copies = count_calls(bucket, "CopyObject")
    app.handler(s3_event(key, head["ETag"]), context)
    captioned = bucket.head_object(Bucket=BUCKET, Key=key)
    replay = app.handler(s3_event(key, head["ETag"]), context)
    own_copy = app.handler(s3_event(key, captioned["ETag"], "ObjectCreated:Copy"), context)
    assert len(copies) == 1
    assert replay["results"][0]["status"] == "skipped"
    assert own_copy["results"][0]["reason"].startswith("already captioned")
    assert bucket.head_object(Bucket=BUCKET, Key=key)["LastModified"] == captioned["LastModified"]


def test_a_newer_upload_during_captioning_is_never_clobbered(bucket, photos, context):
    key = "race.jpg"
    head = put(bucket, key, photos["chelsea"])

    def upload_newer(**_):  # lands between our read and our write
        bucket.meta.events.unregister("before-call.s3.CopyObject", upload_newer)
        bucket.put_object(Bucket=BUCKET, Key=key, Body=photos["coffee"],
                          Metadata={"v": "2"})

    bucket.meta.events.register_first("before-call.s3.CopyObject", upload_newer)
    result = app.handler(s3_event(key, head["ETag"]), context)
    assert result["results"][0]["reason"].startswith("changed")
    obj = bucket.get_object(Bucket=BUCKET, Key=key)
    assert obj["Body"].read() == photos["coffee"]
    assert obj["Metadata"] == {"v": "2"}


def test_an_event_for_a_replaced_upload_does_nothing(bucket, photos, context):
    old = put(bucket, "swap.jpg", photos["chelsea"])
    put(bucket, "swap.jpg", photos["coffee"])
    copies = count_calls(bucket, "CopyObject")
    result = app.handler(s3_event("swap.jpg", old["ETag"]), context)
    assert result["results"][0]["reason"].startswith("changed")
    assert copies == []


def test_versioned_bucket_captions_only_the_current_version(bucket, photos, context):
    bucket.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = bucket.put_object(Bucket=BUCKET, Key="v.jpg", Body=photos["chelsea"])["VersionId"]
    v2 = bucket.put_object(Bucket=BUCKET, Key="v.jpg", Body=photos["coffee"])["VersionId"]
    stale = app.handler(s3_event("v.jpg", version_id=v1), context)
    assert stale["results"][0]["reason"].startswith("changed")
    fresh = app.handler(s3_event("v.jpg", version_id=v2), context)
    assert fresh["results"][0]["status"] == "captioned"
    current = bucket.get_object(Bucket=BUCKET, Key="v.jpg")
    assert current["Body"].read() == photos["coffee"]
    versions = bucket.list_object_versions(Bucket=BUCKET, Prefix="v.jpg")["Versions"]
    assert len(versions) == 3  # v1, v2 and the captioned copy of v2


@pytest.mark.parametrize("body", [b"plain text, not a picture", b"\xff\xd8\xff\xe0truncated"])
def test_non_images_are_skipped_untouched_without_an_error(bucket, context, body):
    head = put(bucket, "notes.jpg", body, ContentType="image/jpeg", Metadata={"x": "1"})
    result = app.handler(s3_event("notes.jpg", head["ETag"]), context)
    assert result["results"][0]["status"] == "skipped"
    after = bucket.head_object(Bucket=BUCKET, Key="notes.jpg")
    assert after["Metadata"] == {"x": "1"} and after["ETag"] == head["ETag"]
    assert after["LastModified"] == head["LastModified"]


def test_objects_over_the_size_cap_are_skipped_unread(bucket, photos):
    put(bucket, "big.jpg", photos["chelsea"])
    reads = count_calls(bucket, "GetObject")
    result = handle_object_event(s3_event("big.jpg"), bucket, app.service, CaptionOptions(),
                                 max_bytes=1000)
    assert result["results"][0]["reason"].startswith("too_large")
    assert reads == []


def test_metadata_stays_within_the_2kb_limit(bucket, photos, context):
    head = put(bucket, "full.jpg", photos["chelsea"], Metadata={"notes": "n" * 1900})
    app.handler(s3_event("full.jpg", head["ETag"]), context)
    meta = bucket.head_object(Bucket=BUCKET, Key="full.jpg")["Metadata"]
    assert meta["notes"] == "n" * 1900 and "caption" in meta
    assert sum(len(k) + len(v) for k, v in meta.items()) <= USER_METADATA_LIMIT


def test_no_room_at_all_leaves_the_object_alone(bucket, photos, context):
    head = put(bucket, "packed.jpg", photos["chelsea"], Metadata={"notes": "n" * 2030})
    result = app.handler(s3_event("packed.jpg", head["ETag"]), context)
    assert result["results"][0]["reason"].startswith("metadata_full")
    assert bucket.head_object(Bucket=BUCKET, Key="packed.jpg")["Metadata"] == {"notes": "n" * 2030}


def test_transient_s3_errors_raise_so_lambda_retries(bucket, photos, context):
    head = put(bucket, "slow.jpg", photos["chelsea"])
    put(bucket, "fine.jpg", photos["chelsea"])
    event = s3_event("slow.jpg", head["ETag"])
    event["Records"].append(s3_event("fine.jpg")["Records"][0])
    fail_calls(bucket, "CopyObject", 503, "SlowDown")
    with pytest.raises(TransientS3Error, match="SlowDown"):
        app.handler(event, context)


def test_permanent_s3_errors_do_not_raise(bucket, photos, context):
    put(bucket, "locked.jpg", photos["chelsea"])
    fail_calls(bucket, "GetObject", 403, "AccessDenied")
    result = app.handler(s3_event("locked.jpg"), context)
    assert result["results"][0] == {"bucket": BUCKET, "key": "locked.jpg", "status": "failed",
                                    "reason": "s3_error: AccessDenied"}


def test_deleted_objects_are_skipped(bucket, context):
    result = app.handler(s3_event("gone.jpg"), context)
    assert result["results"][0]["reason"].startswith("gone")


def test_unknown_events_raise_a_clear_error(context):
    with pytest.raises(ValueError, match="unsupported event"):
        app.handler({"hello": "world"}, context)


@pytest.mark.parametrize("mangle", [
    lambda r: r.pop("s3"),
    lambda r: r.update(s3=None),
    lambda r: r["s3"].pop("bucket"),
    lambda r: r["s3"]["object"].pop("key"),
    lambda r: r["s3"]["object"].update(key=12345),
    lambda r: r["s3"]["bucket"].update(name=""),
    lambda r: r["s3"]["bucket"].update(name="Not A Bucket!"),
], ids=["no-s3", "s3-null", "no-bucket", "no-key", "integer-key", "empty-bucket",
        "invalid-bucket"])
def test_malformed_records_fail_alone_without_a_retry(bucket, photos, context, mangle):
    """A malformed record is reported and logged; it never raises (Lambda would retry it twice
    and send it to the failure queue) and never stops the good record beside it."""
    head = put(bucket, "good.jpg", photos["sample"])
    event = s3_event("good.jpg", head["ETag"])
    broken = s3_event("whatever.jpg")["Records"][0]
    mangle(broken)
    event["Records"].insert(0, broken)
    result = app.handler(event, context)
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["failed", "captioned"], result
    assert "malformed_record 0" in result["results"][0]["reason"]


# "never" too: tests/test_expires_on_moto_server.py (the in-process mock drops it on upload).
@pytest.mark.parametrize("raw", ["0", "-1", "2030-01-01T00:00:00Z",
                                 "Wed, 01 Jan 2031 00:00:00 GMT"])
def test_expires_is_kept_exactly_as_the_user_wrote_it(bucket, photos, context, raw):
    def raw_expires(params, **_):
        params["headers"]["Expires"] = raw

    bucket.meta.events.register("before-call.s3.PutObject", raw_expires)
    try:
        head = put(bucket, "e.jpg", photos["sample"])
    finally:
        bucket.meta.events.unregister("before-call.s3.PutObject", raw_expires)
    assert head["ResponseMetadata"]["HTTPHeaders"]["expires"] == raw
    result = app.handler(s3_event("e.jpg", head["ETag"]), context)
    assert result["results"][0]["status"] == "captioned"
    after = bucket.head_object(Bucket=BUCKET, Key="e.jpg")
    assert after["ResponseMetadata"]["HTTPHeaders"]["expires"] == raw
    assert after["Metadata"]["caption"]


def test_sse_c_objects_are_skipped_as_documented(bucket, photos, context):
    """S3 refuses a HEAD without the customer's key with a bare 400."""
    head = put(bucket, "secret.jpg", photos["sample"])
    fail_calls(bucket, "HeadObject", 400, "400")
    result = app.handler(s3_event("secret.jpg", head["ETag"]), context)
    outcome = result["results"][0]
    assert outcome["status"] == "skipped" and "customer key" in outcome["reason"]
