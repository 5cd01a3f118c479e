"""The bundle's training checkpoint, `model.safetensors`: what training writes and what export
(caption.train.export) and further training read. Weights are stored as float16 (half the size)
and trained and exported as float32. Serving never reads this file (caption.model.bundle).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from caption.model.bundle import (
    WEIGHTS_FILE,
    BundleConfig,
    BundleError,
    Graphs,
    ModelInfo,
    read_config,
    write_config,
)
from caption.model.preprocess import Preprocessing
from caption.model.vocabulary import Vocabulary
from caption.train.networks.attention_decoder import AttentionDecoder
from caption.train.networks.concept_decoder import decoder_from_section, decoder_section
from caption.train.networks.efficientnet_lite import EfficientNetLite

ARCHITECTURE = "efficientnet-lite+attention-lstm"


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass
class TorchModel:
    """A bundle's networks in PyTorch, with what model.json says of them."""

    encoder: EfficientNetLite
    decoder: AttentionDecoder
    classifier: tuple[torch.Tensor, torch.Tensor] | None  # ImageNet (weight, bias), if any
    config: BundleConfig

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.config.vocabulary)

    @property
    def preprocess(self) -> Preprocessing:
        return self.config.preprocessing

    @property
    def info(self) -> ModelInfo:
        return self.config.info


def save_bundle(directory: Path, encoder_variant: str, encoder: EfficientNetLite,
                decoder: AttentionDecoder, vocabulary: Vocabulary, preprocess: Preprocessing,
                info: ModelInfo, labels: dict | None = None,
                classifier: tuple[torch.Tensor, torch.Tensor] | None = None) -> BundleConfig:
    """Write the checkpoint and model.json. labels: the JSON `labels` section (see
    caption.train.networks.imagenet_labels); classifier: the ImageNet classifier's (weight, bias)
    that the labels name the rows of. Graphs exported from earlier weights stay named, and their
    stamps no longer match: serving refuses them until `caption.train.export` runs again."""
    if (labels is None) != (classifier is None):
        raise ValueError("labels and classifier go together")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"encoder.{k}": v for k, v in encoder.state_dict().items()
               if not k.endswith("num_batches_tracked")}
    tensors.update({f"decoder.{k}": v for k, v in decoder.state_dict().items()})
    if classifier is not None:
        tensors["classifier.weight"], tensors["classifier.bias"] = classifier
    path = directory / WEIGHTS_FILE
    save_file({k: v.detach().cpu().to(torch.float16).contiguous() for k, v in tensors.items()},
              path)
    path.chmod(0o644)  # safetensors creates it owner-only
    try:
        graphs = read_config(directory).graphs
    except BundleError:
        graphs = Graphs()
    config = BundleConfig(
        name=info.name, version=info.version, architecture=ARCHITECTURE,
        encoder={"variant": encoder_variant}, decoder=decoder_section(decoder),
        preprocessing=preprocess, vocabulary=vocabulary.words, graphs=graphs,
        weights_sha256=file_sha256(path), labels=labels, metrics=info.metrics,
        training=info.training)
    write_config(directory, config)
    return config


@contextmanager
def _without_random_init():
    """Build modules with uninitialised parameters: every one of them is replaced by the
    checkpoint's weights, so drawing random ones first is wasted time."""
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


def load_torch_model(directory: Path) -> TorchModel:
    directory = Path(directory)
    config = read_config(directory)
    path = directory / WEIGHTS_FILE
    if not path.exists():
        raise BundleError(f"{directory} has no {WEIGHTS_FILE}: a serving-only bundle cannot be "
                          "trained or exported again")
    weights = load_file(path)
    with _without_random_init():
        encoder = EfficientNetLite(config.encoder["variant"])
        decoder = decoder_from_section(config.decoder)
    for prefix, module in (("encoder.", encoder), ("decoder.", decoder)):
        state = {k[len(prefix):]: v.float() for k, v in weights.items() if k.startswith(prefix)}
        for name, buffer in module.named_buffers():
            if name.endswith("num_batches_tracked"):  # BatchNorm step counters are not stored
                state.setdefault(name, torch.zeros((), dtype=buffer.dtype))
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise BundleError(f"{directory}: weights do not match the config: {exc}") from None
    classifier = None
    if "classifier.weight" in weights:
        classifier = (weights["classifier.weight"].float(), weights["classifier.bias"].float())
    if (config.labels is None) != (classifier is None):
        raise BundleError(f"{directory}: the labels section and the classifier go together")
    return TorchModel(encoder.eval(), decoder.eval(), classifier, config)
