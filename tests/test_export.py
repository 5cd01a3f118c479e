"""The exported graphs compute what the PyTorch networks they came from compute, are stamped
with those networks' weights, and keep to weights every CPU computes alike."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from caption.model.bag import Slot, bag_arrays
from caption.model.bundle import STAMP_KEY, read_config
from caption.model.constraints import Constraints
from caption.model.decoder import Memory
from caption.model.loader import load_model
from caption.model.rules import BanWords, RequireOneOf, Rules
from caption.model.search import constraints_of
from caption.train.export import bundle as export
from caption.train.networks.torch_parts import TorchDecoder
from caption.train.networks.weights import load_decoder
from tests.conftest import SHIPPED, copy_bundle, resave_bundle

BAG = (Slot("cat", 0.8, 1), Slot("couch", 0.35, 2), Slot("remote", 0.21, 1))


def memory(bundle, bag=BAG, seed: int = 1) -> Memory:
    channels = read_config(bundle).decoder["decoder"]["feature_dim"]
    regions = np.random.default_rng(seed).random((1, 100, channels), dtype=np.float32)
    return Memory(regions, *bag_arrays(bag))


def next_word_log_probs(decoder, features) -> np.ndarray:
    """The first two steps' log-probabilities of the words <start>, "a"."""
    state = decoder.start(features)
    first, state = decoder.log_probs([1], state)
    second, _ = decoder.log_probs([4], state)
    return np.concatenate([np.asarray(first), np.asarray(second)])


class _TorchLogProbs(TorchDecoder):
    def log_probs(self, tokens, state):
        with torch.inference_mode():
            log_probs, state = self.decoder.log_probs(torch.tensor(tokens), state)
        return log_probs.numpy(), state


@pytest.mark.parametrize("bundle, bag, tolerance", [
    ("tiny", BAG, 0.02), ("shipped", BAG, 0.05), ("shipped", (), 0.05)])
def test_the_decoder_graphs_give_the_pytorch_decoders_probabilities(tiny_bundle, bundle, bag,
                                                                    tolerance):
    directory = tiny_bundle if bundle == "tiny" else SHIPPED
    served = load_model(directory).decoder
    reference = _TorchLogProbs(load_decoder(directory))
    features = memory(directory, bag)
    ours = next_word_log_probs(served, features)
    theirs = next_word_log_probs(reference, features)
    assert ours.shape == theirs.shape
    # int8 weights: close, not equal; the exported graph must not be another computation.
    assert np.abs(np.exp(ours) - np.exp(theirs)).max() < tolerance
    assert not np.array_equal(ours, theirs)


def test_the_bag_is_memory_the_decoder_attends_over(tiny_bundle):
    """Each slot of the bag is one more place to attend: an empty bag leaves the regions
    alone, and the slots change what is predicted."""
    decoder = load_model(tiny_bundle).decoder
    empty, full = decoder.start(memory(tiny_bundle, ())), decoder.start(memory(tiny_bundle))
    assert empty.regions.shape[1] == 100 and full.regions.shape[1] == 100 + len(BAG)
    assert not np.allclose(next_word_log_probs(decoder, memory(tiny_bundle, ())),
                           next_word_log_probs(decoder, memory(tiny_bundle)))


def guided_constraints(vocabulary, required: int, banned: int) -> Constraints:
    """The masks the search gives the decoder for a caption that must name `required` and
    may not write `banned` (caption.model.search)."""
    return constraints_of(Rules((RequireOneOf("required", frozenset({required})),
                                 BanWords("banned", frozenset({banned})))), vocabulary)


