"""Export (caption.train.export): the graphs compute what the PyTorch networks compute, within
int8 rounding where weights are int8, carry their provenance, and the command line says what it
does and what went wrong."""

from __future__ import annotations

import io
import math

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from caption.model.bundle import STAMP_KEY, read_config
from caption.model.constraints import Constraints
from caption.model.cpu import has_vnni
from caption.model.loader import load_model, open_encoder
from caption.model.rules import BanWords, RequireOneOf, Rules
from caption.model.search import constraints_of
from caption.train.export import bundle as export
from caption.train.networks.torch_parts import TorchDecoder, TorchEncoder
from caption.train.networks.weights import load_torch_model
from tests.conftest import REPO, copy_bundle, resave_bundle

SHIPPED = REPO / "layers" / "model"


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def encoders(bundle):
    config = read_config(bundle)
    return {precision: open_encoder(bundle, config, precision, 2)
            for precision in ("float32", "int8")}


def test_the_encoder_graphs_compute_the_pytorch_encoders_regions(tiny_bundle):
    model = load_torch_model(tiny_bundle)
    pixels = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)  # a batch
    reference = TorchEncoder(model.encoder)(pixels).regions
    graphs = encoders(tiny_bundle)
    # The graph stores its weights as float16 (caption.train.export.half_weights, where the
    # arithmetic is checked to the bit): PyTorch's regions within that rounding.
    assert relative_error(graphs["float32"](pixels).regions, reference) < 1e-2
    # int8: close, not equal (the shipped bundle's figures: below)
    assert 1e-4 < relative_error(graphs["int8"](pixels).regions, reference) < 0.5


def test_the_int8_encoder_quantizes_all_but_the_first_and_last_convolutions(tiny_bundle):
    graph = onnx.load(str(tiny_bundle / "encoder_int8.onnx")).graph
    produced_by = {out: node for node in graph.node for out in node.output}
    convolutions = [n for n in graph.node if n.op_type == "Conv"]
    int8_weights = [c for c in convolutions if c.input[1] in produced_by
                    and produced_by[c.input[1]].op_type == "DequantizeLinear"]
    assert len(int8_weights) == len(convolutions) - 2
    assert convolutions[0] not in int8_weights and convolutions[-1] not in int8_weights


def test_the_shipped_encoder_classifies_as_the_pytorch_classifier_does(photos):
    """The shipped graph ends in the ImageNet classifier: regions and probabilities as PyTorch
    computes them, on real photos. (The bundle ships the float32 encoder alone: one precision
    on every CPU.)"""
    from caption.images import decode_image

    model = load_torch_model(SHIPPED)
    reference = TorchEncoder(model.encoder, model.classifier)
    config = read_config(SHIPPED)
    assert config.graphs.encoder_int8 is None
    float32 = open_encoder(SHIPPED, config, "float32", 2)
    for name in ("chelsea", "coffee", "astronaut"):
        image = decode_image(photos[name], 10**8, 224).image
        pixels = model.preprocess(image)[None]
        expected, served = reference(pixels), float32(pixels)
        # Within the rounding of the weights to float16 (caption.train.export.half_weights):
        # measured 0.2 to 0.5 % on these photos, probabilities within 0.005.
        assert relative_error(served.regions, expected.regions) < 1e-2
        assert np.abs(served.probabilities - expected.probabilities).max() < 1e-2


def next_word_log_probs(decoder, features, rows: int = 4) -> np.ndarray:
    """Three steps of `rows` beams of one image (regions broadcast, as beam search keeps
    them), then the next word's log-probabilities."""
    state = decoder.start(features).select([0] * rows)
    tokens = list(range(4, 4 + rows))
    for _ in range(3):
        log_probs, state = decoder.log_probs(tokens, state)
        log_probs = np.asarray(log_probs)
        tokens = log_probs.argmax(axis=-1).tolist()
    return log_probs


class _TorchLogProbs:
    """The PyTorch decoder with the served decoder's log_probs(list, state) signature."""

    def __init__(self, decoder):
        self.decoder = decoder

    def start(self, features):
        with torch.inference_mode():
            return self.decoder.start(features)

    def log_probs(self, tokens, state):
        with torch.inference_mode():
            log_probs, state = self.decoder.log_probs(torch.tensor(tokens), state)
        return log_probs.numpy(), state


