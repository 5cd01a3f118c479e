"""What a caption says that is not so, and sentences that are not whole: the measures the
evaluation reports beside BLEU and CIDEr-D.

- **CHAIR** (Rohrbach et al., EMNLP 2018, "Object Hallucination in Image Captioning"): an object
  mention is hallucinated when its COCO class (caption.metrics.subjects: whole phrases, so "hot
  dog" is not a dog) is in no reference caption of the photo and not among its annotated objects
  (where the data set has them: coco-dev's objects.tsv). CHAIR-i is the share of mentions that
  are, CHAIR-s the share of captions with at least one.
- **Invented scenes**: the share of captions that put the subject in a place (grass, water,
  snow, ...) that no reference caption mentions, by groups of words for the same place.
- **Broken sentences**: a caption that repeats itself (a word twice in a row, or a phrase of
  two or more words with a content word in it, twice) or ends on a word that needs a
  continuation (an article, preposition, conjunction, auxiliary or describing word), judged
  with caption.metrics.faults' word lists, not the ones the decoding rules keep to.
"""

from __future__ import annotations

from pathlib import Path

from caption.metrics.faults import REPEATABLE, dangling_end
from caption.metrics.subjects import classes_named, mentions
from caption.text import normalize

# Places, each with the words people use for it.
SCENES = {
    "grass": "grass grassy lawn field fields meadow",
    "water": "water lake river pool ocean sea waves wave stream pond creek",
    "snow": "snow snowy",
    "beach": "beach sand sandy shore",
    "street": "street streets road sidewalk city",
    "mountain": "mountain mountains hill hills cliff",
    "forest": "forest woods",
    "park": "park",
}
SCENE_WORDS = {word: scene for scene, words in SCENES.items() for word in words.split()}


def scenes_named(text: str) -> set[str]:
    return {SCENE_WORDS[word] for word in normalize(text).split() if word in SCENE_WORDS}


def broken(text: str) -> str | None:
    """Why a caption is not a whole sentence ("repeats ...", "ends on ..."), or None."""
    words = normalize(text).split()
    if not words:
        return "is empty"
    for a, b in zip(words, words[1:], strict=False):
        if a == b:
            return f"repeats '{a}'"
    seen: dict[tuple[str, ...], int] = {}
    for n in (4, 3, 2):
        for i in range(len(words) - n + 1):
            phrase = tuple(words[i:i + n])
            if not set(phrase) - REPEATABLE:
                continue  # "in a ... in a" is how sentences go
            if phrase in seen and seen[phrase] + n <= i:
                return f"repeats '{' '.join(phrase)}'"
            seen.setdefault(phrase, i)
    return dangling_end(words)


def read_objects(path: Path) -> dict[str, set[str]]:
    """`FILE<TAB>class,class,...` (coco-dev's objects.tsv): each photo's annotated classes."""
    objects = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        name, _, classes = line.partition("\t")
        if name:
            objects[name] = {c.strip() for c in classes.split(",") if c.strip()}
    return objects


def hallucination(predictions: dict[str, str], references: dict[str, list[str]],
                  objects: dict[str, set[str]] | None = None) -> dict:
    """The measures above over a set of captions (one per image), as percentages and counts."""
    mentioned = hallucinated = captions_hallucinating = invented_scene = broken_count = 0
    for image, caption in predictions.items():
        truth = set().union(*(classes_named(r) for r in references[image]))
        truth |= (objects or {}).get(image, set())
        said = mentions(caption)
        wrong = [cls for cls in said if cls not in truth]
        mentioned += len(said)
        hallucinated += len(wrong)
        captions_hallucinating += bool(wrong)
        places = set().union(*(scenes_named(r) for r in references[image]))
        invented_scene += bool(scenes_named(caption) - places)
        broken_count += broken(caption) is not None
    total = max(len(predictions), 1)
    return {"chair_s": round(100 * captions_hallucinating / total, 1),
            "chair_i": round(100 * hallucinated / max(mentioned, 1), 1),
            "invented_scenes": round(100 * invented_scene / total, 1),
            "broken_sentences": broken_count,
            "object_annotations": objects is not None}
