"""Cold start in this fresh process, as a Lambda execution environment pays it: the imports,
then `import caption.app` (bundle load + warm-up inference at init), then the first request.
Serving imports no PyTorch; this says so if it ever does."""

from __future__ import annotations

import time

started = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

import aws_lambda_powertools  # noqa: E402,F401
import fastapi  # noqa: E402,F401
import mangum  # noqa: E402,F401
import numpy  # noqa: E402,F401
import onnxruntime  # noqa: E402,F401
import PIL.Image  # noqa: E402,F401

imported_libraries = time.perf_counter()
import caption.api  # noqa: E402,F401
import caption.runtime  # noqa: E402,F401
import caption.s3_events  # noqa: E402,F401

imported = time.perf_counter()
import caption.app as app  # noqa: E402  (loads the model: Lambda's init phase)

ready = time.perf_counter()

from bench.common import photos  # noqa: E402
from caption.service import CaptionOptions  # noqa: E402

image = photos()[0]
first_start = time.perf_counter()
app.service.caption_bytes(image, CaptionOptions())
first = time.perf_counter()

print(json.dumps({
    "import_libraries_ms": round(1000 * (imported_libraries - started), 1),
    "import_ours_ms": round(1000 * (imported - imported_libraries), 1),
    "bundle_load_ms": app.init_timings["load_ms"],
    "graphs_ms": app.init_timings.get("graphs_ms", {}),
    "warm_up_ms": app.init_timings["warm_up_ms"],
    "init_total_ms": round(1000 * (ready - started), 1),
    "first_request_ms": round(1000 * (first - first_start), 1),
    "threads": app.init_timings["threads"],
    "torch_imported": "torch" in sys.modules,
}))
