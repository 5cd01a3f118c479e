"""Wrong gender (caption.metrics.gender): judged only where the references agree."""

from __future__ import annotations

from caption.metrics.gender import photo_gender, wrong_gender

WOMAN = ["A woman runs on the beach .", "A lady jogging by the sea", "a woman in a red top runs",
         "Someone running on sand .", "She runs along the water ."]
BOY = ["a boy jumps", "A young boy jumps into a pool", "the boy is swimming", "a child swims",
       "A kid leaps into the water ."]
COUPLE = ["a man and a woman sit", "A couple on a bench", "a woman sits", "a man sits",
          "two people on a bench"]


def test_a_photo_has_the_gender_its_references_agree_on():
    assert photo_gender(WOMAN) == "female"
    assert photo_gender(BOY) == "male"
    assert photo_gender(COUPLE) is None  # a mixed group is left out
    assert photo_gender(["a dog runs"] * 5) is None


def test_wrong_is_the_other_gender_only_and_neutral_is_never_wrong():
    references = {"w": WOMAN, "b": BOY, "c": COUPLE, "w2": WOMAN}
    predictions = {"w": "a man is running on the beach", "b": "a child jumps into a pool",
                   "c": "a woman is sitting on a bench", "w2": "a man and a woman run"}
    figures = wrong_gender(predictions, references)
    assert figures == {"wrong_gender": 33.3, "gender_judged": 3, "gender_neutral": 33.3,
                       "both_genders": 1, "female_called_male": 1, "male_called_female": 0}
