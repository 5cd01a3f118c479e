"""Export a bundle's checkpoint into the ONNX graphs that serve it, and convert a seed
checkpoint into a bundle. PyTorch exports, ONNX Runtime's tools quantize; nothing here runs at
serving time.

    python -m caption.train.export bundle layers/model            # the decoder's graphs again
    python -m caption.train.export seed SEED_DIR OUT              # a seed checkpoint -> bundle

The decoder's graphs (named in model.json's `graphs`; caption.train.export.captioner writes
them from a training checkpoint, `bundle` from the bundle's own model.safetensors):
- `decoder_start.onnx`: the photo's regions and bag -> the decoder's first state;
- `decoder_step.onnx`: one search step, ending in the search's ranking
  (caption.train.networks.ranking), so a step is one run.
Both have dynamic int8 weights (7-bit, the same on every CPU: caption.train.export.quantize).
The detector and the labels head have their own commands (caption.train.export.detector,
caption.train.stages.label_head).

Every graph is stamped with the SHA-256 of the weights it came from (caption.model.bundle),
which is how serving knows a graph is stale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from caption.model.bundle import (
    PART_KEY,
    STAMP_KEY,
    BundleConfig,
    BundleError,
    Graphs,
    write_config,
)
from caption.train.export.quantize import quantize_weights
from caption.train.networks.attention_decoder import DecoderState
from caption.train.networks.ranking import rank_candidates
from caption.train.networks.weights import file_sha256

OPSET = 17
ENCODER_FILE = "encoder.onnx"  # a converted seed bundle's
START_FILE, STEP_FILE = "decoder_start.onnx", "decoder_step.onnx"
RANK_INPUTS = ["sums", "word_bias", "row_bias", "has_word", "bank_bias"]
_TRACED_K = 7  # traced as a constant, then made the graph input "k" (see _k_as_input)


def export_module(module: nn.Module, inputs: tuple, path: Path, input_names: list[str],
                  output_names: list[str], axes: dict) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(module, inputs, str(path), dynamo=False, input_names=input_names,
                          output_names=output_names, opset_version=OPSET, dynamic_axes=axes)


def save_graph(model, path: Path, part: str, weights_sha256: str) -> Path:
    """Stamp the graph with its part and the checkpoint it came from, and write it."""
    import onnx

    onnx.helper.set_model_props(model, {PART_KEY: part, STAMP_KEY: weights_sha256})
    onnx.save(model, str(path))
    path.chmod(0o644)
    return path


class StepGraph(nn.Module):
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


def export_decoder_graphs(start: nn.Module, step: nn.Module, features, state,
                           vocab_size: int, directory: Path, sha: str, int8_weights: bool,
                           start_names: tuple[list[str], dict] | None = None) -> Graphs:
    """Export `start` (features -> h, c, regions, keys) and `step` (the search step) under the
    serving graphs' names and inputs; int8_weights: ONNX Runtime's dynamic int8 weights.
    start_names: the start graph's input names and dynamic axes where it takes more than one
    input (`features` is then their tuple; its outputs are h, c, memory, keys)."""
    import onnx

    rows = 2
    ranking = (torch.zeros(rows), torch.zeros(vocab_size), torch.zeros(rows, vocab_size),
               torch.tensor([0, 1]), torch.zeros(2, 2, vocab_size))
    if start_names is None:
        start_graph = (
            start, (features,), ["features"], ["h", "c", "regions", "keys"],
            {"features": {0: "images", 1: "regions"} if features.dim() == 3 else {0: "images"},
             "h": {0: "images"}, "c": {0: "images"}, "regions": {0: "images", 1: "regions"},
             "keys": {0: "images", 1: "regions"}})
    else:
        start_graph = (start, tuple(features), start_names[0], ["h", "c", "memory", "keys"],
                       start_names[1])
    graphs = {
        ("decoder_start", START_FILE): start_graph,
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
    graphs = export_decoder_graphs(start, _SeedStep(decoder), features, state,
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
    bundle = commands.add_parser("bundle", help="export the decoder's graphs of a bundle from "
                                                "its model.safetensors",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bundle.add_argument("directory", type=Path, nargs="?", default=Path("layers/model"))
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
            from caption.train.export.captioner import export_bundle_graphs

            config = export_bundle_graphs(args.directory)
            target = args.directory
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in (config.graphs.encoder, config.graphs.decoder_start, config.graphs.decoder_step):
        if name:
            print(target / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
