"""The figures in the docs are the ones their commands wrote: each generated part of a page
(between its markers) is what the generating code makes from the stored results today, so a
hand edit, or a result changed without regenerating the page, fails here."""

from __future__ import annotations

import json
import re

from bench.report import render
from infra.gallery import (
    EVERYDAY,
    NOT_YET_READ,
    ablations_table,
    decoding_table,
    generated,
    load_readings,
    metrics_table,
    presence_table,
    reading,
    tally,
    training_summary,
    tuning_table,
)
from tests.conftest import REPO

DOCS = REPO / "docs"


def between(text: str, marker: str) -> str:
    found = generated(text, marker)
    assert found is not None, f"no {marker} markers"
    return found


def test_the_model_cards_tables_are_what_model_json_holds():
    card = (DOCS / "model-card.md").read_text()
    config = json.loads((REPO / "layers" / "model" / "model.json").read_text())
    assert between(card, "metrics") == metrics_table(config["metrics"])
    assert between(card, "presence") == presence_table(config["metrics"])
    assert between(card, "tuning") == tuning_table(config["detector"])
    assert between(card, "rule-ablations") == ablations_table(config["metrics"])
    assert between(card, "decoding") == decoding_table(config)
    assert between(card, "training") == training_summary(config)
    assert f"{config['name']}` {config['version']}," in between(card, "model")


def test_the_performance_table_is_the_last_make_bench():
    page = (DOCS / "performance.md").read_text()
    results = json.loads((REPO / "bench" / "results" / "latest.json").read_text())
    assert render(results) in page


def test_the_gallery_shows_a_persons_reading_only_of_the_caption_that_was_read():
    """Each row's reading is the one recorded for exactly the caption shown (else "not yet
    read"), and the machine's checks are labelled as the machine's."""
    gallery = between((DOCS / "model-card.md").read_text(), "gallery")
    readings = load_readings(DOCS / "gallery" / "readings.json")
    rows = [line for line in gallery.splitlines() if line.startswith("| ![")]
    best = {}
    for row in rows:
        name = re.search(r"\(gallery/(\w+)\.jpg\)", row)[1]
        best[name] = re.search(r"\*\*(.+?)\*\* \(", row)[1]
        cells = row.split(" | ")
        assert cells[3] == reading(readings, name, best[name]), name
        assert cells[4].startswith("COCO classes not in the photo: "), name
    assert gallery.startswith(tally(readings, best))
    assert len([name for name in best if name in EVERYDAY]) >= 4  # everyday scenes


def test_a_reading_is_of_one_caption_and_a_changed_caption_is_not_yet_read():
    readings = {"cat": {"caption": "a cat on a mat", "acceptable": True, "why": "it is",
                        "by": "someone", "on": "2026-12-07"}}
    assert reading(readings, "cat", "a cat on a mat").startswith("**acceptable** as alt text")
    assert reading(readings, "cat", "a cat on a sofa") == NOT_YET_READ
    assert reading(readings, "dog", "a dog") == NOT_YET_READ
    assert tally(readings, {"cat": "a cat on a sofa", "dog": "a dog"}).startswith(
        "A person has read 0 of the 2")