@pytest.mark.parametrize("bundle, tolerance", [("tiny", 0.02), ("shipped", 0.05)])
def test_the_decoder_graphs_give_the_pytorch_decoders_probabilities(tiny_bundle, bundle,
                                                                    tolerance):
    directory = tiny_bundle if bundle == "tiny" else SHIPPED
    served = load_model(directory).decoder
    reference = load_torch_model(directory).decoder
    features = np.random.default_rng(1).random(
        (1, 4, reference.config.feature_dim), dtype=np.float32)
    served_input, reference_input = features, torch.from_numpy(features)
    if read_config(directory).bag is not None:  # the one captioner: regions and a bag
        from caption.model.bag import Slot, bag_inputs
        from caption.train.networks.concept_decoder import BagBatch

        bag = bag_inputs((Slot("person", 0.8, 2), Slot("dog", 0.35, 1)))
        served_input = {"features": features, **bag}
        reference_input = BagBatch(reference_input, *(torch.from_numpy(bag[k])
                                                      for k in ("concepts", "counts",
                                                                "confidence")))
    ours = next_word_log_probs(served, served_input)
    theirs = next_word_log_probs(_TorchLogProbs(reference), reference_input)
    assert ours.shape == theirs.shape
    # int8 weights: close, not equal; the exported graph must not be another computation.
    assert np.abs(np.exp(ours) - np.exp(theirs)).max() < tolerance
    assert not np.array_equal(ours, theirs)


def test_the_start_graph_takes_several_images(tiny_bundle):
    decoder = load_model(tiny_bundle).decoder
    state = decoder.start(np.random.default_rng(2).random((2, 4, 1280), dtype=np.float32))
    log_probs, state = decoder.log_probs([4, 5], state)  # two images: regions not broadcast
    assert log_probs.shape == (2, 11) and state.h.shape[0] == 2
    assert np.allclose(np.exp(log_probs).sum(axis=1), 1, atol=1e-5)


def guided_constraints(vocabulary, required: int, banned: int) -> Constraints:
    """The masks the search gives the decoder for a caption that must name `required` and
    may not write `banned` (caption.model.search)."""
    return constraints_of(Rules((RequireOneOf("required", frozenset({required})),
                                 BanWords("banned", frozenset({banned})))), vocabulary)


def test_the_step_graph_ranks_as_the_pytorch_decoder_does(tiny_bundle):
    """One search step: the graph's int8 ranking against the float32 PyTorch decoder's, under
    a guided search's constraints: the same candidates, sums within int8 rounding, and every
    constraint honoured."""
    model = load_model(tiny_bundle)
    served = model.decoder
    reference = TorchDecoder(load_torch_model(tiny_bundle).decoder)
    size = len(model.vocabulary)
    required, banned, after = 8, 9, 10  # three ordinary words of the tiny vocabulary
    constraints = guided_constraints(model.vocabulary, required, banned)
    features = np.random.default_rng(3).random((1, 4, 1280), dtype=np.float32)
    tokens, sums, has_word = [4, 5, 8, 6], [-1.0, -2.0, -1.5, -3.0], [0, 0, 1, 1]
    row_bias = np.zeros((4, size), dtype=np.float32)
    row_bias[2, after] = -np.inf  # one row's own bar, as the guided search sets after its noun
    ranked = {name: decoder.rank(tokens, decoder.start(features).select([0, 0, 0, 0]), sums,
                                 has_word, row_bias, constraints, False, 12)
              for name, decoder in (("served", served), ("reference", reference))}
    (served_sums, served_index, state), (reference_sums, reference_index, _) = \
        ranked["served"], ranked["reference"]
    assert len(served_sums) == len(served_index) == 2 and len(served_sums[0]) == 12
    assert state.h.shape[0] == 4
    # int8 rounding; twice that without VNNI, where the int8 products can saturate
    # (caption.model.cpu): 0.057 measured on an AVX2-only machine.
    rounding = 0.05 if has_vnni() else 0.1
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
            assert not (row == 2 and word == after)  # barred after the noun, on that row only
            if bank == 0:
                assert has_word[row] == 0 and word != required
            elif has_word[row] == 0:
                assert word == required  # a row reaches bank 1 only by writing the word
    first_sums, first_index, _ = served.rank([4], served.start(features), [0.0], [0], None,
                                             constraints, True, 6)
    assert all(i % size != 2 for s, i in zip(first_sums[1], first_index[1], strict=True)
               if s != -math.inf)  # the first word is never <end>


