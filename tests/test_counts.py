"""Unbacked numbers (caption.metrics.counts): a caption's number needs a reference that says it."""

from caption.metrics.counts import backs, number_said, unbacked_numbers


def test_the_first_number_a_caption_says_is_its_count():
    assert number_said("two dogs are running with three balls") == 2
    assert number_said("a group of people are standing in a field") is None
    assert number_said("Two men, 3 boys") == 2


def test_a_reference_backs_two_with_the_words_people_use_for_it():
    assert backs("A couple walks on the beach .", 2)
    assert backs("Both dogs are wet", 2)
    assert backs("2 kids play", 2)
    assert not backs("A couple walks on the beach .", 3)
    assert not backs("A man and his dog", 2)  # two beings, but nobody said how many
    assert backs("Three girls smile", 3)


def test_a_number_no_reference_says_is_unbacked():
    references = {"one.jpg": ["A boy is fishing off a pier .", "A child fishes ."],
                  "two.jpg": ["Two dogs run .", "Dogs racing"],
                  "none.jpg": ["A cat sleeps ."]}
    predictions = {"one.jpg": "two people are standing on a pier",
                   "two.jpg": "two dogs are running",
                   "none.jpg": "a cat is sleeping"}
    assert unbacked_numbers(predictions, references) == {
        "unbacked_numbers": 33.3, "numbers_said": 2, "numbers_unbacked": 1}
