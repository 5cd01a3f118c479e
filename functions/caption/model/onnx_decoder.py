"""The attention decoder as two ONNX graphs with int8 weights, run by ONNX Runtime.

Beam search calls the decoder once per word on a handful of rows, so a step is a dozen small
operations whose cost is mostly the framework's own per-operation overhead and reading the
weights, not arithmetic. One ONNX Runtime run per step executes the whole step as one graph,
and dynamic int8 weights read a quarter of the bytes: measured by `python -m bench.decoder`,
figures in the README. The bundle holds two graphs, exported from its own weights
(`python -m caption.model.onnx_decoder BUNDLE_DIR`, run by `make train`) and named in
model.json: `start` (image features -> the first state) and `step` (a word per row, the state
and the search's running sums and constraints -> the next word's log-probabilities, each bank's
best candidates as caption.model.ranking ranks them, and the next state). The ranking is in the
graph because every operation left to the framework after a run costs several times its usual
time, the run having pushed the framework's code and data out of the CPU's caches. Where
onnxruntime is not installed or the graphs are missing, the PyTorch decoder serves (the same
captions but for int8 rounding, slower).
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from caption.model.attention_decoder import AttentionDecoder, DecoderState
from caption.model.onnx_session import load_for_serving, open_session
from caption.model.ranking import Constraints, rank_candidates

log = logging.getLogger(__name__)

START_FILE = "decoder_start.onnx"
STEP_FILE = "decoder_step.onnx"
OPSET = 17
# The step graph's inputs after the state: the search's running sums and its constraints
# (caption.model.ranking.rank_candidates), and how many candidates each bank returns.
RANK_INPUTS = ["sums", "word_bias", "after_rows", "after_bias", "has_word", "bank_bias"]
_TRACED_K = 7  # traced as a constant, then made the graph input "k" (see _k_as_input)


class _Start(nn.Module):
    def __init__(self, decoder: AttentionDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, features: torch.Tensor):
        state = self.decoder.start(features)
        return state.h, state.c, state.regions, state.keys


class _Step(nn.Module):
    def __init__(self, decoder: AttentionDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, tokens, h, c, regions, keys, sums, word_bias, after_rows, after_bias,
                has_word, bank_bias):
        h, _, state = self.decoder.advance(tokens, DecoderState(h, c, regions, keys))
        log_probs = torch.log_softmax(self.decoder.logits(h), dim=-1)
        top_sums, top_index = rank_candidates(log_probs, sums, word_bias, after_rows,
                                              after_bias, has_word, bank_bias, _TRACED_K)
        return log_probs, top_sums, top_index, h, state.c


class OnnxDecoder:
    """Has the PyTorch decoder's `start(features)`, `rank(...)` and `log_probs(tokens, state)`,
    so the searches run on it unchanged. Its states hold NumPy arrays, which ONNX Runtime takes
    as they are; one image's regions stay one row, broadcast over its beams inside the graph,
    as DecoderState.select keeps them."""

    def __init__(self, start: Path, step: Path, threads: int):
        self.start_session = open_session(start, threads)
        self.step_session = open_session(step, threads)
        inputs = {i.name for i in self.step_session.get_inputs()}
        missing = sorted({*RANK_INPUTS, "k"} - inputs)
        if missing:  # exported by an earlier version of this module
            raise ValueError(f"{step.name} lacks the inputs {', '.join(missing)}; export it "
                             "again with python -m caption.model.onnx_decoder")

    def start(self, features: torch.Tensor) -> DecoderState:
        return DecoderState(*self.start_session.run(None, {"features": _array(features)}))

    def rank(self, tokens: list[int], state: DecoderState, sums: list[float],
             has_word: list[int], after_rows: list[bool], constraints: Constraints,
             first: bool, k: int):
        """One search step in one run: see caption.model.ranking.rank_with_log_probs."""
        masks = constraints.arrays
        words = masks["first_words" if first else "words"]
        feeds = self._feeds(tokens, state, sums, words, after_rows, masks["after"], has_word,
                            masks["banks"], min(k, len(tokens) * words.shape[0]))
        top_sums, top_index, h, c = self.step_session.run(
            ["top_sums", "top_index", "h_out", "c_out"], feeds)
        return (top_sums.tolist(), top_index.tolist(),
                DecoderState(h, c, state.regions, state.keys))

    def log_probs(self, tokens: torch.Tensor, state: DecoderState
                  ) -> tuple[torch.Tensor, DecoderState]:
        """The next word's log-probabilities per row, unconstrained (for tests and benchmarks:
        the searches call rank)."""
        rows = len(tokens)
        size = self.step_session.get_outputs()[0].shape[1]
        no_bias = torch.zeros(size)
        feeds = self._feeds(tokens, state, [0.0] * rows, no_bias, [False] * rows, no_bias,
                            [0] * rows, torch.zeros(1, 2, size), 1)
        log_probs, h, c = self.step_session.run(["log_probs", "h_out", "c_out"], feeds)
        return torch.from_numpy(log_probs), DecoderState(h, c, state.regions, state.keys)

    @staticmethod
    def _feeds(tokens, state, sums, word_bias, after_rows, after_bias, has_word, bank_bias,
               k: int) -> dict:
        return {"tokens": np.asarray(_array(tokens), dtype=np.int64), "h": _array(state.h),
                "c": _array(state.c), "regions": _array(state.regions),
                "keys": _array(state.keys), "sums": np.asarray(sums, dtype=np.float32),
                "word_bias": _array(word_bias), "after_rows": np.asarray(after_rows, dtype=bool),
                "after_bias": _array(after_bias), "has_word": np.asarray(has_word, dtype=np.int64),
                "bank_bias": _array(bank_bias), "k": np.array([k], dtype=np.int64)}


def _array(value):
    """A tensor's data without a copy where it can be; arrays and lists as they are."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(value)


