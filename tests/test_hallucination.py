"""The measures of what captions invent or break, on sentences whose answer a person knows."""

from __future__ import annotations

import pytest

from caption.metrics.hallucination import broken, hallucination, read_objects, scenes_named
from caption.metrics.subjects import classes_named, mentions


def test_whole_phrases_name_their_own_class_only():
    assert mentions("a hot dog on a plate") == ["hot dog"]
    assert classes_named("a stop sign at a corner") == {"stop sign"}
    assert mentions("a man and a dog chase two dogs") == ["person", "dog", "dog"]
    assert classes_named("a teddy bear on a bed") == {"teddy bear", "bed"}


@pytest.mark.parametrize("caption, why", [
    ("a man in a black jacket and a man in a black jacket", "repeats 'a man in a'"),
    ("a race car is driving through a race car", "repeats 'a race car'"),
    ("a man in a red shirt is standing on a red and white", "ends on 'white'"),
    ("a dog is running through the", "ends on 'the'"),
    ("a dog dog is running", "repeats 'dog'"),
])
def test_broken_sentences_are_named(caption, why):
    assert broken(caption) == why


@pytest.mark.parametrize("caption", [
    "a dog runs in a field in a park", "a man and a woman sit on a bench",
    "two dogs play in the snow", "a brown dog and a white dog play together",
])
def test_whole_sentences_pass(caption):
    assert broken(caption) is None


def test_chair_counts_mentions_neither_the_references_nor_the_annotations_hold(tmp_path):
    references = {"a.jpg": ["A plate with a hot dog.", "a hot dog and fries", "lunch"] * 2,
                  "b.jpg": ["a cat on a sofa", "a kitten sleeping", "a cat"]}
    objects_file = tmp_path / "objects.tsv"
    objects_file.write_text("a.jpg\thot dog,dining table\nb.jpg\tcat,couch,remote\n")
    objects = read_objects(objects_file)
    predictions = {"a.jpg": "a man is eating a hot dog at a table in the grass",
                   "b.jpg": "a cat is sleeping on a couch"}
    figures = hallucination(predictions, references, objects)
    # a.jpg: person (invented), hot dog, dining table (annotated); b.jpg: cat, couch (annotated)
    assert figures["chair_s"] == 50.0 and figures["chair_i"] == 20.0
    assert figures["invented_scenes"] == 50.0  # grass, in a.jpg
    assert figures["broken_sentences"] == 0
    without_objects = hallucination(predictions, references)
    # Without the annotations the table is unsupported too; the couch is the references' sofa.
    assert without_objects["chair_i"] == 40.0


def test_scenes_are_grouped_by_place():
    assert scenes_named("a dog swims in the lake") == {"water"}
    assert scenes_named("children on a sandy beach") == {"beach"}
