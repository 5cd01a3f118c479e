"""Wrong age (caption.metrics.age): a child called an adult or an adult a child, judged only
where the references agree."""

from __future__ import annotations

from caption.metrics.age import photo_age, wrong_age
from tests.test_gender import BOY, COUPLE, WOMAN

FAMILY = ["a man and his son", "a father with a boy", "a man holds a child", "two people",
          "a man and a boy on a bench"]


def test_a_photo_has_the_age_its_references_agree_on():
    assert photo_age(BOY) == "child"
    assert photo_age(WOMAN) == "adult"  # "a woman", "a lady": none names a child
    assert photo_age(COUPLE) == "adult"
    assert photo_age(FAMILY) is None  # an adult with a child is left out
    assert photo_age(["a dog runs"] * 5) is None


def test_wrong_is_the_other_age_only_and_a_person_is_never_wrong():
    references = {"b": BOY, "w": WOMAN, "c": COUPLE, "f": FAMILY}
    predictions = {"b": "a man is swimming in a pool", "w": "a person runs on the beach",
                   "c": "two girls are sitting on a bench", "f": "a man is sitting with a boy"}
    assert wrong_age(predictions, references) == {
        "wrong_age": 66.7, "age_judged": 3, "child_called_adult": 1, "adult_called_child": 1}
