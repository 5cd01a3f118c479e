"""Process-wide set-up shared by the Lambda handler, the local server and the CLI."""

from __future__ import annotations

import logging
import time

import torch
from PIL import Image

from caption.allocator import keep_freed_memory
from caption.model.loader import load_model
from caption.service import CaptionService
from caption.settings import Settings, torch_threads

log = logging.getLogger(__name__)


def s3_client():
    """boto3's standard configuration (credentials, region, AWS_ENDPOINT_URL_S3 and friends),
    with the adaptive retry mode so throttling is retried before it becomes our error."""
    import boto3  # imported on first use: the API path for uploaded images never needs it
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "adaptive", "max_attempts": 5}))


def load_service(settings: Settings, warm_up: bool = True, optimize: bool = True,
                 freeze: bool | None = None) -> tuple[CaptionService, dict]:
    """Load the model once; returns the service and how long each part took (ms).

    optimize: serve the decoder and the encoder in their fastest forms, ONNX Runtime or else
    PyTorch (the encoder in its fixed-size form), as the API and the CLI do; without it the
    bundle's PyTorch modules serve as loaded.
    freeze: freeze the fixed-size encoder (default: CAPTION_FREEZE_ENCODER; see
    Captioner.optimize)."""
    torch.set_num_threads(torch_threads())
    keep_freed_memory()
    started = time.perf_counter()
    captioner = load_model(settings.model_dir)
    if optimize:
        captioner.optimize(settings.freeze_encoder if freeze is None else freeze,
                           settings.int8_encoder)
    loaded = time.perf_counter()
    if warm_up:
        # The first inference pays for lazy kernel set-up; pay it at init, not in a request.
        captioner.caption(Image.new("RGB", (captioner.preprocess.size,) * 2, (128, 128, 128)),
                          beam_size=1, num_captions=1, max_length=3)
    timings = {"load_ms": round(1000 * (loaded - started), 1),
               "warm_up_ms": round(1000 * (time.perf_counter() - loaded), 1),
               "threads": torch.get_num_threads(), "encoder": captioner.encoder_runtime,
               "encoder_precision": captioner.encoder_precision,
               "decoder": captioner.decoder_runtime}
    log.info("model ready", extra={"model": f"{captioner.info.name}@{captioner.info.version}",
                                   **timings})
    return CaptionService(captioner, settings.max_pixels), timings
