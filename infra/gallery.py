"""`make gallery`: what the bundled model says about photos anyone may republish, written into
the model card (docs/model-card.md): each photo with the detector's objects boxed on it, its
captions, labels and objects as the API serves them (guidance on), the unguided caption beside
them, a person's reading of the best caption, and the machine's checks of it. Also the metrics
table and the other generated tables, from the bundle's model.json. Run it after the model
changes; the tests never write into the checkout.

    .venv/bin/python infra/gallery.py [--docs docs] [--coco-dev ../shared/coco-dev]

Who judged what:
- *What it shows* is a person's description of the photo; the COCO classes it holds are a
  person's list too (for the COCO photos, COCO's own annotations).
- *A person's reading* (acceptable as alt text or not, and why) is kept in
  docs/gallery/readings.json, each tied to the exact caption that was read: when the model's
  caption changes, the page says "not yet read" until someone reads the new one and records it.
- *The machine's checks* are the measures `caption.metrics.evaluate` reports: COCO classes the
  caption names (whole phrases: "hot dog" is not a dog) that the photo's list does not hold,
  places (sky, room, water, ...) its description does not mention, and the fault lists
  (caption.metrics.faults, caption.metrics.hallucination.broken). They know nothing else: a
  sentence can pass them all and still be wrong about the photo.

The photos ship in packages (scikit-image's and scikit-learn's sample images), or are everyday
COCO photos from ../shared/coco-dev whose Flickr licence allows republishing (Attribution,
Attribution-ShareAlike; credited beside each, as coco-dev's README asks).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "functions"), str(REPO)]

from caption.metrics.faults import fault, places_named  # noqa: E402
from caption.metrics.hallucination import broken  # noqa: E402
from caption.metrics.subjects import classes_named  # noqa: E402
from caption.model.decoding import DECODING_SECTIONS, DecodingConfig  # noqa: E402
from caption.runtime import load_service  # noqa: E402
from caption.service import CaptionOptions  # noqa: E402
from caption.settings import Settings  # noqa: E402

START, END = "<!-- {}:start -->", "<!-- {}:end -->"
THUMBNAIL = 320  # the longer side, in pixels
READINGS = REPO / "docs" / "gallery" / "readings.json"
COCO_DEV = REPO.parent / "shared" / "coco-dev"
NOT_YET_READ = "*not yet read*"


@dataclass(frozen=True)
class Photo:
    name: str
    shows: str  # what a person sees in it
    objects: frozenset[str]  # the COCO classes it holds
    credit: str


def _skimage(name: str):
    from skimage import data

    return getattr(data, name)()


def _sklearn(name: str):
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def _packaged() -> dict[str, tuple[Callable, Photo]]:
    return {
        "chelsea": (lambda: _skimage("chelsea"), Photo(
            "chelsea", "a tabby cat, close up, on a wooden floor", frozenset({"cat"}),
            "scikit-image `data.chelsea()`, CC0 (Stefan van der Walt)")),
        "coffee": (lambda: _skimage("coffee"), Photo(
            "coffee", "a cup of coffee on a saucer with a spoon, on a table", frozenset(
                {"cup", "spoon", "dining table"}),
            "scikit-image `data.coffee()`, CC0 (Rachel Michetti)")),
        "astronaut": (lambda: _skimage("astronaut"), Photo(
            "astronaut", "a portrait of an astronaut in her suit, holding a helmet, a flag "
            "behind", frozenset({"person"}),
            "scikit-image `data.astronaut()`, NASA, public domain")),
        "camera": (lambda: _skimage("camera"), Photo(
            "camera", "a person with a camera on a tripod, in black and white",
            frozenset({"person"}), "scikit-image `data.camera()`, CC0 (Lav Varshney)")),
        "rocket": (lambda: _skimage("rocket"), Photo(
            "rocket", "a rocket on its launch pad under a blue sky", frozenset(),
            "scikit-image `data.rocket()`, SpaceX, public domain")),
        "clock": (lambda: _skimage("clock"), Photo(
            "clock", "a wall clock, blurred by the camera's motion, in black and white",
            frozenset({"clock"}),
            "scikit-image `data.clock()`, public domain (Stefan van der Walt)")),
        "horse": (lambda: (~_skimage("horse")).astype("uint8") * 255, Photo(
            "horse", "a drawing: a horse's black silhouette on white", frozenset({"horse"}),
            "scikit-image `data.horse()`, CC0 (Andreas Preuss)")),
        "china": (lambda: _sklearn("china.jpg"), Photo(
            "china", "a Chinese temple among trees, seen from above", frozenset(),
            "scikit-learn `china.jpg`, CC BY 2.0 (danielbuechele)")),
        "flower": (lambda: _sklearn("flower.jpg"), Photo(
            "flower", "a pink flower, close up, a bee on it", frozenset(),
            "scikit-learn `flower.jpg`, CC BY 2.0 (vultilion)")),
        "coins": (lambda: _skimage("coins"), Photo(
            "coins", "old coins laid out in rows, in black and white", frozenset(),
            "scikit-image `data.coins()`, Brooklyn Museum, no known copyright restrictions")),
        "hubble": (lambda: _skimage("hubble_deep_field"), Photo(
            "hubble", "galaxies of the Hubble deep field", frozenset(),
            "scikit-image `data.hubble_deep_field()`, NASA, public domain")),
    }


# Everyday scenes (a kitchen, a desk, food, a street) from coco-dev, each a person's description;
# the classes each holds are COCO's annotations (coco-dev/objects.tsv).
EVERYDAY = {
    "kitchen": ("000000177977.jpg", "a kitchen: wooden cabinets, a white electric stove and "
                "oven, a sink under the window"),
    "desk": ("000000516008.jpg", "a laptop, a keyboard and a mouse on a desk, a document "
             "holder and shelves behind"),
    "flatbread": ("000000121647.jpg", "flatbread pizza cut in slices on a plate, a wine glass "
                  "and a book on the table"),
    "lunch": ("000000213148.jpg", "a grilled cheese sandwich and fries in a tray, a drink "
              "with a straw, beside a computer keyboard"),
    "bus": ("000000252639.jpg", "a green and white articulated bus on a city street, trees "
            "and tower blocks behind"),
    "phone": ("000000234748.jpg", "a man talking on a phone on a street, leaning on a post "
              "behind a blue car with its boot open"),
}


def _everyday(coco_dev: Path) -> dict[str, tuple[Callable, Photo]]:
    if not (coco_dev / "licences.tsv").exists():
        raise SystemExit(f"the gallery's everyday scenes come from coco-dev; none at {coco_dev} "
                         "(pass --coco-dev FOLDER)")
    licences = {row[0]: row[1:] for row in _tsv(coco_dev / "licences.tsv")}
    annotated = {row[0]: frozenset(row[1].split(",")) if len(row) > 1 else frozenset()
                 for row in _tsv(coco_dev / "objects.tsv")}
    photos = {}
    for name, (file, shows) in EVERYDAY.items():
        licence, licence_url, flickr = licences[file]
        if "NonCommercial" in licence or "NoDerivs" in licence:
            raise SystemExit(f"{file}'s licence ({licence}) does not allow the gallery")
        credit = (f"COCO train2017 #{int(file.split('.')[0])}, [Flickr photo]({flickr}), "
                  f"[{licence.removesuffix(' License')} 2.0]({licence_url})")
        photos[name] = ((lambda path=coco_dev / "images" / file: _image(path)),
                        Photo(name, shows, annotated.get(file, frozenset()), credit))
    return photos


def _tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]


def _image(path: Path):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def photos(coco_dev: Path = COCO_DEV) -> dict[str, tuple[Callable, Photo]]:
    return {**_packaged(), **_everyday(coco_dev)}


def jpeg(array, side: int | None = None, objects=()) -> bytes:
    """The photo as JPEG, shrunk to `side` if given, with `objects` (in the full photo's
    pixels, as the API gives them) boxed and named on it."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(array).convert("RGB")
    full_width = image.width
    if side:
        image.thumbnail((side, side))
    scale = image.width / full_width
    draw = ImageDraw.Draw(image)
    for found in objects:
        box = found.box
        left, top = box.left * scale, box.top * scale
        draw.rectangle((left, top, left + box.width * scale, top + box.height * scale),
                       outline=(255, 212, 0), width=3)
        name = f"{found.name} {found.score:.2f}"
        draw.rectangle(draw.textbbox((left + 2, top + 1), name), fill=(255, 212, 0))
        draw.text((left + 2, top + 1), name, fill=(27, 27, 27))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85 if side else 92)
    return buffer.getvalue()


