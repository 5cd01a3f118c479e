"""Export a bundle's checkpoint into the ONNX graphs that serve it, and convert a seed
checkpoint into a bundle. PyTorch exports, ONNX Runtime's tools quantize; nothing here runs at
serving time.

    python -m caption.train.export bundle layers/model            # every graph (make train)
    python -m caption.train.export seed SEED_DIR OUT              # a seed checkpoint -> bundle

Graphs of a bundle (named in model.json's `graphs`):
- `encoder.onnx`: the fixed-size encoder (caption.train.networks.fixed_size_encoder), float32,
  ending in the regions the decoder reads and, where the bundle has a classifier, the ImageNet
  probabilities (pooled features -> linear -> softmax, float16 weights cast up).
- `encoder_int8.onnx`: the same with ONNX Runtime's static int8 quantization, calibrated on
  training photos (min-max ranges, per-channel weights, unsigned activations with signed
  weights; the stem and the last convolution stay float32; measured choices, see
  bench.quantization). Served where the CPU has int8 dot products (caption.model.cpu).
- `decoder_start.onnx`, `decoder_step.onnx`: the decoder with dynamic int8 weights (7-bit, the
  same on every CPU: caption.train.export.quantize); the step
  graph ends in the search's ranking (caption.train.networks.ranking), so a step is one run.

Every graph is stamped with the checkpoint's SHA-256 (caption.model.bundle), which is how
serving knows a graph is stale.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from caption.model.bundle import (
    PART_KEY,
    STAMP_KEY,
    BundleConfig,
    BundleError,
    Graphs,
    read_config,
    write_config,
)
from caption.train.export.quantize import quantize_weights
from caption.train.export.simplify import simplify_graph
from caption.train.networks.attention_decoder import DecoderState
from caption.train.networks.concept_decoder import ConceptDecoder
from caption.train.networks.fixed_size_encoder import fixed_size_encoder
from caption.train.networks.ranking import rank_candidates
from caption.train.networks.weights import file_sha256, load_torch_model

OPSET = 17
CALIBRATION_PHOTOS = 256
FLICKR = Path("../shared/flickr8k")
ENCODER_FILE, INT8_FILE = "encoder.onnx", "encoder_int8.onnx"
START_FILE, STEP_FILE = "decoder_start.onnx", "decoder_step.onnx"
RANK_INPUTS = ["sums", "word_bias", "row_bias", "has_word", "bank_bias"]
_TRACED_K = 7  # traced as a constant, then made the graph input "k" (see _k_as_input)


def calibration_photos(image_dir: Path, split: Path, count: int = CALIBRATION_PHOTOS,
                       seed: int = 0) -> list[Path]:
    """`count` photos of a split, drawn with a fixed seed so the export is reproducible."""
    names = Path(split).read_text().split()
    picked = np.random.default_rng(seed).choice(len(names), min(count, len(names)),
                                                replace=False)
    return [Path(image_dir) / names[i] for i in picked]


def export_module(module: nn.Module, inputs: tuple, path: Path, input_names: list[str],
                  output_names: list[str], axes: dict) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(module, inputs, str(path), dynamo=False, input_names=input_names,
                          output_names=output_names, opset_version=OPSET, dynamic_axes=axes)


def save_graph(model, path: Path, part: str, weights_sha256: str) -> Path:
    """Stamp the graph with its part and the checkpoint it came from, and write it, simplified
    as every serving graph is (caption.train.export.simplify)."""
    import onnx

    onnx.helper.set_model_props(model, {PART_KEY: part, STAMP_KEY: weights_sha256})
    onnx.save(model, str(path))
    path.chmod(0o644)
    simplify_graph(path)
    return path


def _with_outputs(model, classifier: tuple[np.ndarray, np.ndarray] | None):
    """The encoder graph ending in `regions` (N, R, C), the feature maps flattened as the
    decoder reads them, and, with a classifier, `probabilities` (N, classes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    (features,) = [o.name for o in graph.output]
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    graph.initializer.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64),
                                                     "regions_shape"))
    graph.node.extend([
        helper.make_node("Reshape", [features, "regions_shape"], ["flat_features"]),
        helper.make_node("Transpose", ["flat_features"], ["regions"], perm=[0, 2, 1]),
    ])
    outputs = [helper.make_tensor_value_info("regions", TensorProto.FLOAT,
                                             ["batch", "regions", "channels"])]
    if classifier is not None:
        weight, bias = classifier
        graph.initializer.extend([numpy_helper.from_array(weight.astype(np.float16), "cls_w16"),
                                  numpy_helper.from_array(bias.astype(np.float16), "cls_b16")])
        if opset >= 18:  # ReduceMean's axes became an input in opset 18
            graph.initializer.append(numpy_helper.from_array(np.array([2, 3], np.int64),
                                                             "pool_axes"))
            pool = helper.make_node("ReduceMean", [features, "pool_axes"], ["pooled"],
                                    keepdims=0)
        else:
            pool = helper.make_node("ReduceMean", [features], ["pooled"], axes=[2, 3],
                                    keepdims=0)
        graph.node.extend([
            pool,
            helper.make_node("Cast", ["cls_w16"], ["cls_w"], to=TensorProto.FLOAT),
            helper.make_node("Cast", ["cls_b16"], ["cls_b"], to=TensorProto.FLOAT),
            helper.make_node("Gemm", ["pooled", "cls_w", "cls_b"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ])
        outputs.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                                     ["batch", len(bias)]))
    del graph.output[:]
    graph.output.extend(outputs)
    onnx.checker.check_model(model)
    return model


