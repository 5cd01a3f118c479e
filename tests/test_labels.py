"""Labels, the bag of found objects, and what the captions may name: the labels head, the
decoder reading the bag, and the rules that bar what the detector did not find."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

import caption.app as app
from caption.images import decode_image
from caption.metadata import LABELS, USER_METADATA_LIMIT, caption_metadata, metadata_size
from caption.metrics.subjects import names_subject, subjects
from caption.model.captioner import Caption
from caption.model.classes import classes_named
from caption.model.labels import Label
from caption.train.networks.imagenet_labels import class_names, class_nouns, labels_section
from tests.test_cli import run_cli


def image(data: bytes):
    return decode_image(data, 40_000_000).image


def describe(model, data: bytes, **options):
    return model.describe([image(data)], **options)[0]


def test_the_cat_is_found_read_and_named(shipped, photos):
    """The detector finds the cat, the decoder reads it in its bag, the caption names it, and
    the labels head puts a cat among its five best."""
    result = describe(shipped, photos["chelsea"])
    assert "cat" in result.concepts
    assert result.guided_by == "cat" and "cat" in classes_named(result.captions[0].text)
    reading = shipped.read([image(photos["chelsea"])])
    probabilities = shipped.label_head(reading.regions)[0]
    top5 = shipped.labels.top(probabilities, 5, 0.0)
    assert "cat" in {label.noun for label in top5}
    assert [label.score for label in result.labels] == sorted(
        (label.score for label in result.labels), reverse=True)
    assert len(result.labels) <= 5 and all(label.score >= 0.05 for label in result.labels)


def test_guidance_off_gives_the_decoder_no_bag(shipped, photos):
    plain = describe(shipped, photos["chelsea"], guidance=False)
    assert plain.concepts == [] and plain.labels == describe(shipped, photos["chelsea"]).labels
    assert plain.objects == describe(shipped, photos["chelsea"]).objects  # still listed


def test_what_the_detector_did_not_find_is_never_named(shipped, photos):
    """Nothing COCO names is in the deep field: no caption names a COCO class, and the
    rules bar the words and the phrases ("light" after "traffic") of every class."""
    picture = image(photos["hubble"])
    reading = shipped.read([picture])
    evidence = shipped.decoding.evidence(reading.detections[0], None, True, 0)
    plan = shipped.decoding.plan(evidence, reading.regions[:1], True, 20)
    ids = shipped.vocabulary.ids
    assert evidence.present == []
    assert plan.rules.why_not(ids["dog"])[0].startswith("absent: dog: the detector's best")
    assert plan.rules.why_not(ids["light"], (ids["traffic"],))
    assert not plan.rules.why_not(ids["light"], (ids["a"],))
    for caption in shipped.describe([picture], num_captions=3)[0].captions:
        assert not classes_named(caption.text), caption.text


def test_class_nouns_group_breeds():
    names, nouns = class_names(), class_nouns(class_names())
    assert len(names) == len(nouns) == 1000
    assert set(nouns[151:269]) == {"dog"} and set(nouns[281:286]) == {"cat"}
    assert nouns[names.index("espresso")] == "coffee"
    assert nouns[names.index("park bench")] == "bench"
    section = labels_section()
    assert "provenance" in section and "imagenet" in json.dumps(section["provenance"]).lower()


def test_the_api_returns_labels_and_accepts_the_guidance_option(photos):
    client = TestClient(app.api)
    response = client.post("/captions", files={"image": ("cat.jpg", photos["chelsea"])})
    assert response.status_code == 200, response.text
    body = response.json()
    assert all(set(label) == {"name", "noun", "score"} for label in body["labels"])
    assert body["guided_by"] == "cat"
    off = client.post("/captions?guidance=false",
                      files={"image": ("cat.jpg", photos["chelsea"])}).json()
    assert off["labels"] == body["labels"]
    bad = client.post("/captions?guidance=maybe", files={"image": ("cat.jpg", photos["chelsea"])})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_option"


def test_the_cli_json_lines_carry_labels_beside_captions(tmp_path, photos):
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(photos["chelsea"])
    result = run_cli("--json", str(cat))
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert "labels" in line and line["captions"]
    assert line["guided_by"] == "cat"


def test_s3_metadata_carries_labels_and_drops_them_before_the_caption():
    captions = [Caption("a cat sits on the grass", 0.5), Caption("a cat sits", 0.4)]
    labels = [Label("Egyptian Mau", "cat", 0.8906), Label("tabby cat", "cat", 0.0612)]
    meta = caption_metadata({}, captions, "m@1", labels)
    assert meta[LABELS] == "Egyptian Mau (cat) 0.8906; tabby cat (cat) 0.0612"
    full = {k: v for k, v in meta.items() if k != "caption-alternatives"}
    room = USER_METADATA_LIMIT - metadata_size(full) + len(meta[LABELS]) - 10 - len("notes")
    squeezed = caption_metadata({"notes": "n" * room}, captions, "m@1", labels)
    assert LABELS not in squeezed and "caption-alternatives" not in squeezed
    assert squeezed["caption"] == "a cat sits on the grass"
    assert metadata_size(squeezed) <= USER_METADATA_LIMIT


def test_names_the_subject_counts_agreed_classes_only():
    refs = {"a": ["A man rides a horse.", "a person on a pony", "rider and horse", "a horse",
                  "a field"],
            "b": ["a kitchen", "a room", "an oven", "a sink", "a tiled floor"]}
    assert subjects(refs["a"]) == {"horse", "person"}
    assert classes_named("two teddy bears on a bed") >= {"teddy bear", "bed"}
    score = names_subject({"a": "a horse in a field", "b": "a dog"}, refs)
    assert score == {"names_subject": 100.0, "images_with_subject": 1}
    assert names_subject({"a": "a dog in a field", "b": "x"}, refs)["names_subject"] == 0.0
