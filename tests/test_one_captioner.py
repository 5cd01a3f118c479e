"""The one captioner as served: a decoder that reads the photo's regions and the detector's bag
(caption.model.bag), exported from the training stage's checkpoint into a bundle
(caption.train.export.captioner) with no sentence writer, and loaded by the serving loader."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from caption.model.bag import bag_inputs, photo_bag, same_build
from caption.model.bundle import BundleError, read_config, write_config
from caption.model.loader import load_model
from tests.conftest import REPO, copy_bundle

SHIPPED = REPO / "layers" / "model"


@pytest.fixture(scope="module")
def captioner_bundle(tiny_bundle, tmp_path_factory):
    """A random one captioner on the tiny bundle's encoder, beside the shipped detector,
    exported as `make train` would."""
    import shutil

    from caption.train.export.captioner import export_captioner
    from caption.train.networks.attention_decoder import DecoderConfig
    from caption.train.networks.concept_decoder import ConceptConfig, ConceptDecoder

    root = tmp_path_factory.mktemp("one-captioner")
    source = copy_bundle(tiny_bundle, root / "source")
    shutil.copy2(SHIPPED / "detector.onnx", source / "detector.onnx")
    config = read_config(source)
    shipped = read_config(SHIPPED)
    write_config(source, config.with_changes(
        detector=shipped.detector, graphs=replace(config.graphs, detector="detector.onnx")))
    torch.manual_seed(0)
    # Everyday words the tiny vocabulary may lack.
    words = [*config.vocabulary, *(word for word in ("pizza", "table", "plate", "white", "black",
                                                     "dog", "and")
                                   if word not in config.vocabulary)]
    features = json.loads((source / "model.json").read_text())["decoder"]["feature_dim"]
    decoder = ConceptDecoder(ConceptConfig(DecoderConfig(len(words), features, 16, 32, 16), 81))
    checkpoint = root / "best.pt"
    torch.save({"decoder": decoder.state_dict(), "vocabulary": words,
                "config": decoder.concept_config.to_json(), "epoch": 3,
                "record": {"val_cider_d": 1.0}, "summary": {"flickr_photos": 8}}, checkpoint)
    out = root / "bundle"
    export_captioner(checkpoint, source, out, "test.1")
    return out


def test_the_exported_bundle_has_one_decoder_and_no_writer(captioner_bundle):
    config = read_config(captioner_bundle)
    assert same_build(config.bag) and config.writer is None
    assert config.bag["words"]["cat"] == ["cat"]  # the tiny vocabulary's one name for it
    assert config.graphs.writer_step is None and config.detector is not None
    assert config.decoder["concepts"] == 81
    assert config.training["one_captioner"]["checkpoint_epoch"] == 3
    assert not (captioner_bundle / "writer_step.onnx").exists()


def test_it_serves_from_the_photos_bag(captioner_bundle, photos):
    """The astronaut's bag holds a person; the start graph is fed that bag, and the captions
    are the decoder's own (there is no sentence writer)."""
    model = load_model(captioner_bundle, threads=2)
    image = Image.open(io.BytesIO(photos["astronaut"])).convert("RGB")
    description = model.describe([image], beam_size=2, num_captions=2, max_length=6)[0]
    assert description.captions and "writer" not in model.runtime
    detections = model.detector.detect(image)
    bag = photo_bag(detections)
    assert "person" in {slot.concept for slot in bag}
    encoded = model.encode(np.stack([model.preprocess(image)]))
    evidence = model.decoding.evidence(encoded.regions[:1], None,
                                       detections, True, 5)
    plan = model.decoding.plan(evidence, encoded.regions[:1], True, 6)
    assert plan.features["concepts"].tolist() == bag_inputs(bag)["concepts"].tolist()


def test_an_empty_bag_still_captions(captioner_bundle):
    """A photo where nothing is found gives a bag of no slots: the start graph takes K = 0."""
    model = load_model(captioner_bundle, threads=1)
    flat = Image.new("RGB", (96, 96), (128, 128, 128))
    assert photo_bag(model.detector.detect(flat)) == ()
    assert model.describe([flat], beam_size=2, num_captions=1, max_length=5)[0].captions


def test_a_bag_section_without_a_bag_reading_decoder_is_refused(captioner_bundle, tmp_path):
    broken = copy_bundle(captioner_bundle, tmp_path / "broken")
    write_config(broken, read_config(broken).with_changes(bag=None))
    with pytest.raises(BundleError, match="bag section"):
        load_model(broken)


def _plan(model, image):
    detections = model.detector.detect(image)
    encoded = model.encode(np.stack([model.preprocess(image)]))
    evidence = model.decoding.evidence(encoded.regions[:1], None, detections, False, 0)
    return model.decoding.plan(evidence, encoded.regions[:1], False, 8)


