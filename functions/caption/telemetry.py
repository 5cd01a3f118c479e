"""What operators see: Powertools metrics (CloudWatch embedded metric format) and X-Ray tracing.

The Lambda handler flushes the metrics after every invocation (`metrics.log_metrics`); nothing
else records them, so the CLI and the local server print no metric lines. Counters: Captioned,
Skipped and Failed (each also per `reason`, a fixed code such as `already_captioned`,
`unsupported_image`, `s3_error`), ApiErrors per `code`; per image: InferenceMs and
ImageMegapixels.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from caption.s3_captioning import Outcome
from caption.service import CaptionResult
from caption.settings import TRUE_WORDS

NAMESPACE = "CaptionLambda"
SERVICE = "caption"

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# An invocation without metrics (GET /healthz) is normal; Powertools warns of it on every one.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


def tracing_possible() -> bool:
    """False where Powertools turns its Tracer off (outside Lambda, under `sam local`, or with
    POWERTOOLS_TRACE_DISABLED): there no Tracer is made at all, since making one imports the
    X-Ray SDK (about 0.3 s) even when it is off: the CLI and the local server never pay it."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in TRUE_WORDS
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL") \
        and not disabled


# Nothing is patched at init: patching imports botocore (about 65 ms), which an API cold start
# never needs; the S3 client patches it when it is first made (trace_aws_calls).
tracer = Tracer(service=SERVICE, auto_patch=False) if tracing_possible() else None


def traced(handler: Callable) -> Callable:
    """The handler as one X-Ray segment per invocation, where tracing is possible."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler, capture_response=False)


def trace_aws_calls() -> None:
    """S3 calls as X-Ray subsegments (a no-op where tracing is off)."""
    if tracer is not None:
        tracer.patch(["botocore"])


_COUNTERS = {"captioned": "Captioned", "skipped": "Skipped", "failed": "Failed"}


def _count_by(name: str, dimension: str, value: str) -> None:
    """One more `name` in the series of this dimension value (its own EMF line: the shared
    metric set has one dimension set, the service)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
                       default_dimensions={"service": SERVICE}) as metric:
        metric.add_dimension(name=dimension, value=value or "unknown")


def record_outcome(outcome: Outcome) -> None:
    """Count an S3 object's outcome: in total (what alarms watch) and per reason."""
    name = _COUNTERS.get(outcome.status)
    if name is None:
        return
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if outcome.status != "captioned":
        _count_by(name, "reason", outcome.code)


def record_caption(result: CaptionResult) -> None:
    """Per captioned image, whatever brought it: how long the model took, how big it was."""
    metrics.add_metric(name="InferenceMs", unit=MetricUnit.Milliseconds,
                       value=result.inference_ms)
    metrics.add_metric(name="ImageMegapixels", unit=MetricUnit.Count,
                       value=round(result.width * result.height / 1e6, 2))


def record_api_error(status: int, code: str) -> None:
    """An API request the function answered with an error, per code; 5xx ones are also
    counted on their own (ApiServerErrors)."""
    _count_by("ApiErrors", "code", code)
    if status >= 500:
        metrics.add_metric(name="ApiServerErrors", unit=MetricUnit.Count, value=1)