def machine_checks(text: str, photo: Photo) -> str:
    """What the measures `caption.metrics.evaluate` reports find in the caption, named as the
    machine's checks they are: COCO classes the photo's list does not hold, places its
    description does not mention, and the fault lists."""
    invented = sorted(classes_named(text) - photo.objects)
    places = sorted(places_named(text) - places_named(photo.shows))
    why = broken(text) or fault(text)
    return (f"COCO classes not in the photo: {', '.join(invented) or 'none'}; places not in its "
            f"description: {', '.join(places) or 'none'}; fault lists: {why or 'none'}")


def load_readings(path: Path = READINGS) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def reading(readings: dict[str, dict], name: str, caption: str) -> str:
    """A person's reading of this photo's caption, if one was recorded for exactly this
    caption; otherwise "not yet read" (the caption changed since, or nobody read it)."""
    read = readings.get(name)
    if not read or read["caption"] != caption:
        return NOT_YET_READ
    verdict = "**acceptable** as alt text" if read["acceptable"] else "**not acceptable**"
    return f"{verdict}: {read['why']} <br><small>read by {read['by']}, {read['on']}</small>"


def tally(readings: dict[str, dict], best: dict[str, str]) -> str:
    """How many of the captions shown a person has read, and accepted."""
    read = [name for name, caption in best.items() if reading(readings, name, caption)
            != NOT_YET_READ]
    accepted = sum(readings[name]["acceptable"] for name in read)
    return (f"A person has read {len(read)} of the {len(best)} best captions below and would "
            f"accept {accepted} of them as alt text.")


