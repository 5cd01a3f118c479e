"""`python -m caption.explain PHOTO [WORD ...]`: why a caption says what it says.

Prints, for one photo and the bundle as it serves: what the photo shows (the classifier's
nouns, the detector's objects, grounding's concepts), what the decoder starts from (the
photo's regions, and the detector's bag where it reads one) and the noun it is guided to name
(or `guide_dropped`: the noun it would have been guided to, where naming it cost the sentence),
the captions (and, where a caption names a gender or a colour, whether the decoder was sure
enough of it to keep it: caption.model.sure_words), and for each WORD every
rule that barred it, with the evidence that fell short ("absent: dog: grounding's evidence
0.004 < 0.3"), at any point of a caption, and, for the rules that look at the words before, at
each point of the captions returned ("after 'a red': whole sentence: no colour twice within 4
words"). A word no rule bars was allowed: the model preferred other words. `--config`
also prints every decoding setting and where it came from (caption.model.decoding).

    python -m caption.explain events/sample.jpg dog grass
    python -m caption.explain photo.jpg --guidance off --config
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from caption.errors import CaptionError
from caption.images import decode_image
from caption.runtime import load_captioner
from caption.settings import Settings


def explain(model, data: bytes, words: list[str], guidance: bool = True, beam_size: int = 3,
            max_length: int = 20) -> dict:
    """The explanation of one photo's captions as a JSON-ready dict."""
    image = decode_image(data, Settings.max_pixels, model.decode_size).image
    encoded = model.encode(model.preprocess(image)[None])
    detections = model.detector.detect(image) if model.detector is not None else None
    probabilities = None if encoded.probabilities is None else encoded.probabilities[0]
    decoding = model.decoding
    evidence = decoding.evidence(encoded.regions, probabilities, detections, guidance, 5)
    plan = decoding.plan(evidence, encoded.regions, guidance, max_length)
    searched = plan.captions(beam_size, 3, max_length)
    found = searched.found[:len(searched.checked) or 3]  # the captions read, as written
    captions = [plan.render(h.tokens) for h in searched.said]
    vocabulary = plan.vocabulary
    why = {}
    for word in words:
        if word not in vocabulary.ids:
            why[word] = ["not in the vocabulary of the one writing"]
            continue
        word_id = vocabulary.ids[word]
        reasons = plan.rules.why_not(word_id)
        # The rules that look at the words before ("no living verb after the thing", "no
        # colour twice within 4 words"): asked at every point of every caption returned.
        for hypothesis in found:
            tokens = [t for t in hypothesis.tokens if t != vocabulary.end]
            for point in range(len(tokens) + 1):
                for reason in plan.rules.why_not(word_id, tuple(tokens[:point])):
                    if reason not in reasons and not any(
                            r.endswith(": " + reason) for r in reasons):
                        before = plan.render(tuple(tokens[:point])) or "the start"
                        reasons.append(f"after '{before}': {reason}")
        why[word] = reasons or ["allowed: no rule bars it; the model preferred other words"]
    return {
        "bag": [f"{slot.concept} ({slot.count}) {round(slot.score, 3)}" for slot in evidence.bag],
        "guided_by": plan.guided_by if searched.guided else None,
        # A guide the decoder would have had to bend its sentence around: the captions
        # without it came back (DecodingConfig.guide_margin).
        "guide_dropped": None if searched.guided else plan.guided_by,
        "captions": captions,
        # Per caption the search wrote, what the decoder was sure of: its gender, its colours.
        "sure_words": {plan.render(h.tokens): checked.reasons()
                       for h, checked in zip(found, searched.checked, strict=True)
                       if checked.reasons()},
        "labels": [f"{label.name} ({label.noun}) {label.score}" for label in evidence.labels],
        "objects": {name: round(score, 3) for name, score in (evidence.best or {}).items()
                    if name in evidence.present},
        "concepts_shown": sorted(evidence.shown),
        "rules": [rule.name for rule in plan.rules.rules
                  if not rule.name.startswith("absent: ")],
        "absent": sorted(rule.name.removeprefix("absent: ") for rule in plan.rules.rules
                         if rule.name.startswith("absent: ")),
        "why_not": why,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.explain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo", type=Path)
    parser.add_argument("words", nargs="*", help="words to explain (why not written)")
    parser.add_argument("--model", type=Path, default=Settings.from_env().model_dir)
    parser.add_argument("--guidance", choices=("on", "off"), default="on")
    parser.add_argument("--config", action="store_true",
                        help="also print every decoding setting and where it came from")
    args = parser.parse_args(argv)
    model = load_captioner(Settings.from_env(), args.model)
    try:
        result = explain(model, args.photo.read_bytes(), args.words, args.guidance == "on")
    except OSError as exc:
        parser.exit(2, f"{parser.prog}: cannot read {args.photo}: {exc.strerror or exc}\n")
    except CaptionError as exc:  # not an image we can read: its code and message, as JSON
        parser.exit(2, json.dumps(exc.to_json()) + "\n")
    if args.config:
        result["config"] = model.decoding.config.describe()
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
