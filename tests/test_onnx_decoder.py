"""The decoder's ONNX graphs with int8 weights, served by ONNX Runtime: the PyTorch decoder's
probabilities within int8 rounding, the same search on top, and a safe fallback to PyTorch
wherever the graphs cannot serve."""

from __future__ import annotations

import json
import math
import shutil
import sys

import pytest
import torch

from caption.model.beam_search import beam_search
from caption.model.bundle import load_bundle
from caption.model.loader import load_model
from caption.model.onnx_decoder import START_FILE, STEP_FILE, OnnxDecoder, export_onnx_decoder
from caption.model.ranking import Constraints, as_bias
from caption.runtime import load_service
from caption.service import CaptionOptions
from caption.settings import Settings
from tests.conftest import resave_bundle


@pytest.fixture
def exported_bundle(tiny_bundle, tmp_path):
    directory = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, directory)
    export_onnx_decoder(directory)
    return directory


def next_word_log_probs(decoder, features: torch.Tensor, rows: int = 4) -> torch.Tensor:
    """Three steps of `rows` beams of one image (regions broadcast, as beam search keeps them),
    then the next word's log-probabilities."""
    with torch.inference_mode():
        state = decoder.start(features).select([0] * rows)
        tokens = torch.arange(4, 4 + rows)
        for _ in range(3):
            log_probs, state = decoder.log_probs(tokens, state)
            tokens = log_probs.argmax(dim=-1)
        return log_probs


def test_export_names_both_graphs_and_serves_the_decoders_probabilities(exported_bundle):
    config = json.loads((exported_bundle / "model.json").read_text())
    assert config["runtime"]["onnx_decoder"] == {"start": START_FILE, "step": STEP_FILE}
    captioner = load_bundle(exported_bundle)
    captioner.optimize()
    assert isinstance(captioner._serving_decoder, OnnxDecoder)
    assert captioner.decoder_runtime == "onnxruntime"
    features = torch.rand(1, 4, 1280)  # the tiny encoder's 2x2 regions
    served = next_word_log_probs(captioner._serving_decoder, features)
    reference = next_word_log_probs(captioner.decoder, features)  # float32 (tiny bundle)
    assert served.shape == reference.shape
    # int8 weights: close, not equal; the exported graph must not be another computation.
    assert (served.exp() - reference.exp()).abs().max() < 0.02
    assert not torch.equal(served, reference)


def test_beam_search_runs_on_it_with_several_images_regions(exported_bundle):
    captioner = load_bundle(exported_bundle)
    captioner.optimize()
    decoder = captioner._serving_decoder
    with torch.inference_mode():
        state = decoder.start(torch.rand(2, 4, 1280))  # two images: regions are not broadcast
        log_probs, state = decoder.log_probs(torch.tensor([4, 5]), state)
    assert log_probs.shape == (2, len(captioner.vocabulary)) and state.h.shape[0] == 2
    assert torch.allclose(log_probs.exp().sum(dim=1), torch.ones(2), atol=1e-5)
    hypotheses = beam_search(decoder, torch.rand(1, 4, 1280), captioner.vocabulary, 3, 3, 6)
    assert 1 <= len(hypotheses) <= 3
    assert all(0 < h.score <= 1 for h in hypotheses)


def guided_constraints(size: int, required: int, banned: int, after: int) -> Constraints:
    """The guided search's two banks (see caption.model.guidance), as it builds them."""
    is_required = torch.zeros(size, dtype=torch.bool)
    is_required[required] = True
    zeros = torch.zeros(size)
    banks = torch.stack([torch.stack([as_bias(is_required), torch.full_like(zeros, -math.inf)]),
                         torch.stack([as_bias(~is_required), zeros])])
    banned_words = torch.zeros(size, dtype=torch.bool)
    banned_words[[0, 1, 3, banned]] = True
    after_words = torch.zeros(size, dtype=torch.bool)
    after_words[after] = True
    return Constraints.build(banned_words, 2, banks, after_words)