def _quantize_encoder(source: Path, target: Path, preprocess,
                      photos: Iterable[Path | Image.Image]) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.pending = iter(photos)

        def get_next(self) -> dict | None:
            photo = next(self.pending, None)
            if photo is None:
                return None
            image = Image.open(photo) if isinstance(photo, Path) else photo
            return {"pixels": preprocess(image)[None]}

    prepared = target.with_suffix(".prepared.onnx")
    try:
        # Shape inference and constant folding first, as the quantizer's guide asks.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        convolutions = [n.name for n in onnx.load(str(prepared)).graph.node
                        if n.op_type == "Conv"]
        # The stem (its input is the photo) and the last convolution (its output is what the
        # decoder reads) stay float32: quantizing them cost the most per millisecond saved.
        quantize_static(str(prepared), str(target), Photos(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=[convolutions[0], convolutions[-1]])
    finally:
        prepared.unlink(missing_ok=True)


def export_encoder(directory: Path, photos: Iterable[Path | Image.Image] | None) -> Graphs:
    """encoder.onnx and, given calibration photos, encoder_int8.onnx."""
    import onnx

    directory = Path(directory)
    model = load_torch_model(directory)
    size = model.preprocess.size
    encoder = fixed_size_encoder(model.encoder, size).to(memory_format=torch.contiguous_format)
    classifier = (None if model.classifier is None
                  else tuple(t.numpy() for t in model.classifier))
    sha = model.config.weights_sha256
    with tempfile.TemporaryDirectory() as work:
        plain = Path(work) / "features.onnx"
        export_module(encoder, (torch.zeros(1, 3, size, size),), plain, ["pixels"],
                      ["features"], {"pixels": {0: "batch"}, "features": {0: "batch"}})
        save_graph(_with_outputs(onnx.load(str(plain)), classifier), directory / ENCODER_FILE,
                   "encoder", sha)
        int8 = None
        if photos is not None:
            quantized = Path(work) / "int8.onnx"
            _quantize_encoder(plain, quantized, model.preprocess, photos)
            save_graph(_with_outputs(onnx.load(str(quantized)), classifier),
                       directory / INT8_FILE, "encoder_int8", sha)
            int8 = INT8_FILE
    return Graphs(encoder=ENCODER_FILE, encoder_int8=int8)


class _Start(nn.Module):
    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, features: torch.Tensor):
        state = self.decoder.start(features)
        return state.h, state.c, state.regions, state.keys


