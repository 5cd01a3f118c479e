"""Expires kept verbatim through the in-place copy, against moto's server over HTTP.

S3 stores an Expires header as it was sent, "never" included; botocore parses it on the way
back and drops what it cannot parse from the response's headers. The in-process moto mock drops
such values on upload, so this runs moto's real server and reads the request we send."""

from __future__ import annotations

import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

import caption.app as app
from caption.s3_captioning import ObjectRef, caption_objects
from caption.service import CaptionOptions

BUCKET = "expires-verbatim"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server_client():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                              region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        server.stop()


@pytest.mark.parametrize("raw", ["never", "0", "-1", "2030-01-01T00:00:00Z",
                                 "Wed, 01 Jan 2031 00:00:00 GMT"])
def test_expires_goes_out_and_stays_as_the_user_wrote_it(server_client, photos, raw):
    key = f"expires/{raw}.jpg"

    def send_raw(params, **_):
        params["headers"]["Expires"] = raw

    server_client.meta.events.register("before-call.s3.PutObject", send_raw)
    try:
        server_client.put_object(Bucket=BUCKET, Key=key, Body=photos["sample"])
    finally:
        server_client.meta.events.unregister("before-call.s3.PutObject", send_raw)
    assert server_client.head_object(Bucket=BUCKET, Key=key)["ExpiresString"] == raw

    sent: list[str | None] = []

    def capture(request, **_):
        sent.append(request.headers.get("Expires"))

    server_client.meta.events.register("before-send.s3.CopyObject", capture)
    try:
        (outcome,) = caption_objects(server_client, app.service, [ObjectRef(BUCKET, key)],
                                     CaptionOptions(), 10 * 1024 * 1024)
    finally:
        server_client.meta.events.unregister("before-send.s3.CopyObject", capture)

    assert outcome.status == "captioned", outcome
    assert [value.decode() if isinstance(value, bytes) else value for value in sent] == [raw]
    after = server_client.head_object(Bucket=BUCKET, Key=key)
    assert after["ExpiresString"] == raw
    assert after["Metadata"]["caption"] == outcome.caption
