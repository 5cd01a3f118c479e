"""Sentence faults and invented places, on the captions the issues quote and on sentences a
person would write."""

from __future__ import annotations

import pytest

from caption.metrics.faults import fault, faults, places_named


@pytest.mark.parametrize("caption", [
    "a small white and black pants is standing in the water",  # a rocket
    "a brown and white coffee is standing in the middle of a red and white house",
    "a black and white striped shirt is running through the grass",  # a clock
    "a black and white jumps in the air",
    "a small brown and white haired is standing in the middle of a large",
    "a dog is running on the",
])
def test_faults_a_person_would_not_write(caption):
    assert fault(caption) is not None, caption


@pytest.mark.parametrize("caption", [
    "a man is standing in the water",
    "a black and white dog is running through the grass",
    "a black and white animal is running through a red tunnel",
    "two people are sitting at a table",
    "a white toilet in a small bathroom",
    "a cup of coffee on a wooden table",
    "a cat is sitting on a red and white blanket",
    "a young male is jumping into the water",  # no COCO class, but nothing says it is a thing
    "a cyclist is riding a bike through the woods",  # "cyclist" names a bicycle, and a person
    "a man is jumping on a rail near a traffic light",  # a describing word that is a noun too
    "the grass is green",  # a describing word may end a sentence, not an article's phrase
])
def test_sentences_a_person_would_write(caption):
    assert fault(caption) is None, (caption, fault(caption))


def test_places_are_counted_where_no_reference_names_them():
    assert places_named("a sink in the middle of a white building") == {"building"}
    predictions = {"a.jpg": "a dog runs through the grass",
                   "b.jpg": "a sink is in front of a white building",
                   "c.jpg": "a cup is standing in the air"}
    references = {"a.jpg": ["a dog in a field"], "b.jpg": ["a sink in a kitchen"],
                  "c.jpg": ["a cup of coffee"]}
    assert faults(predictions, references) == {"sentence_faults": 33.3,
                                               "invented_places": 66.7}