class _BagStart(nn.Module):
    """The one captioner's start (caption.train.networks.concept_decoder): a photo's regions
    and its bag (K slots, K may be 0) -> the first state, over memory R + K long."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, features, concepts, counts, confidence):
        photo = torch.ones(features.shape[0], dtype=torch.bool)
        state = self.decoder.start_bag(features, photo, concepts, counts, confidence)
        return state.h, state.c, state.regions, state.keys


BAG_INPUTS = ("concepts", "counts", "confidence")


class _Step(nn.Module):
    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, tokens, h, c, regions, keys, sums, word_bias, row_bias, has_word,
                bank_bias):
        h, _, state = self.decoder.advance(tokens, DecoderState(h, c, regions, keys))
        log_probs = torch.log_softmax(self.decoder.logits(h), dim=-1)
        top_sums, top_index = rank_candidates(log_probs, sums, word_bias, row_bias, has_word,
                                              bank_bias, _TRACED_K)
        return log_probs, top_sums, top_index, h, state.c


def _k_as_input(model) -> None:
    """The traced TopK takes its count from a constant; make it the graph input "k" (int64,
    shape [1]), so one graph serves every beam size."""
    import onnx

    topk = [node for node in model.graph.node if node.op_type == "TopK"]
    if len(topk) != 1:
        raise RuntimeError(f"expected one TopK in the step graph, found {len(topk)}")
    topk[0].input[1] = "k"
    model.graph.input.append(onnx.helper.make_tensor_value_info("k", onnx.TensorProto.INT64, [1]))


_STATE_AXES = {"h": {0: "rows"}, "c": {0: "rows"}, "regions": {0: "images", 1: "regions"},
               "keys": {0: "images", 1: "regions"}}
_STEP_AXES = {"tokens": {0: "rows"}, **_STATE_AXES, "sums": {0: "rows"},
              "row_bias": {0: "rows"}, "has_word": {0: "rows"}, "bank_bias": {0: "banks"},
              "log_probs": {0: "rows"}, "top_sums": {0: "banks", 1: "k"},
              "top_index": {0: "banks", 1: "k"}, "h_out": {0: "rows"}, "c_out": {0: "rows"}}


def _export_decoder_graphs(start: nn.Module, step: nn.Module, features: torch.Tensor,
                           state, vocab_size: int, directory: Path, sha: str,
                           int8_weights: bool, bag: tuple[torch.Tensor, ...] = ()) -> Graphs:
    """Export `start` (features, and the bag's inputs where `bag` is given -> h, c, regions,
    keys) and `step` (the search step) under the serving graphs' names and inputs;
    int8_weights: ONNX Runtime's dynamic int8 weights."""
    import onnx

    rows = 2
    ranking = (torch.zeros(rows), torch.zeros(vocab_size), torch.zeros(rows, vocab_size),
               torch.tensor([0, 1]), torch.zeros(2, 2, vocab_size))
    bag_names = list(BAG_INPUTS) if bag else []
    graphs = {
        ("decoder_start", START_FILE): (
            start, (features, *bag), ["features", *bag_names], ["h", "c", "regions", "keys"],
            {"features": {0: "images", 1: "regions"} if features.dim() == 3 else {0: "images"},
             **{name: {0: "images", 1: "slots"} for name in bag_names},
             "h": {0: "images"}, "c": {0: "images"}, "regions": {0: "images", 1: "regions"},
             "keys": {0: "images", 1: "regions"}}),
        ("decoder_step", STEP_FILE): (
            step, (torch.zeros(rows, dtype=torch.long), state.h, state.c, state.regions,
                   state.keys, *ranking),
            ["tokens", "h", "c", "regions", "keys", *RANK_INPUTS],
            ["log_probs", "top_sums", "top_index", "h_out", "c_out"], _STEP_AXES),
    }
    with tempfile.TemporaryDirectory() as work:
        for (part, name), (module, inputs, input_names, output_names, axes) in graphs.items():
            traced = Path(work) / name
            export_module(module, inputs, traced, input_names, output_names, axes)
            model = onnx.load(str(traced))
            if part == "decoder_step":
                _k_as_input(model)
            onnx.save(model, str(traced))
            if int8_weights:
                quantized = Path(work) / f"int8-{name}"
                quantize_weights(traced, quantized, ["MatMul", "Gemm"],
                                 {"MatMulConstBOnly": True})
                traced = quantized
            save_graph(onnx.load(str(traced)), directory / name, part, sha)
    return Graphs(decoder_start=START_FILE, decoder_step=STEP_FILE)