def test_the_step_graph_ranks_as_the_pytorch_decoder_does(tiny_bundle):
    """One search step: the graph's int8 ranking against the float32 PyTorch decoder's, under
    a required word's constraints: the same candidates, sums within int8 rounding, and every
    constraint honoured."""
    model = load_model(tiny_bundle)
    served = model.decoder
    reference = TorchDecoder(load_decoder(tiny_bundle))
    size = len(model.vocabulary)
    required, banned, after = 8, 9, 10  # three ordinary words of the tiny vocabulary
    constraints = guided_constraints(model.vocabulary, required, banned)
    features = memory(tiny_bundle, seed=3)
    tokens, sums, has_word = [4, 5, 8, 6], [-1.0, -2.0, -1.5, -3.0], [0, 0, 1, 1]
    row_bias = np.zeros((4, size), dtype=np.float32)
    row_bias[2, after] = -np.inf  # one row's own bar
    ranked = {name: decoder.rank(tokens, decoder.start(features).select([0, 0, 0, 0]), sums,
                                 has_word, row_bias, constraints, False, 12)
              for name, decoder in (("served", served), ("reference", reference))}
    (served_sums, served_index, state), (reference_sums, reference_index, _) = \
        ranked["served"], ranked["reference"]
    assert len(served_sums) == len(served_index) == 2 and len(served_sums[0]) == 12
    assert state.h.shape[0] == 4
    rounding = 0.05  # int8 weights within ±64: the same products on every CPU
    for bank in range(2):
        finite = [s for s in reference_sums[bank] if s != -math.inf]
        assert served_sums[bank][:len(finite)] == pytest.approx(finite, abs=rounding)
        # The same candidates, but for near ties at the cut, which rounding may swap.
        clear = {i for total, i in zip(reference_sums[bank], reference_index[bank], strict=True)
                 if total != -math.inf and total > finite[-1] + 2 * rounding}
        assert clear <= set(served_index[bank][:len(finite)])
        for total, index in zip(served_sums[bank], served_index[bank], strict=True):
            if total == -math.inf:
                continue
            row, word = divmod(index, size)
            assert word not in (0, 1, 3, banned)  # never written
            assert not (row == 2 and word == after)  # barred on that row only
            if bank == 0:
                assert has_word[row] == 0 and word != required
            elif has_word[row] == 0:
                assert word == required  # a row reaches bank 1 only by writing the word
    first_sums, first_index, _ = served.rank([1], served.start(features), [0.0], [0], None,
                                             constraints, True, 6)
    assert all(i % size != 2 for s, i in zip(first_sums[1], first_index[1], strict=True)
               if s != -math.inf)  # the first word is never <end>


def test_export_again_after_new_weights_serves_them(tiny_bundle, tmp_path):
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    config = resave_bundle(bundle)
    with pytest.raises(Exception, match="stale"):
        load_model(bundle)
    assert export.main(["bundle", str(bundle)]) == 0
    stamps = {{prop.key: prop.value for prop in onnx.load(str(bundle / name)).metadata_props}[
                  STAMP_KEY] for name in ("decoder_start.onnx", "decoder_step.onnx")}
    assert stamps == {config.weights_sha256}
    assert load_model(bundle).caption(Image.new("RGB", (64, 64)), 2, 1, 4)


def test_the_command_line_explains_itself_and_its_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        export.main(["--help"])
    assert exited.value.code == 0 and "seed" in capsys.readouterr().out
    assert export.main(["bundle", str(tmp_path)]) == 1
    assert "no model bundle" in capsys.readouterr().err


def seven_bit_weights(path) -> list[tuple[int, int]]:
    """(min, max) of each quantized matrix weight (MatMulInteger's second input) in a graph."""
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    ranges = [(int(weights[node.input[1]].min()), int(weights[node.input[1]].max()))
              for node in graph.node
              if node.op_type == "MatMulInteger" and node.input[1] in weights]
    assert ranges, f"{path.name} has no int8 weights"
    return ranges


def test_int8_weights_keep_to_seven_bits_so_every_cpu_computes_them_alike(tiny_bundle):
    """Weights within ±64 never saturate the 16-bit pair sums of AVX2's int8 products
    (2 x 255 x 64 < 32,768), so hosts with and without VNNI serve the same captions
    (caption.train.export.quantize): the graphs export writes, and those the bundle ships."""
    shipped = read_config(SHIPPED).graphs
    paths = [tiny_bundle / read_config(tiny_bundle).graphs.decoder_step,
             *(SHIPPED / name for name in (shipped.decoder_start, shipped.decoder_step))]
    for path in paths:
        for low, high in seven_bit_weights(path):
            assert -64 <= low and high <= 64, (path.name, low, high)
