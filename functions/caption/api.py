"""The HTTPS API: FastAPI routes, request parsing and the one error shape.

Served behind API Gateway through Mangum (see `app.py`), or locally by uvicorn (`make run`).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from caption.errors import CaptionError, bad_option, malformed, too_large, unsupported_image
from caption.images import MEDIA_TYPE_ALIASES, SUPPORTED_MEDIA_TYPES
from caption.s3_location import S3Location, read_object
from caption.service import MAX_BEAM_SIZE, MAX_LENGTH_CAP, CaptionOptions, CaptionService
from caption.settings import Settings, parse_bool

log = logging.getLogger(__name__)


class CaptionOut(BaseModel):
    text: str
    score: float = Field(description="Geometric mean of the model's per-word probabilities for "
                                     "this caption, 0 to 1; higher is more confident. Comparable "
                                     "between captions of one image, not a calibrated accuracy.")


class LabelOut(BaseModel):
    name: str = Field(description="The ImageNet class, e.g. 'Egyptian Mau'.")
    noun: str = Field(description="The everyday word for it, e.g. 'cat'.")
    score: float = Field(description="The classifier's probability for the class, 0 to 1.")


class BoxOut(BaseModel):
    left: int = Field(description="Pixels from the upright image's left edge.")
    top: int = Field(description="Pixels from its top edge.")
    width: int
    height: int


class ObjectOut(BaseModel):
    name: str = Field(description="The COCO class, e.g. 'person', 'dining table'.")
    score: float = Field(description="The detector's confidence, 0 to 1.")
    box: BoxOut = Field(description="Where it is, in the upright image's pixels (EXIF "
                                    "orientation applied), as Rekognition's BoundingBox lays "
                                    "it out.")


class ModelOut(BaseModel):
    name: str
    version: str


class ImageOut(BaseModel):
    width: int
    height: int
    format: str


class TimingsOut(BaseModel):
    decode: float
    inference: float
    total: float


class CaptionResponse(BaseModel):
    captions: list[CaptionOut] = Field(description="Best first.")
    labels: list[LabelOut] = Field(description="What the image classifier sees, most probable "
                                               "first (up to 5, each at least 0.05).")
    guided_by: str | None = Field(None, description="The noun the captions were steered to "
                                                    "name (a label's, else a detected "
                                                    "object's), or null when none was "
                                                    "confident enough (or guidance was off).")
    objects: list[ObjectOut] = Field(default_factory=list, description=(
        "The COCO objects the detector finds, best first, each at least `object_threshold`; "
        "empty for a model without a detector."))
    model: ModelOut
    image: ImageOut
    timings_ms: TimingsOut


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthResponse(BaseModel):
    status: str
    model: dict[str, Any]


_ERRORS = {status: {"model": ErrorResponse} for status in (400, 403, 404, 413, 415, 422, 502)}
_REQUEST_BODY = {
    "required": True,
    "content": {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["image"],
            "properties": {"image": {"type": "string", "format": "binary"},
                           "beam_size": {"type": "integer"}, "num_captions": {"type": "integer"},
                           "max_length": {"type": "integer"}, "guidance": {"type": "boolean"},
                           "object_threshold": {"type": "number"}}}},
        "application/json": {"schema": {
            "type": "object",
            "properties": {"image": {"type": "string", "description": "base64 image bytes"},
                           "s3_uri": {"type": "string", "example": "s3://bucket/key.jpg"},
                           "beam_size": {"type": "integer"}, "num_captions": {"type": "integer"},
                           "max_length": {"type": "integer"}, "guidance": {"type": "boolean"},
                           "object_threshold": {"type": "number"}}}},
    },
}
_OPTION_NAMES = ("beam_size", "num_captions", "max_length", "guidance", "object_threshold")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(CaptionError(status, code, message).to_json(), status_code=status)


def _int_option(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise bad_option(f"{name} must be an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: inf, 1e999
        raise bad_option(f"{name} must be an integer, got {str(raw)[:40]!r}") from None
    if isinstance(raw, float) and raw != value:
        raise bad_option(f"{name} must be an integer")
    return value


def _number_option(name: str, raw: Any) -> float | None:
    """A number, or None where it is not given; its bounds are CaptionOptions.validated's."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise bad_option(f"{name} must be a number")
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise bad_option(f"{name} must be a number, got {str(raw)[:40]!r}") from None


