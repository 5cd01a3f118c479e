"""Cold start in this fresh process, as a Lambda execution environment pays it: the imports,
then `import caption.app` (bundle load + warm-up inference at init), then the first request,
then the first API Gateway request, which loads the web framework (caption.app.http_app).
Serving imports no PyTorch; this says so if it ever does."""

from __future__ import annotations

import time

started = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

# What init imports: not the web framework (FastAPI, Mangum), which the first API event loads.
import aws_lambda_powertools  # noqa: E402,F401
import numpy  # noqa: E402,F401
import onnxruntime  # noqa: E402,F401
import PIL.Image  # noqa: E402,F401

imported_libraries = time.perf_counter()
import caption.runtime  # noqa: E402,F401
import caption.s3_events  # noqa: E402,F401
import caption.sqs_events  # noqa: E402,F401
import caption.telemetry  # noqa: E402,F401

imported = time.perf_counter()
import caption.app as app  # noqa: E402  (loads the model: Lambda's init phase)

ready = time.perf_counter()

from bench.common import EVENTS, Context, photos  # noqa: E402
from caption.service import CaptionOptions  # noqa: E402

framework_loaded = "fastapi" in sys.modules
image = photos()[0]
first_start = time.perf_counter()
app.service.caption_bytes(image, CaptionOptions())
first = time.perf_counter()
api_event = json.loads((EVENTS / "api-http-upload.json").read_text())
response = app.handler(api_event, Context())
first_api = time.perf_counter()
assert response["statusCode"] == 200, response

print(json.dumps({
    "import_libraries_ms": round(1000 * (imported_libraries - started), 1),
    "import_ours_ms": round(1000 * (imported - imported_libraries), 1),
    "bundle_load_ms": app.init_timings["load_ms"],
    "graphs_ms": app.init_timings.get("graphs_ms", {}),
    "warm_up_ms": app.init_timings["warm_up_ms"],
    "init_total_ms": round(1000 * (ready - started), 1),
    "first_request_ms": round(1000 * (first - first_start), 1),
    # the first API Gateway event: the web framework's import and app, then the request
    "first_api_request_ms": round(1000 * (first_api - first), 1),
    "framework_at_init": framework_loaded,
    "threads": app.init_timings["threads"],
    "torch_imported": "torch" in sys.modules,
}))
