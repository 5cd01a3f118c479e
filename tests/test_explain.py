"""`python -m caption.explain`: for a real photo and the shipped bundle, why a word was not
written, with the evidence that fell short, and where each setting came from; a file that is
not an image gets the API's error, not a traceback."""

from __future__ import annotations

import json

import pytest

from caption.explain import main
from tests.conftest import REPO

SAMPLE = REPO / "events" / "sample.jpg"


def run(capsys, *argv: str) -> dict:
    main([*argv, "--model", str(REPO / "layers" / "model")])
    return json.loads(capsys.readouterr().out)


ALLOWED = "allowed: no rule bars it; the model preferred other words"


def test_a_barred_word_is_explained_by_its_rule_and_evidence(capsys):
    result = run(capsys, str(SAMPLE), "two", "cat", "dog", "man", "zzz", "--guidance", "off",
                 "--config")
    assert result["guided_by"] is None
    assert any(slot.startswith("cat (1) ") for slot in result["bag"])  # the bag it read
    assert len(result["captions"]) == 3
    # One box of anything: "two" claims more than the detector found.
    assert result["why_not"]["two"] == ["absent: two: boxes of one class 1 < 2"]
    assert result["why_not"]["zzz"] == ["not in the vocabulary of the one writing"]
    # The cat is what the photo shows (the classifier's label, a detected box), so only the
    # rules along the captions bar it (no cat straight after "cat"); a man is barred by the
    # person evidence it lacks (no person box either).
    assert "cat" in result["concepts_shown"]
    assert all(reason.startswith("after '") for reason in result["why_not"]["cat"])
    assert result["why_not"]["man"][0].startswith("absent: person: ")
    # What it says agrees with what was written: no caption holds a word it calls barred
    # everywhere (a rule after some words bars it there only).
    said = set(" ".join(result["captions"]).split())
    for word, why in result["why_not"].items():
        if why != [ALLOWED] and not all(reason.startswith("after '") for reason in why):
            assert word not in said, (word, why, result["captions"])
    config = result["config"]
    assert config["guide_threshold"]["from"] == "model.json labels.guide_threshold"
    assert config["whole_sentences"] == {"value": True,
                                         "from": "settings: CAPTION_WHOLE_SENTENCES"}
    # Every threshold is in the one config: grounding's, the detector's floor, the colour window.
    model_json = json.loads((REPO / "layers" / "model" / "model.json").read_text())
    assert config["grounding_threshold"] == {"value": model_json["grounding"]["threshold"],
                                             "from": "model.json grounding.threshold"}
    assert config["detector_floor"]["from"] == "code: caption.model.objects.SCORE_FLOOR"
    assert config["colour_window"]["value"] == 4


def test_the_guided_caption_says_who_wrote_it(capsys):
    result = run(capsys, str(SAMPLE))
    assert result["guided_by"] == "cat" and result["guide_dropped"] is None
    assert all("cat" in caption.split() for caption in result["captions"])
    assert any(name.endswith(": name the cat") for name in result["rules"])


def test_a_guide_the_sentence_had_to_bend_around_is_reported_as_dropped(tmp_path, capsys,
                                                                       photos):
    """The classifier is sure of the coffee, but the decoder finds its captions without the
    word more probable than any with it (DecodingConfig.guide_margin): those come back, and
    explain says which noun was dropped."""
    photo = tmp_path / "coffee.jpg"
    photo.write_bytes(photos["coffee"])
    result = run(capsys, str(photo), "--config")
    assert result["guided_by"] is None and result["guide_dropped"] == "coffee"
    assert not any("coffee" in caption.split() for caption in result["captions"])
    assert any(name.endswith(": name the coffee") for name in result["rules"])
    assert result["config"]["guide_margin"] == {
        "value": 0.0, "from": "code: caption.model.decoding.DecodingConfig"}


def test_a_file_that_is_not_an_image_gets_the_error_json(tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(SystemExit) as exit_:
        main([str(text), "--model", str(REPO / "layers" / "model")])
    assert exit_.value.code == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["code"] and error["message"]


def test_rules_that_look_at_the_words_before_are_reported_along_the_captions(capsys):
    """A word is barred straight after itself: explain asks the rules at every point of the
    captions returned, and says after which words."""
    best = run(capsys, str(SAMPLE))["captions"][0]
    last = best.split()[-1]
    reasons = run(capsys, str(SAMPLE), last)["why_not"][last]
    assert f"after '{best}': whole sentence: no word twice in a row" in reasons