def test_the_step_graph_ranks_as_the_pytorch_decoder_does(exported_bundle):
    """One search step: the graph's int8 ranking against the float32 PyTorch decoder's, under
    a guided search's constraints: the same candidates, sums within int8 rounding, and every
    constraint honoured."""
    captioner = load_bundle(exported_bundle)
    captioner.optimize()
    served, reference = captioner._serving_decoder, captioner.decoder
    size = len(captioner.vocabulary)
    required, banned, after = 8, 9, 10  # three ordinary words of the tiny vocabulary
    constraints = guided_constraints(size, required, banned, after)
    features = torch.rand(1, 4, 1280)
    tokens, sums, has_word, after_rows = [4, 5, 8, 6], [-1.0, -2.0, -1.5, -3.0], [0, 0, 1, 1], \
        [False, False, True, False]
    with torch.inference_mode():
        ranked = {name: decoder.rank(tokens, decoder.start(features).select([0, 0, 0, 0]), sums,
                                     has_word, after_rows, constraints, False, 12)
                  for name, decoder in (("served", served), ("reference", reference))}
    (served_sums, served_index, state), (reference_sums, reference_index, _) = \
        ranked["served"], ranked["reference"]
    assert len(served_sums) == len(served_index) == 2 and len(served_sums[0]) == 12
    assert state.h.shape[0] == 4
    for bank in range(2):
        finite = [s for s in reference_sums[bank] if s != -math.inf]
        assert served_sums[bank][:len(finite)] == pytest.approx(finite, abs=0.05)
        assert sorted(served_index[bank][:len(finite)]) == sorted(reference_index[bank][
            :len(finite)])
        for total, index in zip(served_sums[bank], served_index[bank], strict=True):
            if total == -math.inf:
                continue
            row, word = divmod(index, size)
            assert word not in (0, 1, 3, banned)  # never written
            assert not (row == 2 and word == after)  # barred after the noun, on that row only
            if bank == 0:
                assert has_word[row] == 0 and word != required
            elif has_word[row] == 0:
                assert word == required  # a row reaches bank 1 only by writing the word
    with torch.inference_mode():
        first_sums, first_index, _ = served.rank([4], served.start(features), [0.0], [0],
                                                 [False], constraints, True, 6)
    assert all(i % size != 2 for s, i in zip(first_sums[1], first_index[1], strict=True)
               if s != -math.inf)  # the first word is never <end>


def test_a_graph_from_before_the_ranking_falls_back(exported_bundle, caplog):
    import onnx
    from onnx import TensorProto, helper

    outdated = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["h"], ["h_out"])], "outdated",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [None, 32])],
        [helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [None, 32])]),
        opset_imports=[helper.make_opsetid("", 17)])
    outdated.ir_version = 8
    onnx.save(outdated, str(exported_bundle / STEP_FILE))
    captioner = load_model(exported_bundle)
    captioner.optimize()
    assert captioner.decoder_runtime == "pytorch"
    assert any("lacks the inputs" in str(getattr(r, "error", "")) for r in caplog.records)


def test_the_bundled_model_serves_its_decoder_from_onnx(photos):
    service, timings = load_service(Settings(), warm_up=False)
    assert timings["decoder"] == "onnxruntime"
    captioner = service.captioner
    cat = service.caption_bytes(photos["chelsea"], CaptionOptions())
    assert "cat" in cat.captions[0].text
    features = torch.rand(1, 49, 1280)
    served = next_word_log_probs(captioner._serving_decoder, features)
    reference = next_word_log_probs(load_bundle(Settings().model_dir, int8_decoder=False).decoder,
                                    features)
    assert (served.exp() - reference.exp()).abs().max() < 0.05


def test_saving_new_weights_drops_the_old_graphs(exported_bundle):
    runtime = resave_bundle(exported_bundle)
    assert not (exported_bundle / START_FILE).exists()
    assert not (exported_bundle / STEP_FILE).exists()
    assert "onnx_decoder" not in runtime


def test_without_onnxruntime_the_pytorch_decoder_serves(exported_bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    captioner = load_model(exported_bundle)
    captioner.optimize()
    assert captioner.decoder_runtime == "pytorch"
    assert captioner.caption(photo_like(), beam_size=2, num_captions=1)


def test_a_missing_corrupt_or_malformed_export_falls_back_with_a_warning(exported_bundle,
                                                                       caplog):
    (exported_bundle / STEP_FILE).write_bytes(b"not an onnx graph")
    captioner = load_model(exported_bundle)
    captioner.optimize()
    assert captioner.decoder_runtime == "pytorch"
    assert captioner.caption(photo_like(), beam_size=2, num_captions=1)
    (exported_bundle / STEP_FILE).unlink()
    load_model(exported_bundle).optimize()
    config = json.loads((exported_bundle / "model.json").read_text())
    config["runtime"]["onnx_decoder"] = "decoder.onnx"  # not the {start, step} it must be
    (exported_bundle / "model.json").write_text(json.dumps(config))
    captioner = load_model(exported_bundle)
    captioner.optimize()
    assert captioner.decoder_runtime == "pytorch"
    assert sum("PyTorch decoder serves" in r.getMessage() for r in caplog.records) == 3


def photo_like():
    from PIL import Image

    return Image.new("RGB", (64, 64), (90, 140, 60))