def _k_as_input(path: Path) -> None:
    """The traced TopK takes its count from a constant; make it the graph input "k" (int64,
    shape [1]), so one graph serves every beam size."""
    import onnx

    model = onnx.load(str(path))
    topk = [node for node in model.graph.node if node.op_type == "TopK"]
    if len(topk) != 1:
        raise RuntimeError(f"expected one TopK in the step graph, found {len(topk)}")
    topk[0].input[1] = "k"
    model.graph.input.append(onnx.helper.make_tensor_value_info("k", onnx.TensorProto.INT64, [1]))
    onnx.save(model, str(path))


def load_onnx_decoder(directory: Path, files: dict, threads: int) -> OnnxDecoder | None:
    """The bundle's exported decoder, or None (with the reason logged) where it cannot serve.
    files: model.json's runtime.onnx_decoder, {"start": name, "step": name}."""
    try:
        paths = [Path(directory) / files["start"], Path(directory) / files["step"]]
    except (KeyError, TypeError):
        log.warning("the bundle's runtime.onnx_decoder is malformed; the PyTorch decoder serves",
                    extra={"value": str(files)[:200]})
        return None
    return load_for_serving("decoder", paths, lambda: OnnxDecoder(*paths, threads))


def export_onnx_decoder(directory: Path) -> list[Path]:
    """Export the bundle's float32 decoder as the start and step graphs, give them dynamic int8
    weights (ONNX Runtime's quantize_dynamic: matrix products with constant weights only) and
    name them in model.json. Needs the `onnx` package (the train extras), not at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from caption.model.bundle import load_bundle, read_config, write_config

    directory = Path(directory)
    decoder = load_bundle(directory, int8_decoder=False).decoder.eval()
    config = decoder.config
    rows, features = 2, torch.zeros(1, 49, config.feature_dim)
    with torch.no_grad():
        state = decoder.start(features)
    state = state.select(torch.zeros(rows, dtype=torch.long))
    size = config.vocab_size
    ranking = (torch.zeros(rows), torch.zeros(size), torch.tensor([False, True]),
               torch.zeros(size), torch.tensor([0, 1]), torch.zeros(2, 2, size))
    graphs = {
        START_FILE: (_Start(decoder), (features,), ["features"], ["h", "c", "regions", "keys"],
                     {"features": {0: "images", 1: "regions"}, "h": {0: "images"},
                      "c": {0: "images"}, "regions": {0: "images", 1: "regions"},
                      "keys": {0: "images", 1: "regions"}}),
        STEP_FILE: (_Step(decoder),
                    (torch.zeros(rows, dtype=torch.long), state.h, state.c, state.regions,
                     state.keys, *ranking),
                    ["tokens", "h", "c", "regions", "keys", *RANK_INPUTS],
                    ["log_probs", "top_sums", "top_index", "h_out", "c_out"],
                    {"tokens": {0: "rows"}, "h": {0: "rows"}, "c": {0: "rows"},
                     "regions": {0: "images", 1: "regions"}, "keys": {0: "images", 1: "regions"},
                     "sums": {0: "rows"}, "after_rows": {0: "rows"}, "has_word": {0: "rows"},
                     "bank_bias": {0: "banks"}, "log_probs": {0: "rows"},
                     "top_sums": {0: "banks", 1: "k"}, "top_index": {0: "banks", 1: "k"},
                     "h_out": {0: "rows"}, "c_out": {0: "rows"}}),
    }
    written = []
    for name, (module, inputs, input_names, output_names, axes) in graphs.items():
        path = directory / name
        float_path = path.with_suffix(".float32.onnx")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
            torch.onnx.export(module, inputs, str(float_path), dynamo=False,
                              input_names=input_names, output_names=output_names,
                              opset_version=OPSET, dynamic_axes=axes)
        if name == STEP_FILE:
            _k_as_input(float_path)
        try:
            quantize_dynamic(float_path, path, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul", "Gemm"],
                             extra_options={"MatMulConstBOnly": True})
        finally:
            float_path.unlink(missing_ok=True)
        path.chmod(0o644)
        written.append(path)
    bundle = read_config(directory)
    bundle.setdefault("runtime", {})["onnx_decoder"] = {"start": START_FILE, "step": STEP_FILE}
    write_config(directory, bundle)
    return written


if __name__ == "__main__":
    for exported in export_onnx_decoder(Path(sys.argv[1] if len(sys.argv) > 1 else
                                             "layers/model")):
        print(exported)