def test_export_again_after_new_weights_serves_them(tiny_bundle, tmp_path, photos):
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    config = resave_bundle(bundle)
    export.export_bundle(bundle, [Image.open(io.BytesIO(photos["chelsea"]))])
    stamps = {{prop.key: prop.value for prop in onnx.load(str(bundle / name)).metadata_props}[
                  STAMP_KEY] for name in ("encoder.onnx", "encoder_int8.onnx", "decoder_start.onnx",
                           "decoder_step.onnx")}
    assert stamps == {config.weights_sha256}
    assert load_model(bundle).caption(Image.new("RGB", (64, 64)), 2, 1, 4)


def test_the_command_line_explains_itself_and_its_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        export.main(["--help"])
    assert exited.value.code == 0 and "seed" in capsys.readouterr().out
    assert export.main(["bundle", str(tmp_path), "--no-int8"]) == 1
    assert "no model bundle" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        export.main(["bundle", str(tmp_path), "--split", str(tmp_path / "missing.txt")])
    assert exited.value.code == 2 and "--no-int8" in capsys.readouterr().err


def test_calibration_photos_are_drawn_reproducibly(tmp_path):
    split = tmp_path / "train.txt"
    split.write_text("\n".join(f"{i}.jpg" for i in range(50)))
    first = export.calibration_photos(tmp_path, split, count=8)
    assert first == export.calibration_photos(tmp_path, split, count=8)
    assert len(set(first)) == 8 and len(export.calibration_photos(tmp_path, split, count=99)) == 50


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
    (2 x 255 x 64 < 32,768), so
    hosts with and without VNNI serve the same captions (caption.train.export.quantize): the
    decoder graphs export writes, and every int8 graph the bundle ships."""
    shipped = read_config(SHIPPED).graphs
    paths = [tiny_bundle / read_config(tiny_bundle).graphs.decoder_step,
             *(SHIPPED / name for name in (shipped.decoder_start, shipped.decoder_step))]
    for path in paths:
        for low, high in seven_bit_weights(path):
            assert -64 <= low and high <= 64, (path.name, low, high)



def _conv_batch_norm_graph():
    """A convolution, its batch norm and an identity: what basic optimization folds into one."""
    rng = np.random.default_rng(0)
    weights = {"w": rng.normal(size=(4, 3, 3, 3)), "scale": rng.uniform(0.5, 2, 4),
               "bias": rng.normal(size=4), "mean": rng.normal(size=4),
               "var": rng.uniform(0.5, 2, 4)}
    nodes = [onnx.helper.make_node("Conv", ["x", "w"], ["conv"], pads=[1, 1, 1, 1]),
             onnx.helper.make_node("BatchNormalization",
                                   ["conv", "scale", "bias", "mean", "var"], ["norm"]),
             onnx.helper.make_node("Identity", ["norm"], ["y"])]
    graph = onnx.helper.make_graph(
        nodes, "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                        [1, 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(value.astype(np.float32), name)
         for name, value in weights.items()])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_saved_graphs_are_simplified_and_compute_the_same(tmp_path):
    import onnxruntime

    plain, simplified = tmp_path / "plain.onnx", tmp_path / "simplified.onnx"
    onnx.save(_conv_batch_norm_graph(), str(plain))
    export.save_graph(_conv_batch_norm_graph(), simplified, "encoder", "stamp")
    saved = onnx.load(str(simplified))
    assert [n.op_type for n in saved.graph.node] == ["Conv"]
    assert {p.key: p.value for p in saved.metadata_props}[STAMP_KEY] == "stamp"
    unoptimized = onnxruntime.SessionOptions()
    unoptimized.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32)
    expected = onnxruntime.InferenceSession(str(plain), unoptimized,
                                            providers=["CPUExecutionProvider"])
    served = onnxruntime.InferenceSession(str(simplified), providers=["CPUExecutionProvider"])
    assert np.allclose(served.run(None, {"x": x})[0], expected.run(None, {"x": x})[0],
                       atol=1e-5)


def test_every_shipped_graph_is_already_simplified(tmp_path):
    from collections import Counter

    from caption.train.export.simplify import simplify_bundle

    copy = copy_bundle(SHIPPED, tmp_path / "bundle")

    def operations():
        return {path.name: Counter(n.op_type for n in onnx.load(str(path)).graph.node)
                for path in copy.glob("*.onnx")}

    before = operations()
    simplify_bundle(copy)
    assert operations() == before, ("a graph was written without simplification: export it "
                                    "again, or run python -m caption.train.export.simplify")
