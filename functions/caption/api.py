"""The HTTPS API: FastAPI routes, request parsing and the one error shape.

Served behind API Gateway through Mangum (see `app.py`), or locally by uvicorn (`make run`).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from caption.errors import CaptionError, bad_option, malformed, too_large, unsupported_image
from caption.images import SUPPORTED_MEDIA_TYPES
from caption.s3_location import S3Location, read_object
from caption.service import MAX_BEAM_SIZE, MAX_LENGTH_CAP, CaptionOptions, CaptionService
from caption.settings import Settings

log = logging.getLogger(__name__)


class CaptionOut(BaseModel):
    text: str
    score: float = Field(description="Geometric mean of the model's per-word probabilities for "
                                     "this caption, 0 to 1; higher is more confident. Comparable "
                                     "between captions of one image, not a calibrated accuracy.")


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
                           "max_length": {"type": "integer"}}}},
        "application/json": {"schema": {
            "type": "object",
            "properties": {"image": {"type": "string", "description": "base64 image bytes"},
                           "s3_uri": {"type": "string", "example": "s3://bucket/key.jpg"},
                           "beam_size": {"type": "integer"}, "num_captions": {"type": "integer"},
                           "max_length": {"type": "integer"}}}},
    },
}
_OPTION_NAMES = ("beam_size", "num_captions", "max_length")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(CaptionError(status, code, message).to_json(), status_code=status)


def _int_option(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise bad_option(f"{name} must be an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise bad_option(f"{name} must be an integer, got {str(raw)[:40]!r}") from None
    if isinstance(raw, float) and raw != value:
        raise bad_option(f"{name} must be an integer")
    return value


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
    return CaptionOptions(beam, count, length).validated()


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


def create_app(service_factory: Callable[[], CaptionService], settings: Settings,
               s3_factory: Callable[[], Any]) -> FastAPI:
    """`service_factory` returns the loaded service; the app never loads a model itself."""
    app = FastAPI(
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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "the server failed; the error has been logged")

    page = (Path(__file__).parent / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def upload_page(request: Request) -> HTMLResponse:
        # The stage prefix (e.g. /Prod) must prefix the page's API calls and links.
        root = html.escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
        return HTMLResponse(page.replace("__ROOT__", root))

    @app.get("/healthz", response_model=HealthResponse, summary="Is the model loaded?")
    def healthz() -> HealthResponse:
        info = service_factory().captioner.info
        return HealthResponse(status="ok", model={"name": info.name, "version": info.version,
                                                  "architecture": info.architecture})

    @app.post("/captions", response_model=CaptionResponse, responses=_ERRORS,
              summary="Caption one image",
              description=(
                  "Send the image as the raw body (`Content-Type: image/*`), as multipart "
                  "field `image`, or as JSON `{\"image\": \"<base64>\"}` / `{\"s3_uri\": "
                  "\"s3://bucket/key\"}` (allow-listed buckets only). Options `beam_size` "
                  f"(1-{MAX_BEAM_SIZE}, default 3), `num_captions` (1-beam_size, default 3) and "
                  f"`max_length` (1-{MAX_LENGTH_CAP} words, default 20) go in the query string, "
                  "form fields or JSON body."),
              openapi_extra={"requestBody": _REQUEST_BODY})
    async def captions(request: Request) -> CaptionResponse:
        started = time.perf_counter()
        data, options = await _read_request(request, settings, s3_factory)
        service = service_factory()
        result = service.caption_bytes(data, options)
        info = service.captioner.info
        return CaptionResponse(
            captions=[CaptionOut(text=c.text, score=c.score) for c in result.captions],
            model=ModelOut(name=info.name, version=info.version),
            image=ImageOut(width=result.width, height=result.height, format=result.format),
            timings_ms=TimingsOut(decode=result.decode_ms, inference=result.inference_ms,
                                  total=round(1000 * (time.perf_counter() - started), 2)),
        )

    app.add_middleware(StagePrefix)
    return app


async def _read_request(request: Request, settings: Settings, s3_factory: Callable[[], Any]
                        ) -> tuple[bytes, CaptionOptions]:
    limit = settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(f"the request is larger than {limit:,} bytes")
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
        data = await upload.read()
        _check_size(data, limit)
        return data, _options([query, {k: v for k, v in form.items() if isinstance(v, str)}])

    body = await request.body()
    _check_size(body, limit)
    if media_type == "application/json":
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise malformed(f"the body is not valid JSON: {exc}") from None
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
        if media_type.startswith("image/") and media_type not in SUPPORTED_MEDIA_TYPES:
            raise unsupported_image(f"{media_type} is not supported; send one of "
                                    f"{', '.join(SUPPORTED_MEDIA_TYPES)}", "unsupported_media_type")
        if not body:
            raise malformed("the request has no body; send an image")
        return body, _options([query])

    raise unsupported_image(f"Content-Type {media_type} is not accepted; send image/*, "
                            "multipart/form-data or application/json", "unsupported_media_type")


def _check_size(data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise too_large(f"the request is larger than {limit:,} bytes")


def _decode_base64(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise malformed("'image' must be a non-empty base64 string")
    if value.startswith("data:") and "," in value:  # tolerate data URLs from browsers
        value = value.split(",", 1)[1]
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
    data = read_object(s3_factory(), location, settings.max_request_bytes)
    _check_size(data, settings.max_request_bytes)
    return data