def test_a_class_the_detector_did_not_find_is_not_named(captioner_bundle, photos):
    """The bag's words (model.json's bag.words): "cat" is barred on a blank photo, where
    nothing is found, and allowed on scikit-image's cat, which the detector finds."""
    model = load_model(captioner_bundle, threads=1)
    cat = model.vocabulary.ids["cat"]
    blank = _plan(model, Image.new("RGB", (96, 96), (128, 128, 128)))
    assert any(reason.startswith("absent: cat") for reason in blank.rules.why_not(cat))
    chelsea = _plan(model, Image.open(io.BytesIO(photos["chelsea"])).convert("RGB"))
    assert not chelsea.rules.why_not(cat)


def test_a_thing_is_named_once_and_an_animal_may_come_twice(captioner_bundle, photos):
    """"a table with a table" is barred; "a cat ... a cat" (two cats) is not: things and places
    are named once, people and animals may come again."""
    model = load_model(captioner_bundle, threads=1)
    ids = model.vocabulary.ids
    plan = _plan(model, Image.open(io.BytesIO(photos["chelsea"])).convert("RGB"))
    after_table = (ids["a"], ids["table"], ids["on"], ids["a"])
    assert any("no thing or place named twice" in reason
               for reason in plan.rules.why_not(ids["table"], after_table))
    after_cat = (ids["a"], ids["cat"], ids["on"], ids["a"])
    assert not any("named twice" in reason for reason in plan.rules.why_not(ids["cat"], after_cat))
    relaxed = replace(model.decoding.config, things_once=False)
    model.decoding.config = relaxed
    plan = _plan(model, Image.open(io.BytesIO(photos["chelsea"])).convert("RGB"))
    assert not any("named twice" in reason
                   for reason in plan.rules.why_not(ids["table"], after_table))


def test_a_plate_needs_something_to_eat_beside_it(captioner_bundle, photos):
    """"a man is sitting on a plate": a plate is named only where the detector found food or
    cutlery (caption.model.words.THINGS_OF_OBJECTS), whatever else the photo holds."""
    model = load_model(captioner_bundle, threads=1)
    plate = model.vocabulary.ids["plate"]
    cat = _plan(model, Image.open(io.BytesIO(photos["chelsea"])).convert("RGB"))
    assert any(reason.startswith("absent: plate") for reason in cat.rules.why_not(plate))
    ids = model.decoding.ids
    assert not ids.unvouched(ids.vouched_things, {"pizza", "person"})
    assert [rule.name for rule in ids.unvouched(ids.vouched_things, {"person"})
            if plate in rule.words] == ["absent: plate"]
    model.decoding.config = replace(model.decoding.config, things_vouched=False)
    cat = _plan(model, Image.open(io.BytesIO(photos["chelsea"])).convert("RGB"))
    assert not cat.rules.why_not(plate)


def test_a_describing_word_does_not_run_on_with_and(captioner_bundle, photos):
    """"a large white and a glass of flowers" and "black and white and": after a describing
    word and "and" no article, after "and" and a describing word no second "and" and no
    third colour; after a noun and "and", an article is how sentences go ("a dog and a
    cat")."""
    model = load_model(captioner_bundle, threads=1)
    ids = model.vocabulary.ids
    plan = _plan(model, Image.open(io.BytesIO(photos["chelsea"])).convert("RGB"))
    rule = "whole sentence: no 'and' run on after a describing word"
    assert rule in plan.rules.why_not(ids["a"], (ids["a"], ids["white"], ids["and"]))
    assert rule in plan.rules.why_not(ids["and"], (ids["a"], ids["and"], ids["white"]))
    black = ids["black"]  # a third colour: "black and white brown"
    assert rule in plan.rules.why_not(black, (ids["a"], ids["and"], ids["white"]))
    assert rule not in plan.rules.why_not(ids["a"], (ids["a"], ids["dog"], ids["and"]))


def test_the_detectors_floor_and_box_merging_are_the_decoding_configs(captioner_bundle, photos):
    """The loader builds the detector from the DecodingConfig: a higher floor keeps fewer of
    the astronaut's peaks, and each kept one is at or above it."""
    from caption.model.decoding import DecodingConfig
    from caption.model.objects import Detector

    model = load_model(captioner_bundle, threads=1)
    assert (model.detector.floor, model.detector.overlap) == (
        model.decoding.config.detector_floor, model.decoding.config.nms_overlap)
    image = Image.open(io.BytesIO(photos["astronaut"])).convert("RGB")
    served = model.detector.detect(image)
    stricter = Detector(model.detector.session, read_config(captioner_bundle).detector,
                        floor=0.3, overlap=DecodingConfig().nms_overlap).detect(image)
    assert 0 < len(stricter.scores) < len(served.scores)
    assert stricter.scores.min() >= 0.3
