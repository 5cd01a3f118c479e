"""`python -m caption.train.stages.tune_writer --model DIR [--write]`: who describes which photo,
and the writer's bars, measured. Scores the bundle as it serves, and with the writer's settings
changed one at a time, on coco-dev (everyday photos, with object annotations) and Flickr8k val,
by the full inference path of `caption.metrics.evaluate` (guidance on).

- `min_decoder_photos`: the writer describes a photo whose most confident object fewer Flickr8k
  training photos name (caption.model.writer). 0 is the image decoder alone (the model before
  the writer); a billion is the writer wherever an object is detected.
- the writer's colours (it does not see them) and its guessed places, allowed.

`--write` stores the table in model.json (writer.tuning), from which `make gallery` writes the
model card's table. The settings live in model.json's `writer` section; this command measures
them, it does not change them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from caption.model.bundle import read_config, write_config
from caption.model.decoding import DecodingConfig
from caption.runtime import load_captioner
from caption.settings import Settings
from caption.train.stages.tune_objects import measure_variants

FIGURES = ("bleu4", "cider_d", "names_subject", "chair_s", "sentence_faults",
           "invented_places", "broken_sentences")
MIN_PHOTOS = (0, 20, 50, 100, 200, 400, 1000, 10**9)


def variants(config: DecodingConfig, bars: bool = True) -> list[tuple[str, dict]]:
    """(what changes, the decoding settings it changes), the served settings first; bars:
    with the writer's bars lifted one at a time."""
    served = config.min_decoder_photos
    rows = [("as served", {})]
    rows += [(f"min_decoder_photos {n}", {"min_decoder_photos": n})
             for n in MIN_PHOTOS if n != served]
    rows.append(("the writer for any detected object the decoder hardly knows, not only the "
                 "most confident" if not config.any_object else
                 "the writer for the most confident object only",
                 {"any_object": not config.any_object}))
    if bars:
        rows += [("colours allowed", {"writer_colours": True}),
                 ("guessed places allowed", {"guessed_places": True}),
                 ("grounded places in the bag" if not config.grounded_places
                  else "no grounded places in the bag",
                  {"grounded_places": not config.grounded_places}),
                 ("the classifier does not overrule the detector", {"trust_classifier": False}),
                 ("the decoder's places unguarded", {"guards_decoder": False})]
    return rows


def measure(model, limit: int | None, bars: bool = True) -> list[dict]:
    return measure_variants(model, variants(model.decoding.config, bars), limit,
                            (*FIGURES, "written_images"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.tune_writer",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--only-photos", action="store_true",
                        help="measure the min_decoder_photos variants alone")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    model = load_captioner(Settings.from_env(), args.model)
    if model.decoding.writer is None:
        parser.error(f"{args.model} has no writer: "
                     "python -m caption.train.stages.writer --model DIR")
    rows = measure(model, args.limit, bars=not args.only_photos)
    if args.write:
        config = read_config(args.model)
        tuning = {"command": "python -m caption.train.stages.tune_writer --write",
                  "encoder": model.runtime.get("encoder", ""), "variants": rows}
        write_config(args.model, config.with_changes(
            writer={**config.writer, "tuning": tuning}))


if __name__ == "__main__":
    main()
