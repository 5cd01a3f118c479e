"""Every example response in the README and the docs is what the code answers today: each page's
generated block (infra/examples.py, part of `make gallery`) is compared with a fresh run of the
same photo through the same path, timings aside (they are one machine's, on the day)."""

from __future__ import annotations

import json

import pytest

from infra.examples import CURL, PAGES, compact, example_settings, examples
from infra.gallery import generated
from tests.conftest import REPO


@pytest.fixture(scope="module")
def made() -> dict[str, str]:
    from caption.runtime import load_service

    settings = example_settings()
    service, _ = load_service(settings, warm_up=False)
    return examples(service, settings)


def block(page: str, marker: str) -> str:
    found = generated((REPO / page).read_text(), marker)
    assert found is not None, f"{page} has no {marker} markers"
    return found


def fenced(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines[0] == lines[-1] == "```", text
    return lines[1:-1]


def without_timings(response: dict) -> dict:
    assert set(response["timings_ms"]) == {"decode", "inference", "total"}
    return {key: value for key, value in response.items() if key != "timings_ms"}


@pytest.mark.parametrize("page", [p for p, markers in PAGES.items()
                                  if "example-response" in markers])
def test_the_api_example_is_what_the_api_answers(page, made):
    shown = fenced(block(page, "example-response"))
    assert shown[0] == CURL
    response = json.loads("\n".join(shown[1:]))
    fresh = json.loads("\n".join(fenced(made["example-response"])[1:]))
    assert without_timings(response) == without_timings(fresh)
    assert response["captions"] and response["model"]["version"]


def test_the_objects_example_is_the_astronauts(made):
    shown = block("docs/api.md", "example-objects")
    assert shown == made["example-objects"]
    objects = json.loads("{" + fenced(shown)[0] + "}")["objects"]
    assert objects[0]["name"] == "person"


def test_the_metadata_example_is_what_the_s3_path_writes(made):
    shown = block("docs/s3-metadata.md", "example-metadata")
    assert shown == made["example-metadata"]
    keys = [line.split(":", 1)[0] for line in fenced(shown)]
    assert keys[:3] == ["x-amz-meta-caption", "x-amz-meta-caption-score",
                        "x-amz-meta-caption-model"]


def test_the_compact_form_is_the_response_itself():
    response = {"captions": [{"text": "a", "score": 0.5}, {"text": "b", "score": 0.25}],
                "guided_by": None, "objects": []}
    assert json.loads(compact(response)) == response
    assert len(compact(response).splitlines()) == 4  # a line per field, a line per caption
