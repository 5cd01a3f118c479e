"""Grounded, whole captions: on real photos with the shipped bundle, a caption names no person,
dog or place the photo gives no evidence of and never breaks off; the grounding trainer makes
a bundle's concepts graph and section through its real path; stale or malformed grounding is
refused at load."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from PIL import Image

from caption.images import decode_image
from caption.metrics.hallucination import broken, scenes_named
from caption.metrics.subjects import mentions
from caption.model.bundle import BundleError, read_config, write_config
from caption.model.decoding import WordIds
from caption.model.loader import load_model
from caption.model.rules import Rules
from caption.model.vocabulary import SPECIALS, Vocabulary
from caption.model.words import COLOUR_WINDOW, DANGLING, NUMBER_WORDS
from caption.train.stages import grounding
from tests.conftest import SHIPPED, copy_bundle


def describe(model, data: bytes):
    return model.describe([decode_image(data, 40_000_000).image])[0]


def test_the_coffee_cup_gets_no_person_and_no_water(shipped, photos):
    result = describe(shipped, photos["coffee"])
    # The classifier is sure of the coffee; the captions do not name it, for the decoder finds
    # those without it more probable (DecodingConfig.guide_margin; test_explain has it).
    assert result.labels[0].noun == "coffee"
    for caption in result.captions:
        assert "person" not in mentions(caption.text), caption.text
        assert "water" not in scenes_named(caption.text), caption.text
    # Because the photo shows neither: the evidence, not luck, bars them, and the caption's
    # rules say so.
    image = decode_image(photos["coffee"], 40_000_000).image
    encoded = shipped.encode(shipped.preprocess(image)[None])
    detections = shipped.detector.detect(image)
    evidence = shipped.decoding.evidence(encoded.regions, encoded.probabilities[0], detections,
                                         True, 0)
    assert "person" not in evidence.shown and "scene:water" not in evidence.shown
    decoder_plan = shipped.decoding.plan(evidence, encoded.regions, False, 20)
    ids = shipped.vocabulary.ids
    for word in ("man", "woman", "people"):
        assert any(r.startswith("absent: person: grounding's evidence")
                   for r in decoder_plan.rules.why_not(ids[word])), word
    for word in ("water", "lake"):
        assert any(r.startswith("absent: scene:water")
                   for r in decoder_plan.rules.why_not(ids[word])), word


def test_the_astronaut_caption_is_a_whole_sentence(shipped, photos):
    for caption in describe(shipped, photos["astronaut"]).captions:
        words = caption.text.split()
        assert words[-1] not in DANGLING, caption.text
        assert broken(caption.text) is None, caption.text
    # The astronaut is a person, and the evidence says so: grounding keeps people for her.
    assert "person" in mentions(describe(shipped, photos["astronaut"]).captions[0].text)


def test_the_cat_stays_a_cat_and_leaves_the_invented_grass(shipped, photos):
    result = describe(shipped, photos["chelsea"])
    assert all("cat" in c.text.split() for c in result.captions)
    assert not any("grass" in scenes_named(c.text) for c in result.captions)


def test_grounding_and_whole_sentences_are_on_by_default_and_can_be_turned_off(monkeypatch):
    from caption.settings import Settings

    settings = Settings.from_env()
    assert settings.whole_sentences and settings.grounding
    monkeypatch.setenv("CAPTION_WHOLE_SENTENCES", "0")
    monkeypatch.setenv("CAPTION_GROUNDING", "off")
    settings = Settings.from_env()
    assert not settings.whole_sentences and not settings.grounding
    model = load_model(SHIPPED, grounding=False)
    assert model.grounding is None and model.runtime["grounding"] == "off"


def test_a_noun_phrase_gets_its_noun_and_colours_do_not_run_on():
    words = [*SPECIALS, "a", "black", "and", "white", "dog", "is", "small", "running", "the",
             "with"]
    vocab = Vocabulary(words)
    ids = vocab.ids
    rules = Rules(WordIds(vocab, NUMBER_WORDS).sentence_rules(20, COLOUR_WINDOW))

    def barred(*history):
        return {word for word in words
                if rules.why_not(ids[word], tuple(ids[w] for w in history))}

    assert "is" in barred("a", "black")  # "a black is running"
    assert "is" in barred("a", "small")
    assert "is" not in barred("a", "black", "dog")
    # "a black and white a small brown dog": the first noun skipped for another phrase
    assert {"a", "the"} <= barred("a", "black", "and", "white")
    assert "a" not in barred("a", "black", "dog", "with")
    assert "and" in barred("a", "black", "and", "white")  # no third colour by "and"
    assert "white" in barred("a", "white", "and")  # "white and white"
    assert "black" not in barred("a", "white", "dog", "is", "small", "running")


def _flickr_like(root, photos) -> tuple:
    """A Flickr8k-shaped folder of real photos, and a coco-text-shaped captions file."""
    flickr = root / "flickr"
    (flickr / "images").mkdir(parents=True)
    (flickr / "splits").mkdir()
    said = {"chelsea": "a cat is sitting on the grass", "coffee": "a cup of coffee on a table",
            "astronaut": "a woman in a white suit smiles", "china": "a temple by the water",
            "motorcycle": "a man rides a motorcycle down the street"}
    lines = []
    for name, text in said.items():
        (flickr / "images" / f"{name}.jpg").write_bytes(photos[name])
        lines += [f"{name}.jpg#{i}\t{text}" for i in range(5)]
    (flickr / "captions.tsv").write_text("\n".join(lines) + "\n")
    (flickr / "splits" / "train.txt").write_text("\n".join(f"{n}.jpg" for n in said) + "\n")
    (flickr / "splits" / "val.txt").write_text("chelsea.jpg\ncoffee.jpg\n")
    coco_text = root / "coco-text.tsv"
    coco_text.write_text("1\ta cat on a sofa\n1\ta cat sleeping\n2\ta man holds a cat\n"
                         "3\ta dog in a park\n")
    return flickr, coco_text


def test_the_trainer_adds_a_concepts_graph_that_serves(tiny_bundle, tmp_path, photos,
                                                       monkeypatch):
    monkeypatch.setattr(grounding, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(grounding, "MIN_PHOTOS", 1)
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    flickr, coco_text = _flickr_like(tmp_path, photos)
    section = grounding.build(bundle, flickr, coco_text, epochs=2)

    names = [c["name"] for c in section["concepts"]]
    # Concepts the tiny vocabulary can write and enough training captions name: cat, grass.
    assert names == ["cat", "scene:grass"]
    assert read_config(bundle).graphs.concepts == "concepts.onnx"
    model = load_model(bundle)
    assert model.runtime["grounding"] == "onnxruntime"
    image = decode_image(photos["chelsea"], 40_000_000).image
    regions = model.encode(model.preprocess(image)[None]).regions
    evidence = model.grounding.evidence(regions, None)
    assert set(evidence) == set(names) and all(0.0 <= v <= 1.0 for v in evidence.values())
    assert model.caption(Image.new("RGB", (64, 64)), 2, 1, 4)


def test_text_priors_count_photos_not_captions(tmp_path, monkeypatch):
    text = tmp_path / "c.tsv"
    text.write_text("1\ta cat on a sofa\n1\ta cat sleeping on a sofa\n2\ta man holds a cat\n"
                    "3\ta man in a park\n4\ta sofa\n")
    monkeypatch.setattr(grounding, "PRIOR_MIN_PHOTOS", 1)
    priors = grounding.text_priors(text, ["cat", "sofa"], ["person"])
    base = 2 / 4  # photos 2 and 3 of 4 name a person
    smoothing = grounding.PRIOR_SMOOTHING
    assert priors["person"]["cat"] == round((1 + smoothing * base) / (2 + smoothing), 3)
    assert priors["person"]["sofa"] == round((0 + smoothing * base) / (2 + smoothing), 3)


def test_stale_or_malformed_grounding_is_refused_with_the_command(tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    for path in SHIPPED.iterdir():
        if path.name != "model.safetensors":
            shutil.copy(path, bundle / path.name)
    config = read_config(bundle)
    write_config(bundle, config.with_changes(grounding={**config.grounding, "concepts": []}))
    with pytest.raises(BundleError, match="python -m caption.train.stages.grounding"):
        load_model(bundle)
    # A concepts graph made for other weights is refused, naming how to make it again.
    write_config(bundle, config.with_changes(
        graphs=dataclasses.replace(config.graphs, concepts=config.graphs.encoder)))
    with pytest.raises(BundleError, match=r"stale.*python -m caption.train.stages.grounding"):
        load_model(bundle)
    data = json.loads((bundle / "model.json").read_text())
    del data["grounding"]
    data["graphs"]["concepts"] = None
    (bundle / "model.json").write_text(json.dumps(data))
    assert load_model(bundle).grounding is None  # a bundle without grounding still serves
