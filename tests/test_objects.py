"""Objects with boxes, on real photos through every public surface with the shipped bundle: the
API (TestClient and an API Gateway event through the handler), S3 metadata, the CLI; and the
captions they ground: no person without a person detection, no count beyond the boxes."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import caption.app as app
from caption.images import decode_image
from caption.metadata import OBJECTS, USER_METADATA_LIMIT, caption_metadata, metadata_size
from caption.metrics.subjects import mentions
from caption.model.captioner import Caption
from caption.model.objects import COCO_CLASSES, Box, DetectedObject, Detections
from tests.conftest import load_event
from tests.s3_helpers import BUCKET, s3_event
from tests.test_cli import run_cli


@pytest.fixture(scope="module")
def client():
    return TestClient(app.api)


def post(client, data: bytes, **params):
    response = client.post("/captions", content=data, params=params,
                           headers={"Content-Type": "image/jpeg"})
    return response.status_code, response.json()


def test_the_astronaut_is_a_person_whose_box_holds_her(client, photos):
    status, body = post(client, photos["astronaut"])
    assert status == 200, body
    people = [o for o in body["objects"] if o["name"] == "person"]
    assert people, body["objects"]
    box = people[0]["box"]
    # She sits left of centre and fills most of the 512 x 512 portrait: her face (about
    # x 170-230, y 60-160) and her chest (about x 130-300, y 250-400) lie inside the box.
    assert box["left"] <= 130 and box["top"] <= 60
    assert box["left"] + box["width"] >= 300 and box["top"] + box["height"] >= 400
    assert box["width"] * box["height"] >= 0.3 * 512 * 512
    assert "person" in mentions(body["captions"][0]["text"])


def test_the_hubble_deep_field_has_no_person_and_no_person_in_its_captions(client, photos):
    status, body = post(client, photos["hubble"])
    assert status == 200, body
    assert "person" not in {o["name"] for o in body["objects"]}
    for caption in body["captions"]:
        assert "person" not in mentions(caption["text"]), caption["text"]


def test_the_coffee_has_a_cup_and_nobody_in_its_captions(client, photos):
    # The cup scores about 0.3 at the served input size, at the default threshold's edge.
    status, body = post(client, photos["coffee"], object_threshold=0.2)
    assert status == 200, body
    assert "cup" in {o["name"] for o in body["objects"]}
    for caption in body["captions"]:
        assert "person" not in mentions(caption["text"]), caption["text"]


def test_boxes_are_in_upright_pixels_whatever_the_orientation_tag(client, photos):
    """A portrait photo stored on its side with EXIF orientation 6 (turn right): the boxes
    are given in the upright picture, as the API reports its size."""
    astronaut = Image.open(io.BytesIO(photos["astronaut"]))
    stored = astronaut.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif, quality=92)
    _, upright = post(client, photos["astronaut"])
    status, tagged = post(client, buffer.getvalue())
    assert status == 200, tagged
    assert tagged["image"]["width"] == 512 and tagged["image"]["height"] == 512
    person = next(o for o in tagged["objects"] if o["name"] == "person")["box"]
    expected = next(o for o in upright["objects"] if o["name"] == "person")["box"]
    for side in ("left", "top", "width", "height"):
        assert abs(person[side] - expected[side]) <= 12, (person, expected)


def test_the_object_threshold_is_a_request_option(client, photos):
    _, everything = post(client, photos["coffee"], object_threshold=0.05)
    _, sure = post(client, photos["coffee"], object_threshold=0.9)
    assert len(everything["objects"]) > len(sure["objects"])
    assert all(o["score"] >= 0.05 for o in everything["objects"])
    assert all(o["score"] >= 0.9 for o in sure["objects"])
    for bad in ("1.5", "-0.1", "nan", "lots", "true"):
        status, body = post(client, photos["coffee"], object_threshold=bad)
        assert status == 400 and body["error"]["code"] == "invalid_option", (bad, body)


def test_the_openapi_schema_describes_objects(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schema["ObjectOut"]["properties"]) == {"name", "score", "box"}
    assert set(schema["BoxOut"]["properties"]) == {"left", "top", "width", "height"}
    assert "objects" in schema["CaptionResponse"]["properties"]


def test_an_api_gateway_event_gets_objects(context, photos):
    event = load_event("api-http-upload")
    event["body"] = base64.b64encode(photos["astronaut"]).decode()
    event["headers"]["content-type"] = "image/jpeg"
    event["isBase64Encoded"] = True
    event["rawQueryString"] = ""
    event.pop("queryStringParameters", None)
    response = app.handler(event, context)
    assert response["statusCode"] == 200, response
    body = json.loads(base64.b64decode(response["body"]) if response.get("isBase64Encoded")
                      else response["body"])
    assert "person" in {o["name"] for o in body["objects"]}


def test_an_s3_upload_gets_objects_in_its_metadata(s3, photos, context):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="astronaut.jpg", Body=photos["astronaut"])
    head = s3.head_object(Bucket=BUCKET, Key="astronaut.jpg")
    result = app.handler(s3_event("astronaut.jpg", head["ETag"]), context)
    assert result["results"][0]["status"] == "captioned", result
    after = s3.head_object(Bucket=BUCKET, Key="astronaut.jpg")
    metadata = after["Metadata"]
    assert metadata[OBJECTS].startswith("person "), metadata
    name, score, box = metadata[OBJECTS].split("; ")[0].split(" ")
    assert 0.0 < float(score) <= 1.0 and len(box.split(",")) == 4
    assert metadata_size(metadata) <= USER_METADATA_LIMIT


def _found(n: int) -> list[DetectedObject]:
    return [DetectedObject("person", round(0.9 - i / 100, 4), Box(i, i, 100 + i, 200 + i))
            for i in range(n)]


def test_objects_give_way_before_the_caption_and_the_users_metadata():
    captions = [Caption("a man in a suit", 0.5), Caption("a woman", 0.4)]
    roomy = caption_metadata({"owner": "alice"}, captions, "m@1", objects=_found(30))
    assert len(roomy[OBJECTS].split("; ")) == 20  # at most OBJECTS_KEPT
    crowded = {"note": "x" * 1700}
    tight = caption_metadata(crowded, captions, "m@1", objects=_found(30))
    assert tight["note"] == crowded["note"] and tight["caption"] == "a man in a suit"
    assert metadata_size(tight) <= USER_METADATA_LIMIT
    kept = tight.get(OBJECTS, "").split("; ")
    assert 0 < len(kept) < 20 and kept[0].startswith("person 0.90 ")


def test_the_cli_json_carries_the_same_objects_as_the_api(client, tmp_path, photos):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(photos["astronaut"])
    result = run_cli("--json", str(photo))
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    _, body = post(client, photos["astronaut"])
    assert record["objects"] == body["objects"]



def test_no_person_word_without_a_person_detection(shipped, photos):
    """The coffee's word detectors and classifier, with the detector's evidence: person words
    are barred when the detector found no person, and allowed when it did."""
    image = decode_image(photos["coffee"], 40_000_000).image
    encoded = shipped.encode(shipped.preprocess(image)[None])
    ids = shipped.vocabulary.ids
    person_words = {ids["man"], ids["woman"], ids["people"]}

    def barred(*found: str) -> set[int]:
        """The decoder's banned words (guidance off) where the detector found these, each
        once at 0.9."""
        detections = Detections(COCO_CLASSES, np.tile([0.1, 0.1, 0.6, 0.6], (len(found), 1)),
                                np.full(len(found), 0.9),
                                np.array([COCO_CLASSES.index(n) for n in found]))
        evidence = shipped.decoding.evidence(encoded.regions, encoded.probabilities[0],
                                             detections, False, 0)
        return shipped.decoding.plan(evidence, encoded.regions, False, 20).rules.banned

    assert person_words <= barred("cup")
    assert not person_words & barred("person")


def test_a_count_needs_as_many_boxes(shipped):
    decoding = shipped.decoding
    ids = shipped.vocabulary.ids

    def barred(counts):
        return {word for rule in decoding.ids.unsupported_numbers(counts) for word in rule.words}

    assert {ids["two"], ids["three"]} <= barred({"dog": 1})
    two_dogs = barred({"dog": 2, "person": 1})
    assert ids["two"] not in two_dogs and ids["three"] in two_dogs
    assert ids["two"] in barred({})