def export_decoder(directory: Path) -> Graphs:
    """The decoder's two graphs; for one that reads a bag (ConceptDecoder), its start takes the
    bag's three inputs too."""
    directory = Path(directory)
    model = load_torch_model(directory)
    decoder = model.decoder.eval()
    features = torch.zeros(1, 49, decoder.config.feature_dim)
    if isinstance(decoder, ConceptDecoder):
        start = _BagStart(decoder)
        bag = (torch.tensor([[1, 17]]), torch.tensor([[1, 2]]), torch.tensor([[5, 3]]))
    else:
        start, bag = _Start(decoder), ()
    with torch.no_grad():
        state = start(features, *bag)
        state = DecoderState(*state).select(torch.zeros(2, dtype=torch.long))
    return _export_decoder_graphs(start, _Step(decoder), features, state,
                                  decoder.config.vocab_size, directory,
                                  model.config.weights_sha256, int8_weights=True, bag=bag)


def export_bundle(directory: Path, photos: Iterable[Path | Image.Image] | None) -> BundleConfig:
    """Every graph of the bundle, named in model.json. photos: what calibrates the int8
    encoder (training photos, never val or test); None exports no int8 encoder."""
    encoder = export_encoder(directory, photos)
    decoder = export_decoder(directory)
    config = read_config(directory)
    # The other graphs (the concepts graph of caption.train.stages.grounding, the detector) are
    # trained or translated, not exported from this checkpoint: they stay, and the
    # concepts graph is refused at load if the checkpoint it was trained for is no longer this one.
    config = config.with_changes(graphs=dataclasses.replace(
        config.graphs, encoder=encoder.encoder, encoder_int8=encoder.encoder_int8,
        decoder_start=decoder.decoder_start, decoder_step=decoder.decoder_step))
    write_config(directory, config)
    return config


class _SeedStart(nn.Module):
    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, features: torch.Tensor):
        """features: (images, 256): the image vector is the LSTM's first input."""
        _, (h, c) = self.decoder.lstm(features[:, None])
        empty = torch.zeros(features.shape[0], 1, 1)  # nothing to attend over
        return h.transpose(0, 1).flatten(1), c.transpose(0, 1).flatten(1), empty, empty


class _SeedStep(nn.Module):
    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder
        self.layers = decoder.lstm.num_layers
        self.hidden = decoder.lstm.hidden_size

    def forward(self, tokens, h, c, regions, keys, sums, word_bias, row_bias, has_word,
                bank_bias):
        def layered(x):
            return x.reshape(-1, self.layers, self.hidden).transpose(0, 1).contiguous()

        out, (h, c) = self.decoder.lstm(self.decoder.embed(tokens)[:, None],
                                        (layered(h), layered(c)))
        log_probs = torch.log_softmax(self.decoder.linear(out[:, 0]), dim=-1)
        top_sums, top_index = rank_candidates(log_probs, sums, word_bias, row_bias, has_word,
                                              bank_bias, _TRACED_K)
        return (log_probs, top_sums, top_index, h.transpose(0, 1).flatten(1),
                c.transpose(0, 1).flatten(1))