def gallery(service, images: Path, shown: dict[str, tuple[Callable, Photo]],
            readings: dict[str, dict]) -> str:
    rows = ["| photo | what it shows (a person's words) | the model says (guidance on, as "
            "served) | a person's reading | the machine's checks |",
            "|---|---|---|---|---|"]
    best_of = {}
    for name, (load, photo) in shown.items():
        array = load()
        data = jpeg(array)
        guided = service.caption_bytes(data, CaptionOptions())
        (images / f"{name}.jpg").write_bytes(jpeg(array, THUMBNAIL, guided.objects))
        plain = service.caption_bytes(data, CaptionOptions(guidance=False))
        best = best_of[name] = guided.captions[0].text
        said = "<br>".join(f"{'**' if i == 0 else ''}{c.text}{'**' if i == 0 else ''} "
                           f"({c.score:.2f})" for i, c in enumerate(guided.captions))
        labels = ", ".join(f"{label.noun} ({label.name}, {label.score:.2f})"
                           for label in guided.labels[:3]) or "none above 0.05"
        guide = f"guided by *{guided.guided_by}*" if guided.guided_by else "not guided"
        found = ", ".join(f"{o.name} ({o.score:.2f})" for o in guided.objects) or "none"
        said += (f"<br>labels: {labels}; {guide}<br>objects: {found}"
                 f"<br>without guidance: *{plain.captions[0].text}*")
        rows.append(f"| ![{photo.shows}](gallery/{name}.jpg){{ width=200 }}<br>"
                    f"<small>{photo.credit}</small> | {photo.shows} | {said} | "
                    f"{reading(readings, name, best)} | {machine_checks(best, photo)} |")
    return tally(readings, best_of) + "\n\n" + "\n".join(rows)


METRIC_ROWS = (("val", "Flickr8k val (1,094 photos)", "on (default)"),
               ("val_unguided", "Flickr8k val", "off"),
               ("val_without_objects", "Flickr8k val, without the detector (an empty bag)",
                "on (default)"),
               ("val_without_objects_unguided", "Flickr8k val, without the detector", "off"),
               ("coco_dev", "coco-dev (80 everyday COCO photos, out of domain)", "on (default)"),
               ("coco_dev_unguided", "coco-dev", "off"),
               ("coco_dev_without_objects", "coco-dev, without the detector (an empty bag)",
                "on (default)"),
               ("coco_dev_without_objects_unguided", "coco-dev, without the detector", "off"))


