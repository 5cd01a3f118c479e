"""Runtime settings, read once from the environment (all optional)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from caption.errors import CaptionError
from caption.options import CaptionOptions  # the same bounds as a request's options

# Run from a checkout, the bundled model sits at <repo>/layers/model.
_CHECKOUT_MODEL = Path(__file__).resolve().parents[2] / "layers" / "model"
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU per 1,769 MB of memory


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


TRUE_WORDS, FALSE_WORDS = ("true", "1", "on", "yes"), ("false", "0", "off", "no")


def parse_bool(raw: str) -> bool | None:
    """True or False for the words people use for them, None for anything else."""
    word = raw.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = parse_bool(raw)
    if value is None:
        raise ValueError(f"{name} must be true or false, got {raw!r}")
    return value


def _csv(name: str) -> frozenset[str]:
    return frozenset(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


def inference_threads() -> int:
    """Threads for the encoder: Lambda's vCPU share of the configured memory, not the host's cores
    (the host may report many more cores than the function may use, and oversubscribed threads
    make inference slower)."""
    explicit = _int("CAPTION_NUM_THREADS", 0)
    if explicit > 0:
        return explicit
    cores = os.cpu_count() or 1
    memory_mb = _int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0)
    if memory_mb:
        return max(1, min(cores, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU)))
    return cores


@dataclass(frozen=True)
class Settings:
    model_dir: Path = _CHECKOUT_MODEL
    # Buckets the API may read for {"s3_uri": ...}; empty means none (s3_uri is off).
    allowed_buckets: frozenset[str] = field(default_factory=frozenset)
    # Within them, only keys under this prefix (empty: any key).
    allowed_prefix: str = ""
    max_request_bytes: int = 6 * 1024 * 1024  # Lambda's synchronous payload limit
    max_object_bytes: int = 20 * 1024 * 1024  # S3 objects larger than this are skipped
    max_pixels: int = 40_000_000  # decompression-bomb guard, checked before decoding
    # Serve the bundle's int8 encoder where the CPU has VNNI (caption.model.cpu). Off by default:
    # beside the detector it saves nothing (28.1 ms a request either way, measured on a 2-core
    # AVX-512 VNNI host), it costs quality on withheld photos, and its figures differ between
    # hosts with VNNI and without, so the float32 one serves everywhere and every machine
    # measures what serves.
    int8_encoder: bool = False
    # Keep every caption a whole sentence (caption.model.decoding's whole-sentence rules): no
    # repeated phrase, no ending on "a" or "red". Off: the decoder's captions as they come.
    whole_sentences: bool = True
    # Name only what the photo gives evidence of (caption.model.grounding), where the bundle
    # has grounding. Off: the decoder may name whatever it expects (to compare).
    grounding: bool = True
    # List the objects the bundle's COCO detector finds, and let its evidence ground the
    # captions (caption.model.objects). Off: no objects, and the word detectors alone ground.
    objects: bool = True
    beam_size: int = 3  # defaults for S3 and Batch Operations captioning
    num_captions: int = 3

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            model_dir=Path(os.environ.get("CAPTION_MODEL_DIR") or _CHECKOUT_MODEL),
            allowed_buckets=_csv("CAPTION_ALLOWED_BUCKETS"),
            allowed_prefix=os.environ.get("CAPTION_ALLOWED_PREFIX", ""),
            int8_encoder=_bool("CAPTION_INT8_ENCODER", cls.int8_encoder),
            whole_sentences=_bool("CAPTION_WHOLE_SENTENCES", cls.whole_sentences),
            grounding=_bool("CAPTION_GROUNDING", cls.grounding),
            objects=_bool("CAPTION_OBJECTS", cls.objects),
            max_request_bytes=_int("CAPTION_MAX_REQUEST_BYTES", cls.max_request_bytes),
            max_object_bytes=_int("CAPTION_MAX_OBJECT_BYTES", cls.max_object_bytes),
            max_pixels=_int("CAPTION_MAX_PIXELS", cls.max_pixels),
            beam_size=_int("CAPTION_BEAM_SIZE", cls.beam_size),
            num_captions=_int("CAPTION_NUM_CAPTIONS", cls.num_captions),
        ).validated()

    def validated(self) -> Settings:
        """Refuse a configuration that could only fail later, one request at a time: the
        function's init fails with the reason instead (and the deployment shows it)."""
        problems = []
        try:
            CaptionOptions(self.beam_size, self.num_captions).validated()
        except CaptionError as exc:
            problems.append(f"CAPTION_BEAM_SIZE={self.beam_size}, "
                            f"CAPTION_NUM_CAPTIONS={self.num_captions}: {exc.message}")
        for name, value in (("CAPTION_MAX_REQUEST_BYTES", self.max_request_bytes),
                            ("CAPTION_MAX_OBJECT_BYTES", self.max_object_bytes),
                            ("CAPTION_MAX_PIXELS", self.max_pixels)):
            if value <= 0:
                problems.append(f"{name} must be positive, got {value}")
        if problems:
            raise ValueError("invalid configuration: " + "; ".join(problems))
        return self
