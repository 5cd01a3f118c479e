"""The Lambda entry point, `caption.app.handler`.

The model loads when this module is imported, in Lambda's init phase, and every invocation of
the execution environment reuses it. Events are dispatched by shape: API Gateway (HTTP API 2.0,
REST API 1.0) to the FastAPI app through Mangum, made on the first such event; news of created
S3 objects (S3's notification, its EventBridge event or an SNS message around either: direct,
or through the upload queue) and S3 Batch Operations tasks to in-place captioning. Every
invocation flushes its metrics and, when tracing is active, is one X-Ray segment.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger

from caption.runtime import announce_ready, s3_client, start_loading
from caption.settings import Settings

logger = Logger(service="caption")  # JSON logs; our modules' loggers are its children
settings = Settings.from_env()
# Opening the graphs and the warm-up run in ONNX Runtime without the GIL, so the model loads in
# a thread while the handlers' modules import below. Measured in the image, 8 alternating runs
# of imports and load: median 389 ms against 436 ms loading first.
_loading = start_loading(settings)

from caption.object_events import UnsupportedEvent, is_object_event  # noqa: E402
from caption.s3_events import (  # noqa: E402
    handle_batch_operation,
    handle_object_event,
    is_batch_operation,
)
from caption.service import CaptionOptions  # noqa: E402
from caption.sqs_events import handle_upload_queue, is_sqs_event  # noqa: E402
from caption.telemetry import (  # noqa: E402
    metrics,
    record_api_error,
    record_caption,
    trace_aws_calls,
    traced,
)

service, init_timings = _loading.result()  # the loading's own exception, if it failed
announce_ready(service.model_id, init_timings)
_s3 = None


def s3():
    global _s3
    if _s3 is None:
        trace_aws_calls()
        _s3 = s3_client()
    return _s3


def use_s3(client) -> None:
    """Serve S3 through `client` from now on (None: boto3's own, made on first use again): for
    tests and local tools whose S3 is elsewhere (moto)."""
    global _s3
    _s3 = client


_http = None


def http_app():
    """The HTTPS API (FastAPI) behind its API Gateway adapter (Mangum), made on the first API
    event, not at init: importing the web framework is the largest part of the imports (about
    250 ms on 2 cores, FastAPI building its OpenAPI models), and the S3, queue and Batch
    Operations events never need it. The first API request of an execution environment pays
    it once (make bench: cold.first_api_request_ms)."""
    global _http
    if _http is None:
        started = time.perf_counter()
        from mangum import Mangum

        from caption.api import create_app

        _http = Mangum(create_app(lambda: service, settings, s3), lifespan="off")
        logger.info("api ready", extra={"load_ms": round(1000 * (time.perf_counter() - started),
                                                         1)})
    return _http


def __getattr__(name: str):
    # `caption.app:api`, the ASGI app itself, for uvicorn (make run) and tests; made on first use.
    if name == "api":
        return http_app().app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_api_gateway(event: dict) -> bool:
    return "requestContext" in event and ("httpMethod" in event or "routeKey" in event)


def _api(event: dict, context: Any) -> dict:
    response = http_app()(event, context)
    status = response.get("statusCode", 200)
    if status >= 400:
        record_api_error(status, _error_code(response))
    return response


def _error_code(response: dict) -> str:
    try:
        return str(json.loads(response.get("body") or "{}")["error"]["code"])
    except (ValueError, TypeError, KeyError):
        return "unknown"


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: Any) -> dict:
    # Per-image metrics, flushed after each invocation; set here, not at import, so the same
    # app served by uvicorn (`make run`) records none that nothing would flush.
    service.observer = record_caption
    if not isinstance(event, dict):
        raise UnsupportedEvent(f"expected a JSON object event, got {type(event).__name__}")
    if is_api_gateway(event):
        return _api(event, context)
    options = CaptionOptions(settings.beam_size, settings.num_captions)
    if is_sqs_event(event):
        return handle_upload_queue(event, s3(), service, options, settings.max_object_bytes)
    if is_object_event(event):
        return handle_object_event(event, s3(), service, options, settings.max_object_bytes)
    if is_batch_operation(event):
        return handle_batch_operation(event, s3(), service, options, settings.max_object_bytes)
    raise UnsupportedEvent(
        "unsupported event: expected an API Gateway request (HTTP API 2.0 or REST API 1.0), an "
        "S3 ObjectCreated notification, S3's EventBridge 'Object Created' event or an SNS "
        "message carrying either (direct or through SQS), or an S3 Batch Operations job; "
        f"got keys {sorted(event)[:8]}")
