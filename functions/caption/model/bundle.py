"""The model bundle's format: `model.json`, the ONNX graphs it names, and (for training only)
`model.safetensors`.

model.json carries everything but the weights: the architecture's configuration, the
vocabulary, the preprocessing, the labels, the measured metrics and the training data's
provenance. Serving reads it and the graphs alone; the safetensors checkpoint is what training
and export start from, and never ships in the image. `BundleConfig` is the file's one typed
form and `write_config` its one writer, so every tool that changes a bundle goes through it.

Each graph carries, in its ONNX metadata, the SHA-256 of the checkpoint it was exported from
(`weights_sha256`); model.json records the checkpoint's. A graph whose stamp differs was
exported from other weights and is refused at load, whatever files lie beside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from caption.model.preprocess import Preprocessing

FORMAT = "caption-lambda-bundle/2"
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"
# The key each exported graph's metadata stamps with the checkpoint's SHA-256 (see the module
# docstring), and the one naming which part of the model the graph is.
STAMP_KEY = "caption.weights_sha256"
PART_KEY = "caption.part"
EXPORT_COMMAND = "python -m caption.train.export bundle"


class BundleError(Exception):
    """The bundle is missing, malformed, stale or of a format this code does not read."""


@dataclass(frozen=True)
class ModelInfo:
    """What the bundle says about itself; shown by the API and written into S3 metadata."""

    name: str
    version: str
    architecture: str
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        """`name@version`: what S3 metadata records, and what idempotency compares."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Graphs:
    """The ONNX graphs serving runs, as file names beside model.json (None: not exported)."""

    encoder: str | None = None  # float32; serves where the CPU lacks int8 dot products
    encoder_int8: str | None = None  # serves where it has them (caption.model.cpu)
    decoder_start: str | None = None  # features -> the decoder's first state
    decoder_step: str | None = None  # one search step (caption.model.decoder)
    concepts: str | None = None  # regions -> word detectors' probabilities (model.grounding)
    detector: str | None = None  # pixels -> COCO objects with boxes (caption.model.objects)
    # The retired sentence writer's graphs (bundles before the one captioner): named by older
    # bundles, never opened.
    writer_start: str | None = None
    writer_step: str | None = None


@dataclass(frozen=True)
class BundleConfig:
    name: str
    version: str
    architecture: str
    encoder: dict  # {"variant": ...}: which network the checkpoint's encoder weights are
    decoder: dict  # the decoder's hyperparameters (caption.train.networks.attention_decoder)
    preprocessing: Preprocessing
    vocabulary: list[str]
    graphs: Graphs = Graphs()
    weights_sha256: str | None = None  # of the checkpoint the graphs must come from
    labels: dict | None = None  # caption.model.labels; None for models without a classifier
    grounding: dict | None = None  # caption.model.grounding; None: captions are not grounded
    # caption.model.objects; None: no objects. Its graph is stamped with the detector's own
    # weights (the section's weights_sha256), not the checkpoint's: it is not trained here.
    detector: dict | None = None
    # The retired sentence writer's section (bundles before the one captioner): only its
    # guards_decoder setting is read (caption.model.decoding.DecodingConfig).
    writer: dict | None = None
    # caption.model.bag; None: the decoder reads the photo's regions alone. Present, its start
    # graph also takes the photo's bag of detected classes (the one captioner).
    bag: dict | None = None
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.version, self.architecture, self.metrics,
                         self.training)

    def with_changes(self, **changes) -> BundleConfig:
        return replace(self, **changes)

    def to_json(self) -> dict:
        data = {"format": FORMAT, **asdict(self)}
        data["preprocessing"] = {"size": self.preprocessing.size,
                                 "mean": list(self.preprocessing.mean),
                                 "std": list(self.preprocessing.std)}
        for optional in ("labels", "grounding", "detector", "writer", "bag"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_json(cls, data: dict, source: str) -> BundleConfig:
        if data.get("format") != FORMAT:
            raise BundleError(f"{source} has format {data.get('format')!r}, expected {FORMAT!r}; "
                              f"re-export the bundle with `{EXPORT_COMMAND} DIR`")
        try:
            pre = data["preprocessing"]
            return cls(
                name=data["name"], version=data["version"], architecture=data["architecture"],
                encoder=dict(data["encoder"]), decoder=dict(data["decoder"]),
                preprocessing=Preprocessing(int(pre["size"]), tuple(pre["mean"]),
                                            tuple(pre["std"])),
                vocabulary=list(data["vocabulary"]), graphs=Graphs(**data.get("graphs", {})),
                weights_sha256=data.get("weights_sha256"), labels=data.get("labels"),
                grounding=data.get("grounding"), detector=data.get("detector"),
                writer=data.get("writer"), bag=data.get("bag"),
                metrics=dict(data.get("metrics", {})), training=dict(data.get("training", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{source} is malformed: {type(exc).__name__}: {exc}") from None


def read_config(directory: Path) -> BundleConfig:
    path = Path(directory) / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"no model bundle at {directory} ({CONFIG_FILE} is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return BundleConfig.from_json(data, str(path))


def write_config(directory: Path, config: BundleConfig) -> None:
    """model.json: the only place that writes it."""
    path = Path(directory) / CONFIG_FILE
    path.write_text(json.dumps(config.to_json(), indent=1) + "\n", encoding="utf-8")
    path.chmod(0o644)  # the image's function runs as another user than the one that built it
