"""The model bundle: `model.safetensors` (weights) beside `model.json` (everything else).

The JSON carries the architecture's configuration, the vocabulary, the preprocessing, the
measured metrics and the training data's provenance, so loading needs the two files alone and
never unpickles anything. Weights are stored as float16 (half the size) and run as float32.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from caption.model.attention_decoder import AttentionDecoder, DecoderConfig
from caption.model.captioner import (
    DEFAULT_GUIDE_THRESHOLD,
    DEFAULT_NOVEL_THRESHOLD,
    Captioner,
    ModelInfo,
)
from caption.model.efficientnet_lite import EfficientNetLite
from caption.model.encoder_int8 import INT8_FILE
from caption.model.labels import LabelModel
from caption.model.onnx_decoder import START_FILE, STEP_FILE
from caption.model.onnx_encoder import ONNX_FILE
from caption.model.preprocess import Preprocessing
from caption.model.quantization import quantize_decoder
from caption.model.vocabulary import Vocabulary

FORMAT = "caption-lambda-bundle/1"
ARCHITECTURE = "efficientnet-lite+attention-lstm"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"


class BundleError(Exception):
    """The bundle is missing, malformed or of a format this code does not read."""


def save_bundle(directory: Path, encoder_variant: str, encoder: EfficientNetLite,
                decoder: AttentionDecoder, vocabulary: Vocabulary, preprocess: Preprocessing,
                info: ModelInfo, int8_decoder: bool = True, labels: dict | None = None,
                classifier: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
    """labels: the JSON `labels` section (see caption.train.imagenet_labels); classifier: the
    ImageNet classifier's (weight, bias) that the labels name the rows of."""
    if (labels is None) != (classifier is None):
        raise ValueError("labels and classifier go together")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # ONNX exports of earlier weights would no longer match: export again after saving.
    for exported in (ONNX_FILE, INT8_FILE, START_FILE, STEP_FILE):
        (directory / exported).unlink(missing_ok=True)
    tensors = {f"encoder.{k}": v for k, v in encoder.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    tensors.update({f"decoder.{k}": v for k, v in decoder.state_dict().items()})
    if classifier is not None:
        tensors["classifier.weight"], tensors["classifier.bias"] = classifier
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in tensors.items()},
              directory / WEIGHTS_FILE)
    # safetensors creates the file owner-only (0600); the image's function runs as another user
    # than the one that built it, and must read it.
    (directory / WEIGHTS_FILE).chmod(0o644)
    config = {
        "format": FORMAT,
        "name": info.name,
        "version": info.version,
        "architecture": ARCHITECTURE,
        "encoder": {"variant": encoder_variant},
        "decoder": decoder.config.to_json(),
        "preprocessing": {"size": preprocess.size, "mean": list(preprocess.mean),
                          "std": list(preprocess.std)},
        "vocabulary": vocabulary.words,
        # How the runtime executes the weights; the metrics below were measured that way.
        "runtime": {"int8_decoder": int8_decoder},
        "metrics": info.metrics,
        "training": info.training,
    }
    if labels is not None:
        config["labels"] = labels
    write_config(directory, config)


def write_config(directory: Path, config: dict) -> None:
    """model.json, as every tool that changes a bundle writes it (read it with read_config)."""
    (Path(directory) / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n",
                                               encoding="utf-8")


def read_config(directory: Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"no model bundle at {directory} ({CONFIG_FILE} is missing)") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from None
    if config.get("format") != FORMAT:
        raise BundleError(f"{path} has format {config.get('format')!r}, expected {FORMAT!r}")
    return config


@contextmanager
def _without_random_init():
    """Build modules with uninitialised (empty) parameters: every one of them is replaced by the
    bundle's weights, so drawing random ones first is wasted start-up time (about 45 ms here).
    The meta device would do the same, but its first use costs about a second of imports."""
    classes = (nn.Linear, nn.modules.conv._ConvNd, nn.modules.rnn.RNNCellBase, nn.Embedding,
               nn.modules.batchnorm._NormBase)
    saved = {cls: cls.__dict__["reset_parameters"] for cls in classes}
    try:
        for cls in classes:
            cls.reset_parameters = lambda self: None
        yield
    finally:
        for cls, method in saved.items():
            cls.reset_parameters = method


def load_bundle(directory: Path, int8_decoder: bool | None = None) -> Captioner:
    """int8_decoder overrides the bundle's own `runtime.int8_decoder` (for comparisons)."""
    directory = Path(directory)
    config = read_config(directory)
    runtime = config.get("runtime", {})  # how the weights are executed (see save_bundle)
    weights = load_file(directory / WEIGHTS_FILE)
    with _without_random_init():
        encoder = EfficientNetLite(config["encoder"]["variant"])
        decoder = AttentionDecoder(DecoderConfig(**config["decoder"]))
    for prefix, module in (("encoder.", encoder), ("decoder.", decoder)):
        state = {k[len(prefix):]: v.float() for k, v in weights.items() if k.startswith(prefix)}
        for name, buffer in module.named_buffers():
            if name.endswith("num_batches_tracked"):  # BatchNorm step counters are not stored
                state.setdefault(name, torch.zeros((), dtype=buffer.dtype))
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise BundleError(f"{directory}: weights do not match the config: {exc}") from None
    decoder.eval()
    if int8_decoder is None:
        int8_decoder = runtime.get("int8_decoder", False)
    if int8_decoder:
        decoder = quantize_decoder(decoder)
    pre = config["preprocessing"]
    info = ModelInfo(config["name"], config["version"], config["architecture"],
                     config.get("metrics", {}), config.get("training", {}))
    labels = None
    section = config.get("labels")
    if section is not None:
        try:
            labels = LabelModel.from_bundle(section, weights["classifier.weight"].float(),
                                            weights["classifier.bias"].float())
        except (KeyError, ValueError) as exc:
            raise BundleError(f"{directory}: labels do not match the classifier: {exc}") from None
    captioner = Captioner(encoder, decoder, Vocabulary(config["vocabulary"]),
                          Preprocessing(pre["size"], tuple(pre["mean"]), tuple(pre["std"])),
                          info, labels,
                          (section or {}).get("guide_threshold", DEFAULT_GUIDE_THRESHOLD),
                          (section or {}).get("guide_threshold_novel", DEFAULT_NOVEL_THRESHOLD))
    if runtime.get("onnx_encoder"):  # written by caption.model.onnx_encoder from these weights
        captioner.onnx_encoder_file = directory / runtime["onnx_encoder"]
    if runtime.get("onnx_encoder_int8"):  # caption.model.encoder_int8, from that export
        captioner.onnx_encoder_int8_file = directory / runtime["onnx_encoder_int8"]
    if runtime.get("onnx_decoder"):  # written by caption.model.onnx_decoder from these weights
        captioner.onnx_decoder_files = (directory, runtime["onnx_decoder"])
    return captioner
