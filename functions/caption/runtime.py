"""Process-wide set-up shared by the Lambda handler, the local server and the CLI."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from caption.allocator import keep_freed_memory
from caption.settings import Settings, inference_threads

if TYPE_CHECKING:
    from caption.model.captioner import Captioner
    from caption.service import CaptionService

log = logging.getLogger(__name__)


def s3_client():
    """boto3's standard configuration (credentials, region, AWS_ENDPOINT_URL_S3 and friends),
    with the adaptive retry mode so throttling is retried before it becomes our error."""
    import boto3  # imported on first use: the API path for uploaded images never needs it
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "adaptive", "max_attempts": 5}))


def load_captioner(settings: Settings, model_dir: Path | None = None) -> Captioner:
    """The captioner as `settings` serve it (encoder precision, threads, whole sentences,
    grounding, objects), from model_dir or the settings' bundle: what the server, the
    evaluation and the tuning commands all caption with."""
    from caption.model.loader import load_model  # in start_loading's thread, at init

    return load_model(model_dir or settings.model_dir, settings.int8_encoder,
                      inference_threads(), settings.whole_sentences, settings.grounding,
                      settings.objects)


def load_service(settings: Settings, warm_up: bool = True, announce: bool = True
                 ) -> tuple[CaptionService, dict]:
    """Load the model once; returns the service and how long each part took (ms). announce:
    log `model ready` with them (start_loading leaves that to whoever awaits it)."""
    keep_freed_memory()
    threads = inference_threads()
    started = time.perf_counter()
    captioner = load_captioner(settings)
    loaded = time.perf_counter()
    if warm_up:
        from PIL import Image

        # The first inference pays for lazy kernel set-up; pay it at init, not in a request.
        captioner.caption(Image.new("RGB", (captioner.preprocess.size,) * 2, (128, 128, 128)),
                          beam_size=1, num_captions=1, max_length=3)
    timings = {"load_ms": round(1000 * (loaded - started), 1),
               "graphs_ms": captioner.opened_ms,  # each graph's opening (side by side in load_ms)
               "warm_up_ms": round(1000 * (time.perf_counter() - loaded), 1),
               "threads": threads, **captioner.runtime}
    if announce:
        announce_ready(captioner.info.id, timings)
    from caption.service import CaptionService

    return CaptionService(captioner, settings.max_pixels), timings


def announce_ready(model_id: str, timings: dict) -> None:
    """The `model ready` log line: the model and what loading it cost (the image test and
    the operator's INIT figures read it)."""
    log.info("model ready", extra={"model": model_id, **timings})


def start_loading(settings: Settings) -> Future[tuple[CaptionService, dict]]:
    """load_service in a thread of its own: the caller goes on (importing, say) while ONNX
    Runtime opens the graphs, and `.result()` returns what load_service returns or raises what
    it raised. The caller announces it (announce_ready) once its logging is set up."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loading")
    try:
        return executor.submit(load_service, settings, announce=False)
    finally:
        executor.shutdown(wait=False)  # the thread ends with the loading