def metrics_table(metrics: dict) -> str:
    rows = ["| set | guidance | encoder | BLEU-1 | BLEU-4 | CIDEr-D | names the subject | "
            "CHAIR-s | CHAIR-i | invented scenes | broken sentences | sentence faults | "
            "invented places |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label, guidance in METRIC_ROWS:
        m = metrics.get(key)
        if not m:
            continue
        invents = (f"{m['chair_s']:.1f} % | {m['chair_i']:.1f} % | {m['invented_scenes']:.1f} % "
                   f"| {m['broken_sentences']} of {m['images']}" if "chair_s" in m
                   else "| | |")
        encoder = m.get("encoder", "").replace("onnxruntime ", "")
        judged = (f"{m['sentence_faults']:.1f} % | {m['invented_places']:.1f} %"
                  if "sentence_faults" in m else " | ")
        rows.append(f"| {label} | {guidance} | {encoder} | {m['bleu1']:.2f} | "
                    f"{m['bleu4']:.2f} | {m['cider_d']:.2f} | {m['names_subject']:.1f} % | "
                    f"{invents} | {judged} |")
    return "\n".join(rows + notes_below(metrics))


def notes_below(metrics: dict) -> list[str]:
    """coco-dev's halves, and the held-out COCO photos' faults, under the table."""
    notes = []
    halves = (metrics.get("coco_dev") or {}).get("halves")
    if halves:
        said = [f"{half.upper()} ({m['images']} photos) CIDEr-D {m['cider_d']:.2f}, names the "
                f"subject {m['names_subject']:.1f} %, CHAIR-s {m['chair_s']:.1f} %"
                for half, m in halves.items()]
        notes.append("\ncoco-dev by halves (guidance on; A, the even ids, is where choices are "
                     "tuned, B only reports): " + "; ".join(said) + ".")
    people = [f"{label} {m['wrong_gender']:.1f} % and {m['wrong_age']:.1f} % of the photos "
              f"whose references agree on it ({m['gender_judged']} and {m['age_judged']}), "
              f"{m['unbacked_numbers']:.1f} % of captions ({m['numbers_unbacked']} of the "
              f"{m['numbers_said']} that say a number)"
              for key, label in (("val", "Flickr8k val"), ("coco_dev", "coco-dev"))
              if "unbacked_numbers" in (m := metrics.get(key) or {})]
    if people:
        notes.append("\nWho and how many (guidance on; caption.metrics.gender, .age and .counts): "
                     "the wrong gender and the wrong age, and a number no reference says: "
                     + "; ".join(people) + ".")
    held, unguided = metrics.get("coco_held_out"), metrics.get("coco_held_out_unguided")
    if held:
        notes.append(f"\n{held['photos']} uncaptioned COCO photos held out of training (no "
                     f"references: faults only): sentence faults {held['sentence_faults']:.1f} "
                     f"% and {held['broken_sentences']} broken sentences guided"
                     + (f", {unguided['sentence_faults']:.1f} % and "
                        f"{unguided['broken_sentences']} unguided" if unguided else "") + ".")
    return notes


def presence_table(metrics: dict) -> str:
    """The detector's presence precision and recall on coco-dev, per class
    (metrics.coco_dev.detector_presence, written by `make evaluate`)."""
    found = (metrics.get("coco_dev") or {}).get("detector_presence")
    if not found:
        return "*No figures: run `make evaluate` with ../shared/coco-dev.*"
    lines = [f"At the listing threshold {found['threshold']}: precision **{found['precision']}**"
             f", recall **{found['recall']}** over all classes.", "",
             "| class | found | listed but absent | missed |", "|---|---|---|---|"]
    for name, row in sorted(found["per_class"].items(),
                            key=lambda kv: -(kv[1]["found"] + kv[1]["missed"])):
        lines.append(f"| {name} | {row['found']} | {row['false']} | {row['missed']} |")
    return "\n".join(lines)


# Columns of the tables of settings measured one at a time: (heading, set, figure, format).
_CIDER, _PERCENT, _COUNT = "{:.2f}", "{:.1f} %", "{}"
OBJECT_COLUMNS = (("coco-dev CIDEr-D", "coco_dev", "cider_d", _CIDER),
                  ("coco-dev names the subject", "coco_dev", "names_subject", _PERCENT),
                  ("coco-dev CHAIR-s", "coco_dev", "chair_s", _PERCENT),
                  ("val BLEU-4", "val", "bleu4", _CIDER), ("val CIDEr-D", "val", "cider_d", _CIDER),
                  ("val names the subject", "val", "names_subject", _PERCENT),
                  ("val CHAIR-s", "val", "chair_s", _PERCENT))

def variants_table(tuning: dict | None, command: str, columns, note: str = "") -> str:
    """A table of settings changed one at a time, as a tuning command stored it."""
    if not tuning:
        return f"*No figures: run `{command}`.*"
    lines = [f"By `{tuning['command']}` ({tuning['encoder']} encoder, guidance on{note}):", "",
             "| setting | " + " | ".join(heading for heading, *_ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for row in tuning["variants"]:
        cells = [form.format(row[part][figure]) for _, part, figure, form in columns]
        lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tuning_table(detector: dict) -> str:
    """The detector's caption settings (detector.tuning)."""
    return variants_table(detector.get("tuning"),
                          "python -m caption.train.stages.tune_objects --write", OBJECT_COLUMNS)


def _share(value: float | None) -> str:
    """A share in percent, or a dash where the figures predate it."""
    return "–" if value is None else f"{value:.1f} %"


def ablations_table(metrics: dict) -> str:
    """Each of the one captioner's rules off alone (metrics.rule_ablations, written by
    `python -m caption.metrics.ablations --write`)."""
    rows = metrics.get("rule_ablations")
    if not rows:
        return "*No figures: run `python -m caption.metrics.ablations --write`.*"
    lines = ["By `python -m caption.metrics.ablations --write` (guidance on, beam 3):", "",
             "| variant | coco-dev CIDEr-D | names the subject | CHAIR-s | sentence faults | "
             "invented places | captions changed | val BLEU-4 | CIDEr-D | CHAIR-s | "
             "sentence faults | wrong gender | wrong age | captions changed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        dev, val = row["coco_dev"], row["val"]
        lines.append(f"| {name} | {dev['cider_d']:.2f} | {dev['names_subject']:.1f} % | "
                     f"{dev['chair_s']:.1f} % | {dev['sentence_faults']:.1f} % | "
                     f"{dev['invented_places']:.1f} % | {dev.get('changed_captions', '')} | "
                     f"{val['bleu4']:.2f} | {val['cider_d']:.2f} | {val['chair_s']:.1f} % | "
                     f"{val['sentence_faults']:.1f} % | {_share(val.get('wrong_gender'))} | "
                     f"{_share(val.get('wrong_age'))} | {val.get('changed_captions', '')} |")
    return "\n".join(lines)


def decoding_table(config: dict) -> str:
    """Every decoding setting the bundle serves with, and where it came from
    (caption.model.decoding.DecodingConfig), with the default settings."""
    decoding = DecodingConfig.from_bundle({name: config.get(name)
                                           for name in DECODING_SECTIONS})
    lines = ["| setting | value | from |", "|---|---|---|"]
    for name, entry in decoding.describe().items():
        value = json.dumps(entry["value"]).replace("|", "\\|")
        lines.append(f"| `{name}` | `{value}` | {entry['from']} |")
    return "\n".join(lines)


def training_summary(config: dict) -> str:
    """How each trained part came to be, from the histories model.json keeps (training)."""
    training = config["training"]
    history = training["history"]
    kept = max(history, key=lambda row: row["bleu4"])
    lines = [f"- **Cross-entropy**: {len(history)} epochs in {history[-1]['elapsed_s'] / 60:.0f} "
             f"minutes; epoch {kept['epoch']} kept (the best val BLEU-4 on the feature cache, "
             f"{kept['bleu4']:.2f}; CIDEr-D {kept['cider_d']:.2f})."]
    scst = training.get("self_critical")
    if scst:
        first, chosen = scst["history"][0], scst["selected"]
        lines.append(f"- **Self-critical**: val BLEU-4 {first['bleu4']:.2f} → "
                     f"{chosen['bleu4']:.2f} and CIDEr-D {first['cider_d']:.2f} → "
                     f"{chosen['cider_d']:.2f} at epoch {chosen['epoch']} (the step kept), "
                     f"{scst['history'][-1]['elapsed_s'] / 60:.0f} minutes in all.")
    distillation = training.get("distillation")
    if distillation:
        steps = distillation["history"]
        lines.append(f"- **Distillation**: {distillation['batches']} batches in "
                     f"{steps[-1]['elapsed_s'] / 60:.0f} minutes; divergence from the teacher "
                     f"on int8 features {steps[0]['kl_int8']:.5f} → {steps[-1]['kl_int8']:.5f}.")
    one = training.get("one_captioner")
    if one:
        data, record = one["data"], one["record"]
        lines.append(
            f"- **One captioner**: started from that decoder; {data['flickr_photos']:,} "
            f"Flickr8k photos, {data['sentences']:,} coco-text sentences and "
            f"{data['coco_photos_with_pseudo_captions']:,} uncaptioned COCO photos with "
            f"retrieved sentences ({data['coco_photos_held_out']} more held out), a vocabulary "
            f"of {data['vocabulary']:,} words; epoch {one['checkpoint_epoch']} kept (greedy val "
            f"CIDEr-D {record['val_cider_d']:.2f}, coco-dev A {record['dev_a_cider_d']:.2f}).")
        scst = one.get("self_critical") or {}
        if scst.get("selected"):
            chosen = scst["selected"]
            everyday = ""
            if "everyday" in chosen:
                checked = chosen["everyday"]
                everyday = (
                    f"; every {scst['config']['everyday_every']}rd batch uncaptioned COCO "
                    f"photos rewarded by their bags ({concept_weights(scst['concept_reward'])}"
                    f"); of the {checked['photos']} COCO photos kept out to check on, "
                    f"{checked['names_absent_class']:.0f} % of captions name a COCO class "
                    f"their bag lacks, {checked['names_found_class']:.0f} % one it holds")
            lines.append(f"- **Its self-critical stage**: val (first {scst['config']['val_limit']}"
                         f" photos) BLEU-4 {chosen['bleu4']:.2f} and CIDEr-D "
                         f"{chosen['cider_d']:.2f} at the step kept{everyday}.")
    return "\n".join(lines)


def concept_weights(weights: dict) -> str:
    """caption.train.stages.concept_reward's weights, in words."""
    return (f"+{weights['named_bonus']} for each class found that a caption names, "
            f"{weights['most_named']} at most; -{weights['absent_penalty']} for each COCO class "
            f"named that the bag lacks; {weights['pseudo_weight']} of its CIDEr-D against the "
            f"photo's retrieved sentences")


def generated(text: str, marker: str) -> str | None:
    """What stands between a page's `marker` markers (what `fill` wrote), or None."""
    start, end = re.escape(START.format(marker)), re.escape(END.format(marker))
    found = re.search(start + r"\n(.*?)\n" + end, text, re.S)
    return found.group(1) if found else None


def fill(text: str, marker: str, body: str) -> str:
    start, end = START.format(marker), END.format(marker)
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"the page has no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/gallery.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    parser.add_argument("--coco-dev", type=Path, default=COCO_DEV,
                        help="coco-dev, for the everyday scenes (default: %(default)s)")
    args = parser.parse_args(argv)
    shown = photos(args.coco_dev)
    settings = Settings.from_env()
    service, timings = load_service(settings, warm_up=False)
    images = args.docs / "gallery"
    images.mkdir(parents=True, exist_ok=True)
    page = args.docs / "model-card.md"
    config = json.loads((settings.model_dir / "model.json").read_text())
    text = fill(page.read_text(), "gallery",
                gallery(service, images, shown, load_readings(images / "readings.json")))
    text = fill(text, "metrics", metrics_table(config["metrics"]))
    text = fill(text, "presence", presence_table(config["metrics"]))
    text = fill(text, "tuning", tuning_table(config.get("detector") or {}))
    text = fill(text, "rule-ablations", ablations_table(config["metrics"]))
    text = fill(text, "decoding", decoding_table(config))
    text = fill(text, "training", training_summary(config))
    text = fill(text, "model", f"The bundled model: `{config['name']}` {config['version']}, "
                               f"served below by {timings['encoder']} (encoder), "
                               f"{timings['decoder']} (decoder), {timings['grounding']} "
                               f"(grounding) and {timings.get('detector', 'off')} (objects), "
                               "with whole sentences, grounding and objects on as by default, "
                               "as on the machine that ran `make gallery`.")
    page.write_text(text)
    print(f"wrote {page} and {len(shown)} photos in {images}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
