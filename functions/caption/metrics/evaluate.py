"""`python -m caption.metrics.evaluate`: score a model on any captioned photo set, the way the
withheld test sets are scored: best caption per image at the given beam (default 3), BLEU-1..4,
CIDEr-D, "names the subject" (caption.metrics.subjects), and what the captions invent or break:
CHAIR-s and CHAIR-i, invented scenes, broken sentences (caption.metrics.hallucination; a folder's
objects.tsv, where there is one, adds its annotated objects to the ground truth, and scores the
detector's objects against them: caption.metrics.presence), and, judged with word lists the
search's rules do not use, sentence faults and invented places (caption.metrics.faults); and
how often it calls a person the gender or the age the references did not (caption.metrics.gender,
caption.metrics.age), and how often it says a number no reference says (caption.metrics.counts).
CAPTION_OBJECTS=0 scores the same bundle without its detector.

    python -m caption.metrics.evaluate                      # Flickr8k val (../shared/flickr8k)
    python -m caption.metrics.evaluate --data ../shared/coco-dev    # images/ + captions.tsv
    python -m caption.metrics.evaluate --data ../shared/coco-dev --guidance both
    python -m caption.metrics.evaluate --photos DIR --names FILE    # photos without captions
    python -m caption.metrics.evaluate --set colour_min_share=null  # one decoding setting changed

Photos without captions (`--photos`: the uncaptioned COCO photos the one captioner held out of
training, say) are judged on what needs no reference: the share of captions with a sentence
fault, and broken sentences.

Runs the full inference path (file -> decode -> preprocess -> encoder -> search), images encoded
in batches, not the training feature cache. Each set's figures come with its two halves (coco-dev
by id, others alternately): choices are tuned on "a" and checked on "b". `--write NAME` stores
the figures in the bundle's model.json under metrics.NAME.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from caption.images import decode_image
from caption.metrics.age import wrong_age
from caption.metrics.counts import unbacked_numbers
from caption.metrics.datasets import half_of, load_dataset, read_split
from caption.metrics.faults import fault, faults
from caption.metrics.gender import wrong_gender
from caption.metrics.hallucination import broken, hallucination, read_objects
from caption.metrics.presence import presence
from caption.metrics.scoring import score_captions
from caption.metrics.subjects import names_subject
from caption.model.bundle import CONFIG_FILE, read_config, write_config
from caption.model.captioner import Captioner, Description
from caption.model.decoding import DecodingConfig
from caption.runtime import load_captioner
from caption.settings import Settings

FLICKR = Path("../shared/flickr8k")
BATCH = 8
TIMINGS = ("seconds_per_image",)


def describe_photos(model: Captioner, images: Path, names: list[str], beam_size: int,
                    guidance: bool) -> Iterator[tuple[str, Description]]:
    """Each named photo of `images` through the whole served path (file -> decode -> model),
    in batches of BATCH, as (name, its description at one caption)."""
    progress = tqdm(total=len(names), desc="captioning", unit="image", mininterval=5)
    for start in range(0, len(names), BATCH):
        batch = names[start:start + BATCH]
        decoded = [decode_image((images / name).read_bytes(), Settings.max_pixels,
                                model.decode_size).image for name in batch]
        yield from zip(batch, model.describe(decoded, beam_size, 1, guidance=guidance,
                                             max_labels=0), strict=True)
        progress.update(len(batch))
    progress.close()


def evaluate(model: Captioner, images: Path, captions: list[Path], split: Path | None,
             beam_size: int = 3, limit: int | None = None, guidance: bool = False,
             objects: dict[str, set[str]] | None = None) -> tuple[dict, dict[str, str]]:
    """objects: each photo's annotated object classes, where the set has them (objects.tsv):
    with the references, the ground truth for CHAIR (caption.metrics.hallucination)."""
    data = load_dataset(images, captions)
    if split is not None:
        data = data.subset(read_split(split))
    names = data.names[:limit] if limit else data.names
    predictions = {}
    listed: dict[str, set[str]] = {}
    guided = 0
    started = time.perf_counter()
    for name, result in describe_photos(model, images, names, beam_size, guidance):
        predictions[name] = result.captions[0].text
        listed[name] = {found.name for found in result.objects}
        guided += result.guided_by is not None
    metrics = score_captions(predictions, data.captions)
    metrics.update(names_subject(predictions, data.captions))
    metrics.update(hallucination(predictions, data.captions, objects))
    metrics.update(faults(predictions, data.captions))
    metrics.update(wrong_gender(predictions, data.captions))
    metrics.update(wrong_age(predictions, data.captions))
    metrics.update(unbacked_numbers(predictions, data.captions))
    metrics["beam_size"] = beam_size
    metrics["guidance"] = guidance
    metrics["guided_images"] = guided
    metrics["seconds_per_image"] = round((time.perf_counter() - started) / len(names), 4)
    metrics["encoder"] = model.runtime.get("encoder", "")
    metrics["objects"] = model.runtime.get("detector", "off")
    if objects is not None and model.detector is not None:
        metrics["detector_presence"] = {"threshold": model.detector.score_threshold,
                                        **presence(listed, objects)}
    metrics["halves"] = halves(predictions, data.captions, objects)
    return metrics, predictions


def halves(predictions: dict[str, str], references: dict[str, list[str]],
           objects: dict[str, set[str]] | None) -> dict[str, dict]:
    """The headline figures on each half of a set: "a", the half choices are tuned on, and
    "b", the half that only reports. A set whose photos are numbered (coco-dev) is halved by
    id (caption.metrics.datasets.half_of); any other (Flickr8k val) alternately, in its
    split's order."""
    names = list(predictions)
    by_order = {name: "ab"[i % 2] for i, name in enumerate(names)}
    out = {}
    for half in ("a", "b"):
        picked = {n: predictions[n] for n in names if (half_of(n) or by_order[n]) == half}
        if not picked:
            continue
        refs = {n: references[n] for n in picked}
        figures = {**score_captions(picked, refs), **names_subject(picked, refs),
                   **hallucination(picked, refs, objects), **wrong_gender(picked, refs),
                   **wrong_age(picked, refs), **unbacked_numbers(picked, refs)}
        out[half] = {key: figures[key] for key in ("images", "bleu4", "cider_d",
                                                   "names_subject", "chair_s", "wrong_gender",
                                                   "wrong_age", "unbacked_numbers")}
    return out


