"""The Lambda entry point, `caption.app.handler`.

The model loads when this module is imported, in Lambda's init phase, and every invocation of
the execution environment reuses it. Events are dispatched by shape: API Gateway (HTTP API 2.0,
REST API 1.0) to the FastAPI app through Mangum, S3 notifications and S3 Batch Operations tasks
to in-place captioning.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from mangum import Mangum

from caption.api import create_app
from caption.runtime import load_service, s3_client
from caption.s3_events import (
    handle_batch_operation,
    handle_notification,
    is_batch_operation,
    is_s3_notification,
)
from caption.service import CaptionOptions
from caption.settings import Settings

logger = Logger(service="caption")  # JSON logs; our modules' loggers are its children
settings = Settings.from_env()
service, init_timings = load_service(settings)
_s3 = None


def s3():
    global _s3
    if _s3 is None:
        _s3 = s3_client()
    return _s3


api = create_app(lambda: service, settings, s3)
_http = Mangum(api, lifespan="off")


class UnsupportedEvent(ValueError):
    """The event is none of the shapes this function serves."""


def is_api_gateway(event: dict) -> bool:
    return "requestContext" in event and ("httpMethod" in event or "routeKey" in event)


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict:
    if not isinstance(event, dict):
        raise UnsupportedEvent(f"expected a JSON object event, got {type(event).__name__}")
    if is_api_gateway(event):
        return _http(event, context)
    options = CaptionOptions(settings.beam_size, settings.num_captions)
    if is_s3_notification(event):
        return handle_notification(event, s3(), service, options, settings.max_object_bytes)
    if is_batch_operation(event):
        return handle_batch_operation(event, s3(), service, options, settings.max_object_bytes)
    raise UnsupportedEvent(
        "unsupported event: expected an API Gateway request (HTTP API 2.0 or REST API 1.0), an "
        "S3 ObjectCreated notification or an S3 Batch Operations job; "
        f"got keys {sorted(event)[:8]}")
