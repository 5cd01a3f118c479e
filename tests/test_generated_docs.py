"""The figures in the docs are the ones their commands wrote: each generated part of a page
(between its markers) is what the generating code makes from the stored results today, so a
hand edit, or a result changed without regenerating the page, fails here."""

from __future__ import annotations

import json
import re

from bench.report import render
from infra.gallery import (
    END,
    START,
    decoding_table,
    metrics_table,
    presence_table,
    training_summary,
    tuning_table,
    writer_table,
)
from tests.conftest import REPO

DOCS = REPO / "docs"


def between(text: str, marker: str) -> str:
    pattern = re.escape(START.format(marker)) + r"\n(.*?)\n" + re.escape(END.format(marker))
    found = re.search(pattern, text, re.S)
    assert found, f"no {marker} markers"
    return found.group(1)


def test_the_model_cards_tables_are_what_model_json_holds():
    card = (DOCS / "model-card.md").read_text()
    config = json.loads((REPO / "layers" / "model" / "model.json").read_text())
    assert between(card, "metrics") == metrics_table(config["metrics"])
    assert between(card, "presence") == presence_table(config["metrics"])
    assert between(card, "tuning") == tuning_table(config["detector"])
    assert between(card, "writer") == writer_table(config["writer"])
    assert between(card, "decoding") == decoding_table(config)
    assert between(card, "training") == training_summary(config)
    assert f"{config['name']}` {config['version']}," in between(card, "model")


def test_the_performance_table_is_the_last_make_bench():
    page = (DOCS / "performance.md").read_text()
    results = json.loads((REPO / "bench" / "results" / "latest.json").read_text())
    assert render(results) in page