def evaluate_unreferenced(model: Captioner, images: Path, names: list[str],
                          beam_size: int = 3, guidance: bool = False
                          ) -> tuple[dict, dict[str, str]]:
    """Photos without captions: the share of best captions with a sentence fault
    (caption.metrics.faults), with a few of them to read, and the broken ones
    (caption.metrics.hallucination)."""
    predictions = {name: result.captions[0].text
                   for name, result in describe_photos(model, images, names, beam_size,
                                                       guidance)}
    faulty = {name: text for name, text in predictions.items() if fault(text) is not None}
    broken_ones = {name: text for name, text in predictions.items() if broken(text)}
    return {"photos": len(predictions),
            "sentence_faults": round(100 * len(faulty) / max(len(predictions), 1), 1),
            "broken_sentences": len(broken_ones),
            "faulty_examples": dict(list(faulty.items())[:8]),
            "beam_size": beam_size, "guidance": guidance}, predictions


def decoding_setting(text: str) -> tuple[str, object]:
    """`name=value` -> (name, the value as JSON), for a DecodingConfig field."""
    name, _, value = text.partition("=")
    known = {f.name for f in dataclasses.fields(DecodingConfig)} - {"origins"}
    if name not in known:
        raise argparse.ArgumentTypeError(f"not a decoding setting: {name!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: not a JSON value: {value!r}") from exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.metrics.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Settings.from_env().model_dir)
    parser.add_argument("--data", type=Path, default=None,
                        help="a folder with images/ and captions.tsv; scores every image "
                             "(overrides --images/--captions/--split)")
    parser.add_argument("--images", type=Path, default=FLICKR / "images")
    parser.add_argument("--captions", type=Path, nargs="+", default=[FLICKR / "captions.tsv"])
    parser.add_argument("--split", type=Path, default=FLICKR / "splits/val.txt",
                        help="file of image names; 'all' scores every captioned image")
    parser.add_argument("--photos", type=Path, default=None,
                        help="a folder of photos without captions, judged on sentence faults "
                             "and broken sentences alone (with --names)")
    parser.add_argument("--names", type=Path, default=None,
                        help="with --photos: the file names to judge, one per line")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--guidance", choices=("on", "off", "both"), default="on",
                        help="steer captions by the classifier's labels; 'both' scores each way")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--predictions", type=Path, default=None,
                        help="also write image -> caption JSON here")
    parser.add_argument("--set", metavar="SETTING=VALUE", action="append", default=[],
                        type=decoding_setting,
                        help="score with one decoding setting changed (caption.model.decoding."
                             "DecodingConfig, the value as JSON; null turns a check off), "
                             "e.g. --set colour_min_share=0.5; with --write, refused")
    parser.add_argument("--write", metavar="NAME", default=None,
                        help="store the metrics in the bundle's model.json under metrics.NAME "
                             "(with --guidance both: NAME and NAME_unguided)")
    args = parser.parse_args(argv)
    if args.data is not None:
        args.images, args.captions, args.split = args.data / "images", [args.data /
                                                                        "captions.tsv"], None
    split = None if args.split is None or str(args.split) == "all" else args.split
    objects_file = args.data / "objects.tsv" if args.data is not None else None
    objects = read_objects(objects_file) if objects_file and objects_file.exists() else None
    # As served: the int8 encoder where the CPU has VNNI unless CAPTION_INT8_ENCODER=0 (which
    # measures the float32 encoder's captions).
    settings = Settings.from_env()
    model = load_captioner(settings, args.model)
    if args.set and args.write:
        parser.error("--set measures a variant; --write stores what the bundle serves")
    if args.set:
        model.decoding.config = dataclasses.replace(model.decoding.config, **dict(args.set))
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.guidance]
    results = {}
    names = None
    if args.photos is not None:
        if args.names is None:
            parser.error("--photos needs --names: the photos to judge")
        names = args.names.read_text(encoding="utf-8").split()[:args.limit]
    for guidance in modes:
        if names is not None:
            metrics, predictions = evaluate_unreferenced(model, args.photos, names,
                                                         args.beam_size, guidance)
        else:
            metrics, predictions = evaluate(model, args.images, args.captions, split,
                                            args.beam_size, args.limit, guidance, objects)
        key = args.write or "metrics"
        if args.guidance == "both" and not guidance:
            key += "_unguided"
        results[key] = metrics
        if args.predictions:
            path = args.predictions if guidance or args.guidance != "both" else \
                args.predictions.with_suffix(".unguided.json")
            path.write_text(json.dumps(predictions, indent=1) + "\n")
    printed = results if len(results) > 1 else next(iter(results.values()))
    print(json.dumps(printed, indent=1))
    if args.write:
        # Timings vary run to run: printed above, not stored, so re-scoring an unchanged model
        # leaves model.json unchanged.
        stored = {key: {k: v for k, v in figures.items() if k not in TIMINGS}
                  for key, figures in results.items()}
        config = read_config(args.model)
        write_config(args.model, config.with_changes(metrics={**config.metrics, **stored}))
        print(f"stored as metrics.{', metrics.'.join(results)} in {args.model / CONFIG_FILE}")


if __name__ == "__main__":
    main()