def _bool_option(name: str, raw: Any, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    value = parse_bool(raw) if isinstance(raw, str) else None
    if value is not None:
        return value
    raise bad_option(f"{name} must be true or false, got {str(raw)[:40]!r}")


def _options(sources: list[dict]) -> CaptionOptions:
    """Options may come in the query string, form fields or the JSON body; later sources win."""
    merged: dict[str, Any] = {}
    for source in sources:
        merged.update({k: source[k] for k in _OPTION_NAMES if k in source})
    defaults = CaptionOptions()
    beam = _int_option("beam_size", merged.get("beam_size"), defaults.beam_size)
    # num_captions defaults to the beam size when that is smaller than 3
    count = _int_option("num_captions", merged.get("num_captions"),
                        min(defaults.num_captions, beam))
    length = _int_option("max_length", merged.get("max_length"), defaults.max_length)
    guidance = _bool_option("guidance", merged.get("guidance"), defaults.guidance)
    threshold = _number_option("object_threshold", merged.get("object_threshold"))
    return CaptionOptions(beam, count, length, guidance, threshold).validated()


class StagePrefix:
    """Behind a REST API stage (`/Prod`), API Gateway strips the stage from the path it hands
    us, but browsers still need it in every URL we generate (the /docs page's openapi.json).
    Mangum puts the raw event in the scope; we read the stage from it and set root_path."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event") or {}
        context = event.get("requestContext") or {}
        stage = context.get("stage")
        if (scope["type"] == "http" and event.get("version", "1.0") == "1.0" and stage
                and stage != "$default"
                and str(context.get("path", "")).startswith(f"/{stage}/")):
            scope = {**scope, "root_path": f"/{stage}"}
        await self.app(scope, receive, send)


class UnexpectedErrors:
    """A bug answers 500 in the one error shape and is logged once, here. (A FastAPI handler for
    Exception answers too, but Starlette then re-raises the exception, and Mangum or uvicorn log
    the same traceback a second time, as plain text beside our JSON logs.)"""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:  # once a response has begun, it cannot be replaced
                response = _error(500, "internal_error",
                                  "the server failed; the error has been logged")
                await response(scope, receive, send)


def create_app(service_factory: Callable[[], CaptionService], settings: Settings,
               s3_factory: Callable[[], Any]) -> FastAPI:
    """`service_factory` returns the loaded service; the app never loads a model itself."""
    app = FastAPI(
        redirect_slashes=False,
        title="caption-lambda",
        summary="Describe an image in a sentence.",
        version="1",
        responses={500: {"model": ErrorResponse}},
    )

    @app.exception_handler(CaptionError)
    async def caption_error(_: Request, exc: CaptionError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "malformed_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    page = (Path(__file__).parent / "static" / "index.html").read_text(encoding="utf-8")
    model_slot = anyio.CapacityLimiter(1)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def upload_page(request: Request) -> HTMLResponse:
        # The stage prefix (e.g. /Prod) must prefix the page's API calls and links.
        root = html.escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
        return HTMLResponse(page.replace("__ROOT__", root))

    @app.get("/healthz", response_model=HealthResponse, summary="Is the model loaded?")
    def healthz() -> HealthResponse:
        captioner = service_factory().captioner
        info = captioner.info
        # Which runtimes serve, so an operator can tell a host on the int8 encoder from one
        # on the float32 fallback (caption.model.cpu) without reading the init log.
        return HealthResponse(status="ok", model={
            "name": info.name, "version": info.version, "architecture": info.architecture,
            **captioner.runtime})

    @app.post("/captions/", include_in_schema=False)
    async def captions_with_slash(request: Request) -> CaptionResponse:
        # Served, not redirected: a 307 loses the body on some clients and, behind a REST API
        # stage, points at a Location without the stage prefix.
        return await captions(request)

    @app.post("/captions", response_model=CaptionResponse, responses=_ERRORS,
              summary="Caption one image",
              description=(
                  "Send the image as the raw body (`Content-Type: image/*`), as multipart "
                  "field `image`, or as JSON `{\"image\": \"<base64>\"}` / `{\"s3_uri\": "
                  "\"s3://bucket/key\"}` (allow-listed buckets only). Options `beam_size` "
                  f"(1-{MAX_BEAM_SIZE}, default 3), `num_captions` (1-beam_size, default 3) and "
                  f"`max_length` (1-{MAX_LENGTH_CAP} words, default 20) and `guidance` (true/"
                  "false, default true: captions name what the classifier is confident the "
                  "image shows) and `object_threshold` (0-1, default the model's: the score an "
                  "object needs to be listed) go in the query string, form fields or JSON "
                  "body. `labels` lists the classifier's most probable classes, `objects` the "
                  "detector's COCO objects with their boxes."),
              openapi_extra={"requestBody": _REQUEST_BODY})
    async def captions(request: Request) -> CaptionResponse:
        started = time.perf_counter()
        data, options = await _read_request(request, settings, s3_factory)
        service = service_factory()
        if "aws.event" in request.scope:
            # In Lambda (Mangum) an environment serves one request at a time and each gets a
            # fresh event loop: a worker thread would only add its start-up to every request.
            result = service.caption_bytes(data, options)
        else:
            # Under a server, decoding and the model are CPU-bound: off the event loop, so
            # /healthz and other requests are served meanwhile, one caption at a time
            # (parallel inference on the same cores only thrashes).
            result = await anyio.to_thread.run_sync(service.caption_bytes, data, options,
                                                    limiter=model_slot)
        info = service.captioner.info
        return CaptionResponse(
            captions=[CaptionOut(text=c.text, score=c.score) for c in result.captions],
            labels=[LabelOut(name=label.name, noun=label.noun, score=label.score)
                    for label in result.labels],
            guided_by=result.guided_by,
            objects=[ObjectOut.model_validate(found.to_json()) for found in result.objects],
            model=ModelOut(name=info.name, version=info.version),
            image=ImageOut(width=result.width, height=result.height, format=result.format),
            timings_ms=TimingsOut(decode=result.decode_ms, inference=result.inference_ms,
                                  total=round(1000 * (time.perf_counter() - started), 2)),
        )

    app.add_middleware(UnexpectedErrors)
    app.add_middleware(StagePrefix)
    return app


async def _read_request(request: Request, settings: Settings, s3_factory: Callable[[], Any]
                        ) -> tuple[bytes, CaptionOptions]:
    limit = settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the request is larger than {limit:,} bytes")
    await _read_bounded_body(request, limit)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    query = dict(request.query_params)

    if media_type == "multipart/form-data":
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart framing
            raise malformed(f"could not parse the multipart body: {exc}") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise malformed("the multipart body needs a file field named 'image'")
        data = await upload.read()  # within the body, so within the limit
        return data, _options([query, {k: v for k, v in form.items() if isinstance(v, str)}])

    body = await request.body()  # already read, within the limit, by _read_bounded_body
    if media_type == "application/json":
        doc = _parse_json(body)
        if not isinstance(doc, dict):
            raise malformed("the JSON body must be an object")
        unknown = set(doc) - {"image", "s3_uri", *_OPTION_NAMES}
        if unknown:
            raise malformed(f"unknown fields: {', '.join(sorted(unknown))}")
        options = _options([query, doc])
        if ("image" in doc) == ("s3_uri" in doc):
            raise malformed("give exactly one of 'image' (base64) and 's3_uri'")
        if "image" in doc:
            return _decode_base64(doc["image"]), options
        return _read_s3(doc["s3_uri"], settings, s3_factory), options

    if media_type in ("", "application/octet-stream") or media_type.startswith("image/"):
        if (media_type.startswith("image/") and media_type not in SUPPORTED_MEDIA_TYPES
                and media_type not in MEDIA_TYPE_ALIASES):
            raise unsupported_image(f"{media_type} is not supported; send one of "
                                    f"{', '.join(SUPPORTED_MEDIA_TYPES)}", "unsupported_media_type")
        return body, _options([query])  # an empty one is `empty_image`, as every other way

    raise unsupported_image(f"Content-Type {media_type} is not accepted; send image/*, "
                            "multipart/form-data or application/json", "unsupported_media_type")


def _parse_int(text: str) -> int | float:
    # Python refuses to turn over 4,300 digits into an int (a ValueError mid-parse); no option
    # needs more than a few, so a long one becomes infinity and is refused as out of range.
    return int(text) if len(text) <= 30 else math.inf


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_int=_parse_int)
    except RecursionError:
        raise malformed("the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise malformed(f"the body is not valid JSON: {str(exc)[:200]}") from None


async def _read_bounded_body(request: Request, limit: int) -> None:
    """Read the body as it streams and stop at the limit: a body without Content-Length (or
    with a false one) is refused as soon as it is too large, not after it has all arrived.
    The bytes are kept where Starlette's body() and form() look for them."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"the request is larger than {limit:,} bytes")
        chunks.append(chunk)
    request._body = b"".join(chunks)


def _decode_base64(value: Any) -> bytes:
    """An empty string is an empty image (415 `empty_image`, as an empty raw body, multipart
    file or S3 object is), not a malformed request."""
    if not isinstance(value, str):
        raise malformed("'image' must be a base64 string")
    if value.startswith("data:") and "," in value:  # tolerate data URLs from browsers
        value = value.split(",", 1)[1]
    # `base64` and most encoders wrap lines at 76 characters; the whitespace carries nothing.
    value = "".join(value.split())
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise malformed("'image' is not valid base64") from None


def _read_s3(uri: Any, settings: Settings, s3_factory: Callable[[], Any]) -> bytes:
    if not isinstance(uri, str):
        raise malformed("'s3_uri' must be a string")
    location = S3Location.parse(uri)
    if location.bucket not in settings.allowed_buckets:
        raise CaptionError(403, "bucket_not_allowed",
                           f"bucket {location.bucket!r} is not on this service's allow-list "
                           "(CAPTION_ALLOWED_BUCKETS)")
    if not location.key.startswith(settings.allowed_prefix):
        raise CaptionError(403, "key_not_allowed",
                           f"only keys under {settings.allowed_prefix!r} may be read "
                           "(CAPTION_ALLOWED_PREFIX)")
    # The object's bytes never cross the request payload, so the object cap applies, not 6 MB.
    return read_object(s3_factory(), location, settings.max_object_bytes)
