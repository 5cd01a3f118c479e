"""Assemble the serving captioner from a bundle: the one place that decides what runs.

ONNX Runtime runs everything. The encoder is the int8 graph where the CPU has int8 dot products
(caption.model.cpu) and the bundle has one, unless turned off (CAPTION_INT8_ENCODER=0); the
float32 graph otherwise. The decoder is its two graphs, on one thread: a step's operations are
too small to share (two threads measured slower), while the encoder's convolutions do share.
The graphs open side by side (caption.model.graphs.open_graphs).
"""

from __future__ import annotations

from pathlib import Path

from caption.model import cpu
from caption.model.bag import same_build
from caption.model.bundle import (
    CONFIG_FILE,
    EXPORT_COMMAND,
    BundleConfig,
    BundleError,
    read_config,
)
from caption.model.captioner import Captioner
from caption.model.decoder import OnnxDecoder
from caption.model.decoding import DECODING_SECTIONS, DecodingConfig
from caption.model.encoder import OnnxEncoder
from caption.model.graphs import GraphRequest, open_graph, open_graphs
from caption.model.grounding import Grounding
from caption.model.labels import LabelModel
from caption.model.objects import Detector
from caption.model.vocabulary import Vocabulary

# The files of the seed app's Show-and-Tell checkpoint (caption.train.export.seed_checkpoint).
SEED_FILES = ("encoder.pth", "decoder.pth", "id_to_word.pkl")
SEED_COMMAND = "python -m caption.train.export seed"
GROUNDING_COMMAND = "python -m caption.train.stages.grounding --model"
DETECTOR_COMMAND = "python -m caption.train.export.detector --model"
CAPTIONER_COMMAND = "python -m caption.train.export.captioner --model"
# Each encoder precision's graph, as model.json's `graphs` names it.
ENCODER_GRAPHS = {"int8": "encoder_int8", "float32": "encoder"}


def open_encoder(directory: Path, config: BundleConfig, precision: str, threads: int,
                 opened: dict[str, float] | None = None) -> OnnxEncoder:
    """The bundle's encoder graph of that precision ("int8", "float32"), checked as serving
    checks it; serving chooses the precision in load_model, benchmarks and training name it."""
    return OnnxEncoder(open_graph(directory, config, ENCODER_GRAPHS[precision], threads,
                                  opened=opened), precision)


def load_model(directory: Path, int8_encoder: bool = True, threads: int = 1,
               whole_sentences: bool = True, grounding: bool = True, objects: bool = True
               ) -> Captioner:
    """int8_encoder: allow the int8 encoder (it still needs the CPU's int8 dot products);
    threads: the encoder's and the detector's, which run side by side and split them (the
    detector half, rounded down, at least one; the decoder runs on one); whole_sentences: see
    Captioner; grounding: use the bundle's grounding where it has one (caption.model.grounding);
    objects: run the bundle's detector where it has one (caption.model.objects)."""
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
    int8 = int8_encoder and config.graphs.encoder_int8 is not None and cpu.has_vnni()
    precision = "int8" if int8 else "float32"
    detecting = objects and config.detector is not None
    detector_threads = max(1, threads // 2) if detecting else 0
    opened: dict[str, float] = {}  # ms to open each graph: what INIT spends on each
    sessions = open_graphs(directory, config,
                           _requests(config, ENCODER_GRAPHS[precision],
                                     max(1, threads - detector_threads), detector_threads,
                                     grounding),
                           workers=threads, opened=opened)
    encoder = OnnxEncoder(sessions[ENCODER_GRAPHS[precision]], precision)
    try:
        decoder = OnnxDecoder(sessions["decoder_start"], sessions["decoder_step"])
    except ValueError as exc:  # a graph from an older export, without the ranking
        raise BundleError(f"{directory}: {exc}; export it again with "
                          f"`{EXPORT_COMMAND} {directory}`") from None
    _check_bag(directory, config, sessions["decoder_start"])
    labels = None
    if config.labels is not None:
        try:
            labels = LabelModel.from_bundle(config.labels)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{directory}: malformed labels section: {exc}") from None
    try:
        vocabulary = Vocabulary(config.vocabulary)
    except ValueError as exc:
        raise BundleError(f"{directory}: {exc}") from None
    try:
        decoding = DecodingConfig.from_bundle(
            {name: getattr(config, name) for name in DECODING_SECTIONS}, whole_sentences)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{directory}: malformed decoding settings: {exc}") from None
    grounded = (_grounding(directory, config, vocabulary, sessions["concepts"])
                if "concepts" in sessions else None)
    detector = (_detector(directory, config, sessions["detector"], decoding) if detecting
                else None)
    return Captioner(encoder, decoder, vocabulary, config.preprocessing, config.info, labels,
                     runtime={"encoder": f"onnxruntime {encoder.precision}",
                              "decoder": "onnxruntime",
                              "grounding": "onnxruntime" if grounded else "off",
                              "detector": "onnxruntime" if detector else "off"},
                     grounding=grounded, detector=detector, config=decoding,
                     opened_ms=opened, bag=config.bag)


def _requests(config: BundleConfig, encoder: str, encoder_threads: int, detector_threads: int,
              grounding: bool) -> list[GraphRequest]:
    """The graphs this bundle serves with, the largest first so that it opens while the
    small ones do: the encoder; with objects (detector threads), the detector; the decoder's
    two; grounding's."""
    requests = [GraphRequest(encoder, encoder_threads)]
    if detector_threads and config.detector is not None:
        requests.append(GraphRequest("detector", detector_threads, DETECTOR_COMMAND,
                                     str(config.detector.get("weights_sha256"))))
    requests += [GraphRequest("decoder_step"), GraphRequest("decoder_start")]
    if grounding and config.grounding is not None:
        requests.append(GraphRequest("concepts", 1, GROUNDING_COMMAND))
    return requests


def _check_bag(directory: Path, config: BundleConfig, start) -> None:
    """A decoder that reads a bag is given the bag it was trained on: the start graph takes
    one exactly where model.json has a `bag` section, built as caption.model.bag builds it."""
    takes_bag = "concepts" in {i.name for i in start.get_inputs()}
    if takes_bag != (config.bag is not None):
        raise BundleError(f"{directory}: the decoder's start graph "
                          f"{'takes' if takes_bag else 'does not take'} a bag of concepts but "
                          f"model.json {'has no' if takes_bag else 'has a'} bag section; "
                          f"export it again with `{CAPTIONER_COMMAND} {directory}`")
    if config.bag is not None and not same_build(config.bag):
        raise BundleError(f"{directory}: its decoder was trained on a bag built otherwise than "
                          f"this code builds it ({config.bag}); train and export it again")


def _detector(directory: Path, config: BundleConfig, session,
              decoding: DecodingConfig) -> Detector:
    """The bundle's COCO detector. What its section sets for the captions, and its floor and
    box merging, are the DecodingConfig's."""
    try:
        return Detector(session, config.detector, decoding.detector_floor, decoding.nms_overlap)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{directory}: malformed detector section: {exc}; make it again "
                          f"with `{DETECTOR_COMMAND} {directory}`") from None


def _grounding(directory: Path, config: BundleConfig, vocabulary: Vocabulary,
               session) -> Grounding:
    """The bundle's grounding (its word detectors)."""
    try:
        return Grounding(session, config.grounding, vocabulary)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{directory}: malformed grounding section: {exc}; make it again "
                          f"with `{GROUNDING_COMMAND} {directory}`") from None