def export_seed(seed_dir: Path, out: Path) -> BundleConfig:
    """A seed Show-and-Tell checkpoint as a bundle: its ResNet-152 encoder and LSTM decoder as
    float32 graphs (as the seed app ran them), its vocabulary and ImageNet preprocessing."""
    import onnx

    from caption.model.loader import SEED_FILES
    from caption.train.export.seed_checkpoint import CheckpointError, load_seed_checkpoint

    try:
        seed = load_seed_checkpoint(seed_dir)
    except CheckpointError as exc:
        raise BundleError(str(exc)) from exc
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sha = file_sha256(*(Path(seed_dir) / name for name in SEED_FILES))
    size = seed.preprocess.size
    with tempfile.TemporaryDirectory() as work:
        traced = Path(work) / ENCODER_FILE
        export_module(seed.encoder, (torch.zeros(1, 3, size, size),), traced, ["pixels"],
                      ["regions"], {"pixels": {0: "batch"}, "regions": {0: "batch"}})
        save_graph(onnx.load(str(traced)), out / ENCODER_FILE, "encoder", sha)
    decoder = seed.decoder
    features = torch.zeros(1, seed.encoder.linear.out_features)
    start = _SeedStart(decoder)
    with torch.no_grad():
        h, c, regions, keys = start(features)
    rows = torch.zeros(2, dtype=torch.long)
    # The seed LSTM's (layers, B, hidden) state, carried as the serving graphs carry a state:
    # rows of (B, layers * hidden), beside empty regions.
    state = DecoderState(h[rows], c[rows], regions, keys)
    graphs = _export_decoder_graphs(start, _SeedStep(decoder), features, state,
                                    len(seed.vocabulary), out, sha, int8_weights=False)
    lstm = decoder.lstm
    config = BundleConfig(
        name=seed.info.name, version=seed.info.version, architecture=seed.info.architecture,
        encoder={"variant": "resnet152"},
        decoder={"embed_dim": lstm.input_size, "hidden_dim": lstm.hidden_size,
                 "num_layers": lstm.num_layers, "vocab_size": len(seed.vocabulary)},
        preprocessing=seed.preprocess, vocabulary=seed.vocabulary.words,
        graphs=Graphs(encoder=ENCODER_FILE, decoder_start=graphs.decoder_start,
                      decoder_step=graphs.decoder_step),
        weights_sha256=sha, training={"source": f"seed checkpoint {Path(seed_dir).name}"})
    write_config(out, config)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caption.train.export",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    bundle = commands.add_parser("bundle", help="export every graph of a bundle",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bundle.add_argument("directory", type=Path, nargs="?", default=Path("layers/model"))
    bundle.add_argument("--images", type=Path, default=FLICKR / "images",
                        help="where the int8 encoder's calibration photos are")
    bundle.add_argument("--split", type=Path, default=FLICKR / "splits/train.txt",
                        help="the photos to calibrate on: training photos, never val or test")
    bundle.add_argument("--count", type=int, default=CALIBRATION_PHOTOS)
    bundle.add_argument("--no-int8", action="store_true",
                        help="export no int8 encoder (the float32 one then serves everywhere)")
    seed = commands.add_parser("seed", help="convert a seed Show-and-Tell checkpoint "
                                            "(encoder.pth, decoder.pth, id_to_word.pkl)")
    seed.add_argument("seed_dir", type=Path)
    seed.add_argument("out", type=Path, help="the bundle folder to write")
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            config = export_seed(args.seed_dir, args.out)
            target = args.out
        else:
            photos = None
            if not args.no_int8:
                if not args.split.exists():
                    parser.error(f"{args.split} not found: give --images and --split for the "
                                 "int8 encoder's calibration photos, or --no-int8")
                photos = calibration_photos(args.images, args.split, args.count)
            config = export_bundle(args.directory, photos)
            target = args.directory
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in (config.graphs.encoder, config.graphs.encoder_int8, config.graphs.decoder_start,
                 config.graphs.decoder_step):
        if name:
            print(target / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
