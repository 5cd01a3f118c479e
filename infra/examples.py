"""The example responses in the README and the docs, from a real run of the bundled model (part
of `make gallery`): the API's answer for scikit-image's cat (README.md, docs/index.md), the
astronaut's `objects` (docs/api.md) and the S3 metadata the cat's upload gets
(docs/s3-metadata.md). Each lands between its page's `<!-- NAME:start/end -->` markers, and
tests/test_examples.py checks that each is what the code answers today, timings aside.

    .venv/bin/python infra/examples.py [--repo .]

The photos are sent as the user would send them: JPEG files (quality 90) through the FastAPI app,
multipart, as `curl -F image=@cat.jpg` does. The examples are made with the float32 encoder,
the one every CPU runs, so they read the same on every machine that checks them.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "functions"), str(REPO)]

from caption.metadata import caption_metadata  # noqa: E402
from caption.service import CaptionOptions  # noqa: E402
from caption.settings import Settings  # noqa: E402
from infra.gallery import fill  # noqa: E402

CURL = "$ curl -s -F image=@cat.jpg http://127.0.0.1:8000/captions"


def example_settings() -> Settings:
    return replace(Settings.from_env(), int8_encoder=False)


def photo(name: str) -> bytes:
    """scikit-image's photo as a JPEG file, as a user would upload it."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def api_response(client, name: str) -> dict:
    """The API's answer for the photo, sent multipart as `curl -F image=@FILE` sends it."""
    answer = client.post("/captions", files={"image": (f"{name}.jpg", photo(name), "image/jpeg")})
    answer.raise_for_status()
    return answer.json()


def compact(response: dict) -> str:
    """The response as JSON a reader can scan: a line per field, a line per listed item."""
    lines = []
    fields = list(response.items())
    for index, (key, value) in enumerate(fields):
        opening = "{" if index == 0 else " "
        closing = "}" if index == len(fields) - 1 else ","
        head = f"{opening}{json.dumps(key)}: "
        if isinstance(value, list) and len(value) > 1:
            indent = ",\n" + " " * (len(head) + 1)
            body = "[" + indent.join(json.dumps(item) for item in value) + "]"
        else:
            body = json.dumps(value)
        lines.append(f"{head}{body}{closing}")
    return "\n".join(lines)


def response_block(response: dict) -> str:
    return f"```\n{CURL}\n{compact(response)}\n```"


def objects_block(response: dict) -> str:
    return f"```\n\"objects\": {json.dumps(response['objects'])}\n```"


def metadata_block(service, name: str) -> str:
    """What the photo's upload gets in its user metadata, as the S3 path writes it."""
    result = service.caption_bytes(photo(name), CaptionOptions())
    written = caption_metadata({}, result.captions, service.model_id, result.labels,
                               result.objects)
    width = max(len(key) for key in written)
    lines = [f"x-amz-meta-{key}:{' ' * (width - len(key))} {value}"
             for key, value in written.items()]
    return "```\n" + "\n".join(lines) + "\n```"


def examples(service, settings: Settings) -> dict[str, str]:
    """Each marker's generated text."""
    from fastapi.testclient import TestClient

    from caption.api import create_app

    client = TestClient(create_app(lambda: service, settings, lambda: None))
    return {"example-response": response_block(api_response(client, "chelsea")),
            "example-objects": objects_block(api_response(client, "astronaut")),
            "example-metadata": metadata_block(service, "chelsea")}


# Which page carries which example.
PAGES = {"README.md": ("example-response",), "docs/index.md": ("example-response",),
         "docs/api.md": ("example-objects",), "docs/s3-metadata.md": ("example-metadata",)}


def main(argv: list[str] | None = None) -> int:
    from caption.runtime import load_service

    parser = argparse.ArgumentParser(prog="infra/examples.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args(argv)
    settings = example_settings()
    service, _ = load_service(settings)
    made = examples(service, settings)
    for page, markers in PAGES.items():
        path = args.repo / page
        text = path.read_text()
        for marker in markers:
            text = fill(text, marker, made[marker])
        path.write_text(text)
    print(f"wrote the examples into {', '.join(PAGES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
