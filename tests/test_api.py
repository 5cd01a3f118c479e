"""The HTTPS API, through API Gateway-shaped events (Mangum) and directly (TestClient)."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import caption.app as app
from caption.api import create_app
from tests.conftest import load_event


@pytest.fixture(scope="module")
def client():
    return TestClient(app.api)


def invoke(event, context) -> tuple[int, dict | str]:
    response = app.handler(event, context)
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    content_type = {k.lower(): v for k, v in response.get("headers", {}).items()}.get(
        "content-type", "")
    return response["statusCode"], json.loads(body) if "json" in content_type else body


def assert_error(status_and_body, status: int, code: str):
    got_status, body = status_and_body
    assert got_status == status, body
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_http_api_upload_event(context):
    status, body = invoke(load_event("api-http-upload"), context)
    assert status == 200, body
    assert len(body["captions"]) == 2  # the event asks for num_captions=2
    assert body["captions"][0]["score"] >= body["captions"][1]["score"]
    assert all(c["text"] and 0 < c["score"] <= 1 for c in body["captions"])
    assert body["image"] == {"width": 160, "height": 120, "format": "jpeg"}
    assert body["model"] == {"name": app.service.captioner.info.name,
                             "version": app.service.captioner.info.version}
    assert body["timings_ms"]["total"] >= body["timings_ms"]["inference"] > 0


def test_rest_api_upload_event(context):
    status, body = invoke(load_event("api-rest-upload"), context)
    assert status == 200, body
    assert len(body["captions"]) == 3


def rest_get(path: str) -> dict:
    event = load_event("api-rest-upload")
    event.update(httpMethod="GET", path=path, body=None, isBase64Encoded=False,
                 pathParameters={"proxy": path.lstrip("/")})
    event["requestContext"].update(httpMethod="GET", path=f"/Prod{path}")
    return event


def test_docs_work_behind_a_rest_stage_prefix(context):
    status, page = invoke(rest_get("/docs"), context)
    assert status == 200
    assert "/Prod/openapi.json" in page
    status, spec = invoke(rest_get("/openapi.json"), context)
    assert status == 200
    assert "/captions" in spec["paths"]
    assert {"url": "/Prod"} in spec.get("servers", [])


def test_healthz_through_http_api(context):
    event = load_event("api-http-upload")
    event.update(rawPath="/healthz", rawQueryString="", body=None, isBase64Encoded=False)
    event.pop("queryStringParameters")
    event["requestContext"]["http"].update(method="GET", path="/healthz")
    status, body = invoke(event, context)
    assert status == 200
    assert body["status"] == "ok"
    assert body["model"]["name"] == app.service.captioner.info.name
    # The runtimes that serve: one precision, whatever the CPU.
    assert body["model"]["encoder"] == "onnxruntime float32"
    assert body["model"]["decoder"] == "onnxruntime"


def test_bad_input_through_api_gateway_is_a_clean_415(context):
    event = load_event("api-http-upload")
    event["body"] = base64.b64encode(b"this is not a photo").decode()
    assert_error(invoke(event, context), 415, "unsupported_image")


def test_multipart_upload(client, photos):
    upload = {"image": ("cat.jpg", photos["chelsea"], "image/jpeg")}
    response = client.post("/captions", files=upload,
                           data={"beam_size": "5", "num_captions": "4"})
    assert response.status_code == 200, response.text
    assert len(response.json()["captions"]) == 4


def test_json_base64_upload(client, photos):
    image = base64.b64encode(photos["coffee"]).decode()
    response = client.post("/captions", json={"image": image, "beam_size": 1})
    assert response.status_code == 200, response.text
    assert len(response.json()["captions"]) == 1  # num_captions follows a smaller beam


def test_raw_png_upload_with_options_in_query(client):
    buffer = io.BytesIO()
    Image.new("RGB", (50, 40), (0, 0, 255)).save(buffer, "PNG")
    response = client.post("/captions?max_length=3&num_captions=1", content=buffer.getvalue(),
                           headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"]["format"] == "png"
    assert len(body["captions"][0]["text"].split()) <= 3


def test_s3_uri_from_an_allowed_bucket(client, s3, photos):
    s3.create_bucket(Bucket="caption-demo-bucket")
    s3.put_object(Bucket="caption-demo-bucket", Key="a b/cat.jpg", Body=photos["chelsea"])
    response = client.post("/captions", json={"s3_uri": "s3://caption-demo-bucket/a b/cat.jpg"})
    assert response.status_code == 200, response.text
    missing = client.post("/captions", json={"s3_uri": "s3://caption-demo-bucket/nope.jpg"})
    assert_error((missing.status_code, missing.json()), 404, "object_not_found")


def test_s3_uri_outside_the_allow_list_is_403_and_never_fetched(client, s3):
    response = client.post("/captions", json={"s3_uri": "s3://someone-elses-bucket/x.jpg"})
    assert_error((response.status_code, response.json()), 403, "bucket_not_allowed")


@pytest.mark.parametrize("query, code", [
    ("beam_size=11", "invalid_option"),
    ("beam_size=0", "invalid_option"),
    ("beam_size=2&num_captions=3", "invalid_option"),
    ("beam_size=abc", "invalid_option"),
    ("max_length=500", "invalid_option"),
    ("num_captions=1.5", "invalid_option"),
])
def test_bad_options_are_400(client, photos, query, code):
    response = client.post(f"/captions?{query}", content=photos["sample"],
                           headers={"Content-Type": "image/jpeg"})
    assert_error((response.status_code, response.json()), 400, code)


@pytest.mark.parametrize("body, content_type, status, code", [
    (b"hello", "text/plain", 415, "unsupported_media_type"),
    (b"<svg/>", "image/svg+xml", 415, "unsupported_media_type"),
    (b"\x00" * 100, "image/jpeg", 415, "unsupported_image"),
    (b"{not json", "application/json", 422, "malformed_request"),
    (b"[1, 2]", "application/json", 422, "malformed_request"),
    (b'{"image": "%%%"}', "application/json", 422, "malformed_request"),
    (b'{"image": "aGk=", "s3_uri": "s3://b/k"}', "application/json", 422, "malformed_request"),
    (b'{"picture": "aGk="}', "application/json", 422, "malformed_request"),
    (b'{"s3_uri": "https://example.com/x.jpg"}', "application/json", 422, "malformed_request"),
])
def test_malformed_requests_get_the_error_shape(client, body, content_type, status, code):
    response = client.post("/captions", content=body, headers={"Content-Type": content_type})
    assert_error((response.status_code, response.json()), status, code)


def test_an_empty_image_is_415_empty_image_whichever_way_it_comes(client, s3):
    """Raw body, multipart file, JSON base64 and S3 object: one answer for one problem."""
    s3.create_bucket(Bucket="caption-demo-bucket")
    s3.put_object(Bucket="caption-demo-bucket", Key="empty.jpg", Body=b"")
    answers = [
        client.post("/captions", content=b"", headers={"Content-Type": "image/jpeg"}),
        client.post("/captions", content=b""),
        client.post("/captions", files={"image": ("empty.jpg", b"", "image/jpeg")}),
        client.post("/captions", json={"image": ""}),
        client.post("/captions", json={"s3_uri": "s3://caption-demo-bucket/empty.jpg"}),
    ]
    for response in answers:
        assert_error((response.status_code, response.json()), 415, "empty_image")


def test_truncated_jpeg_is_415(client, photos):
    data = photos["chelsea"][: len(photos["chelsea"]) // 3]
    response = client.post("/captions", content=data, headers={"Content-Type": "image/jpeg"})
    assert_error((response.status_code, response.json()), 415, "unreadable_image")


def test_multipart_without_the_image_field_is_422(client):
    response = client.post("/captions", files={"photo": ("x.jpg", b"123", "image/jpeg")})
    assert_error((response.status_code, response.json()), 422, "malformed_request")


def test_oversized_body_is_413(photos):
    limited = replace(app.settings, max_request_bytes=1000)
    small = TestClient(create_app(lambda: app.service, limited, app.s3))
    response = small.post("/captions", content=photos["chelsea"],
                          headers={"Content-Type": "image/jpeg"})
    assert_error((response.status_code, response.json()), 413, "payload_too_large")


def test_unknown_routes_and_methods_use_the_error_shape(client):
    assert_error((lambda r: (r.status_code, r.json()))(client.get("/nope")), 404, "not_found")
    assert_error((lambda r: (r.status_code, r.json()))(client.get("/captions")), 405,
                 "method_not_allowed")


def test_openapi_documents_the_score_and_errors(client):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/captions"]["post"]
    assert {"200", "400", "413", "415", "422"} <= set(operation["responses"])
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert "geometric mean" in json.dumps(spec["components"]["schemas"]["CaptionOut"]).lower()


# Hostile and unusual input: each of these once got a 500, a redirect or a wrong answer.

@pytest.mark.parametrize("body", [
    b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
], ids=["nested-field", "nested-top"])
def test_deeply_nested_json_is_a_clean_422(client, body):
    response = client.post("/captions", content=body, headers={"Content-Type": "application/json"})
    assert_error((response.status_code, response.json()), 422, "malformed_request")


@pytest.mark.parametrize("raw", [b"1e999", b"Infinity", b"-Infinity", b"NaN", b"9" * 5000])
def test_absurd_numbers_in_json_options_are_400(client, photos, raw):
    image = base64.b64encode(photos["sample"])
    body = b'{"image": "' + image + b'", "beam_size": ' + raw + b"}"
    response = client.post("/captions", content=body, headers={"Content-Type": "application/json"})
    assert_error((response.status_code, response.json()), 400, "invalid_option")


def test_huge_integer_in_the_query_is_400(client, photos):
    response = client.post("/captions?beam_size=" + "9" * 5000, content=photos["sample"],
                           headers={"Content-Type": "image/jpeg"})
    assert_error((response.status_code, response.json()), 400, "invalid_option")


def test_s3_uri_while_s3_is_unreachable_is_502(photos, monkeypatch):
    import boto3

    unreachable = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                               aws_access_key_id="x", aws_secret_access_key="x",
                               config=__import__("botocore.config").config.Config(
                                   retries={"max_attempts": 1}, connect_timeout=1))
    allowed = replace(app.settings, allowed_buckets=frozenset({"b"}))
    client = TestClient(create_app(lambda: app.service, allowed, lambda: unreachable))
    response = client.post("/captions", json={"s3_uri": "s3://b/cat.jpg"})
    assert_error((response.status_code, response.json()), 502, "s3_error")


def test_s3_uri_can_be_limited_to_a_prefix(s3, photos):
    s3.create_bucket(Bucket="caption-demo-bucket")
    s3.put_object(Bucket="caption-demo-bucket", Key="private/x.jpg", Body=photos["sample"])
    limited = replace(app.settings, allowed_prefix="public/")
    client = TestClient(create_app(lambda: app.service, limited, lambda: s3))
    response = client.post("/captions", json={"s3_uri": "s3://caption-demo-bucket/private/x.jpg"})
    assert_error((response.status_code, response.json()), 403, "key_not_allowed")


def test_s3_uri_objects_are_capped_by_the_object_limit_not_the_payload(s3):
    """The object's bytes never cross the 6 MB request payload: a 7 MB photo is fine."""
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 255, (1600, 1500, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")
    assert 6 * 1024 * 1024 < len(buffer.getvalue()) < app.settings.max_object_bytes
    s3.create_bucket(Bucket="caption-demo-bucket")
    s3.put_object(Bucket="caption-demo-bucket", Key="big.png", Body=buffer.getvalue())
    client = TestClient(create_app(lambda: app.service, app.settings, lambda: s3))
    response = client.post("/captions", json={"s3_uri": "s3://caption-demo-bucket/big.png",
                                              "beam_size": 1})
    assert response.status_code == 200, response.text


def test_a_trailing_slash_is_served_not_redirected(client, photos):
    response = client.post("/captions/", content=photos["sample"], follow_redirects=False,
                           headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text
    assert response.json()["captions"]


@pytest.mark.parametrize("media_type", ["image/jpg", "image/pjpeg"])
def test_common_jpeg_media_type_aliases_are_accepted(client, photos, media_type):
    response = client.post("/captions", content=photos["sample"],
                           headers={"Content-Type": media_type})
    assert response.status_code == 200, response.text


def test_base64_with_line_breaks_is_accepted(client, photos):
    wrapped = base64.encodebytes(photos["sample"]).decode()  # 76-character lines, as `base64`
    assert "\n" in wrapped
    response = client.post("/captions", json={"image": wrapped})
    assert response.status_code == 200, response.text


def test_a_body_without_length_is_refused_as_soon_as_it_is_too_large(photos):
    """The body streams in chunks with no Content-Length; the 413 comes before it all arrives."""

    import httpx

    limited = replace(app.settings, max_request_bytes=1_000_000)
    api = create_app(lambda: app.service, limited, app.s3)
    sent = []

    async def body():
        for _ in range(100):  # 100 x 1 MB
            sent.append(1)
            yield b"\xff" * 1_000_000

    async def go():
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post("/captions", content=body(),
                                   headers={"Content-Type": "image/jpeg"})

    response = _run(go())
    assert_error((response.status_code, response.json()), 413, "payload_too_large")
    assert len(sent) < 10


def test_health_checks_are_answered_while_an_image_is_captioned(photos):
    """Captioning runs off the event loop: /healthz, sent after a slow caption request has
    started, finishes before it."""
    import asyncio

    import httpx

    big = Image.open(io.BytesIO(photos["chelsea"])).resize((4000, 2700))
    buffer = io.BytesIO()
    big.save(buffer, "PNG")  # PNG: decoded in full, so the request takes a while
    finished = []

    async def go():
        transport = httpx.ASGITransport(app=app.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            async def caption():
                await http.post("/captions?beam_size=10", content=buffer.getvalue(),
                                headers={"Content-Type": "image/png"})
                finished.append("caption")

            async def health():
                await asyncio.sleep(0.05)
                response = await http.get("/healthz")
                assert response.status_code == 200
                finished.append("healthz")

            await asyncio.gather(caption(), health())

    _run(go())
    assert finished == ["healthz", "caption"]


def _run(coroutine):
    """Run a coroutine on a loop of its own, leaving the thread's current loop as it was
    (asyncio.run would unset it, and Mangum asks for it in the handler tests)."""
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
