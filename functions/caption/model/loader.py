"""Assemble the serving captioner from a bundle: the one place that decides what runs.

ONNX Runtime runs everything. The detector graph reads the photo once, on the function's
threads: its objects, and the regions of its backbone that the labels head and the decoder
read. The decoder is its two graphs, on one thread: a step's operations are too small to share
(two threads measured slower). A converted seed bundle has no detector: its encoder reads the
photo instead.
"""

from __future__ import annotations

from pathlib import Path

from caption.model.bundle import (
    CONFIG_FILE,
    EXPORT_COMMAND,
    BundleConfig,
    BundleError,
    read_config,
)
from caption.model.captioner import Captioner
from caption.model.decoder import OnnxDecoder
from caption.model.decoding import DecodingConfig
from caption.model.encoder import OnnxEncoder
from caption.model.graphs import open_graph
from caption.model.labels import LabelHead, LabelModel
from caption.model.objects import Detector
from caption.model.vocabulary import Vocabulary

# The files of the seed app's Show-and-Tell checkpoint (caption.train.export.seed_checkpoint).
SEED_FILES = ("encoder.pth", "decoder.pth", "id_to_word.pkl")
SEED_COMMAND = "python -m caption.train.export seed"
DETECTOR_COMMAND = "python -m caption.train.export.detector --model"
LABELS_COMMAND = "python -m caption.train.stages.label_head --model"


def load_model(directory: Path, threads: int = 1, whole_sentences: bool = True,
               grounding: bool = True, objects: bool = True) -> Captioner:
    """threads: the detector's (or a seed bundle's encoder's); the decoder runs on one.
    whole_sentences, grounding: see caption.model.decoding.DecodingConfig; objects: list the
    detector's objects and give the decoder its bag (the detector still reads the photo)."""
    directory = Path(directory)
    if not (directory / CONFIG_FILE).exists():
        if any((directory / name).exists() for name in SEED_FILES):
            raise BundleError(
                f"{directory} holds a seed Show-and-Tell checkpoint, which serving does not "
                f"read; convert it once into a bundle with `{SEED_COMMAND} {directory} OUT` "
                "(needs the train extra: pip install -e '.[train]') and serve OUT")
        raise BundleError(f"no model at {directory}: expected {CONFIG_FILE} (a caption-lambda "
                          f"bundle) or {', '.join(SEED_FILES)} (a seed checkpoint to convert)")
    config = read_config(directory)
    opened: dict[str, float] = {}  # ms to open each graph: what INIT spends on each
    detector = _detector(directory, config, threads, opened)
    encoder = None
    if detector is None:
        encoder = OnnxEncoder(open_graph(directory, config, "encoder", threads, opened=opened),
                              "float32")
    try:
        decoder = OnnxDecoder(open_graph(directory, config, "decoder_start", 1, opened=opened),
                              open_graph(directory, config, "decoder_step", 1, opened=opened))
    except ValueError as exc:  # a graph from an older export, without the ranking
        raise BundleError(f"{directory}: {exc}; export it again with "
                          f"`{EXPORT_COMMAND} {directory}`") from None
    labels, label_head = _labels(directory, config, opened)
    try:
        vocabulary = Vocabulary(config.vocabulary)
    except ValueError as exc:
        raise BundleError(f"{directory}: {exc}") from None
    try:
        decoding = DecodingConfig.from_bundle(
            {"detector": config.detector, "decoding": config.decoding}, whole_sentences,
            grounding)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{directory}: malformed decoding settings: {exc}") from None
    reader = "detector" if detector is not None else "encoder"
    return Captioner(decoder, vocabulary, config.info, detector, encoder,
                     config.preprocessing, labels, label_head, decoding,
                     runtime={"reader": f"onnxruntime {reader}", "decoder": "onnxruntime",
                              "labels": "onnxruntime" if label_head else "off",
                              "objects": "on" if detector is not None and objects else "off"},
                     opened_ms=opened, objects=objects)


def _labels(directory: Path, config: BundleConfig, opened: dict[str, float]
            ) -> tuple[LabelModel | None, LabelHead | None]:
    """The labels section and its graph, or neither where the bundle has none."""
    if config.labels is None or config.graphs.labels is None:
        return None, None
    session = open_graph(directory, config, "labels", 1, LABELS_COMMAND,
                         stamp=str(config.labels.get("head_sha256")), opened=opened)
    try:
        return LabelModel.from_bundle(config.labels), LabelHead(session)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{directory}: malformed labels section: {exc}; make it again "
                          f"with `{LABELS_COMMAND} {directory}`") from None


def _detector(directory: Path, config: BundleConfig, threads: int,
              opened: dict[str, float]) -> Detector | None:
    """The bundle's COCO detector, which reads the photo, or None where it has none (a
    converted seed checkpoint). What its section sets for the captions is the
    DecodingConfig's."""
    section = config.detector
    if section is None:
        return None
    # ONNX Runtime's threads: the detector's convolutions share them; nothing runs beside it.
    session = open_graph(directory, config, "detector", threads, DETECTOR_COMMAND,
                         stamp=str(section.get("weights_sha256")), opened=opened)
    try:
        detector = Detector(session, section)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{directory}: malformed detector section: {exc}; make it again "
                          f"with `{DETECTOR_COMMAND} {directory}`") from None
    if not detector.gives_regions:
        raise BundleError(f"{directory}: the detector graph gives no regions for the decoder "
                          f"to read; make it again with `{DETECTOR_COMMAND} {directory}`")
    return detector
