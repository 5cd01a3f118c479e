"""The attention decoder as two ONNX graphs with int8 weights, run by ONNX Runtime.

Beam search calls the decoder once per word on a handful of rows, so a step is a dozen small
operations whose cost is mostly the framework's own per-operation overhead and reading the
weights, not arithmetic. One ONNX Runtime run per step executes the whole step as one graph,
and dynamic int8 weights read a quarter of the bytes: measured by `python -m bench.decoder`,
figures in the README. The bundle holds two graphs, exported from its own weights
(`python -m caption.model.onnx_decoder BUNDLE_DIR`, run by `make train`) and named in
model.json: `start` (image features -> the first state) and `step` (a word per row and the state
-> the next word's log-probabilities and the next state; the normalisation is in the graph, as
every operation left to the framework after a run costs several times its usual time, the run
having pushed the framework's code and data out of the CPU's caches). Where onnxruntime is not
installed or the graphs are missing, the PyTorch decoder serves (the same captions, slower).
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from caption.model.attention_decoder import AttentionDecoder, DecoderState
from caption.model.onnx_session import open_session

log = logging.getLogger(__name__)

START_FILE = "decoder_start.onnx"
STEP_FILE = "decoder_step.onnx"
OPSET = 17


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

    def forward(self, tokens, h, c, regions, keys):
        h, _, state = self.decoder.advance(tokens, DecoderState(h, c, regions, keys))
        return torch.log_softmax(self.decoder.logits(h), dim=-1), h, state.c


class OnnxDecoder:
    """Has the PyTorch decoder's `start(features)` and `log_probs(tokens, state)`, so the beam
    searches run on it unchanged. One image's regions stay one row, broadcast over its beams
    inside the graph, as DecoderState.select keeps them."""

    def __init__(self, start: Path, step: Path, threads: int):
        self.start_session = open_session(start, threads)
        self.step_session = open_session(step, threads)

    def start(self, features: torch.Tensor) -> DecoderState:
        outputs = self.start_session.run(None, {"features": _array(features)})
        return DecoderState(*(torch.from_numpy(array) for array in outputs))

    def log_probs(self, tokens: torch.Tensor, state: DecoderState
                  ) -> tuple[torch.Tensor, DecoderState]:
        log_probs, h, c = self.step_session.run(None, {
            "tokens": _array(tokens), "h": _array(state.h), "c": _array(state.c),
            "regions": _array(state.regions), "keys": _array(state.keys)})
        return (torch.from_numpy(log_probs),
                DecoderState(torch.from_numpy(h), torch.from_numpy(c), state.regions, state.keys))


def _array(tensor: torch.Tensor):
    return tensor.detach().contiguous().numpy()


def load_onnx_decoder(directory: Path, files: dict, threads: int) -> OnnxDecoder | None:
    """The bundle's exported decoder, or None (with the reason logged) where it cannot serve.
    files: model.json's runtime.onnx_decoder, {"start": name, "step": name}."""
    try:
        paths = [Path(directory) / files["start"], Path(directory) / files["step"]]
    except (KeyError, TypeError):
        log.warning("the bundle's runtime.onnx_decoder is malformed; the PyTorch decoder serves",
                    extra={"value": str(files)[:200]})
        return None
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        log.warning("the bundle names an ONNX decoder it does not hold; the PyTorch decoder "
                    "serves", extra={"files": missing})
        return None
    try:
        return OnnxDecoder(*paths, threads)
    except ImportError:
        log.info("onnxruntime is not installed; the PyTorch decoder serves")
    except Exception as exc:  # a corrupt or incompatible file: serve, slower, and say why
        log.warning("the ONNX decoder could not be loaded; the PyTorch decoder serves",
                    extra={"files": [str(p) for p in paths], "error": str(exc)[:500]})
    return None


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
    graphs = {
        START_FILE: (_Start(decoder), (features,), ["features"], ["h", "c", "regions", "keys"],
                     {"features": {0: "images", 1: "regions"}, "h": {0: "images"},
                      "c": {0: "images"}, "regions": {0: "images", 1: "regions"},
                      "keys": {0: "images", 1: "regions"}}),
        STEP_FILE: (_Step(decoder),
                    (torch.zeros(rows, dtype=torch.long), state.h, state.c, state.regions,
                     state.keys),
                    ["tokens", "h", "c", "regions", "keys"], ["log_probs", "h_out", "c_out"],
                    {"tokens": {0: "rows"}, "h": {0: "rows"}, "c": {0: "rows"},
                     "regions": {0: "images", 1: "regions"}, "keys": {0: "images", 1: "regions"},
                     "log_probs": {0: "rows"}, "h_out": {0: "rows"}, "c_out": {0: "rows"}}),
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
