"""The S3 metadata contract: what we write into a captioned object's user metadata.

  caption               best caption (ASCII)
  caption-score         its score, 0..1 (see the API's score)
  caption-model         name@version of the model that wrote it; also the idempotency key
  caption-alternatives  the other captions, best first, separated by " | " (dropped first when
                        space is short)
  caption-labels        what the image classifier sees, most probable first, separated by "; ",
                        each "name (noun) score": "Egyptian Mau (cat) 0.8906; tabby cat (cat)
                        0.0612" (dropped next)
  caption-objects       the detector's objects, best first, separated by "; ", each "name score
                        left,top,width,height" in the upright image's pixels: "person 0.61
                        8,9,361,503; cup 0.47 166,22,245,237"; at most OBJECTS_KEPT of them,
                        then fewer as space needs (dropped last, before the caption itself)

S3 limits user metadata to 2 KB, counting the UTF-8 bytes of every key and value; the user's own
entries are kept as they are and ours must fit beside them.
"""

from __future__ import annotations

import unicodedata

from caption.model.captioner import Caption
from caption.model.labels import Label
from caption.model.objects import DetectedObject

USER_METADATA_LIMIT = 2048
CAPTION = "caption"
SCORE = "caption-score"
MODEL = "caption-model"
ALTERNATIVES = "caption-alternatives"
LABELS = "caption-labels"
OBJECTS = "caption-objects"
OUR_KEYS = (CAPTION, SCORE, MODEL, ALTERNATIVES, LABELS, OBJECTS)
DROPPED_FIRST = (ALTERNATIVES, LABELS)  # what gives way, in order, when space is short
OBJECTS_KEPT = 20  # a crowd's hundred boxes would crowd out the user's own metadata


class MetadataFull(Exception):
    """The user's metadata leaves no room for even the best caption."""


def metadata_size(metadata: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())


def to_ascii(text: str) -> str:
    """S3 metadata travels in HTTP headers: keep it printable ASCII (accents are stripped)."""
    plain = unicodedata.normalize("NFKD", " ".join(text.split()))
    plain = plain.encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if 32 <= ord(ch) < 127).strip()


def labels_value(labels: list[Label]) -> str:
    return "; ".join(f"{to_ascii(label.name)} ({to_ascii(label.noun)}) {label.score:.4f}"
                     for label in labels)


def objects_value(objects: list[dict]) -> str:
    """objects as DetectedObject.to_json lays them out (the CLI's records hold that too)."""
    return "; ".join(f"{to_ascii(o['name'])} {o['score']:.2f} {o['box']['left']},"
                     f"{o['box']['top']},{o['box']['width']},{o['box']['height']}"
                     for o in objects)


def caption_metadata(existing: dict[str, str], captions: list[Caption], model_id: str,
                     labels: list[Label] | None = None,
                     objects: list[DetectedObject] | None = None) -> dict[str, str]:
    """The object's new user metadata: the user's entries unchanged, ours added or replaced."""
    if not captions:
        raise ValueError("no caption to write")
    kept = {k: v for k, v in existing.items() if k not in OUR_KEYS}
    ours = {CAPTION: to_ascii(captions[0].text), SCORE: f"{captions[0].score:.4f}",
            MODEL: to_ascii(model_id)}
    alternatives = " | ".join(to_ascii(c.text) for c in captions[1:])
    merged = {**kept, **ours}
    if alternatives:
        merged[ALTERNATIVES] = alternatives
    if labels:
        merged[LABELS] = labels_value(labels)
    found = [o.to_json() for o in (objects or [])[:OBJECTS_KEPT]]
    if found:
        merged[OBJECTS] = objects_value(found)
    for optional in DROPPED_FIRST:
        if metadata_size(merged) > USER_METADATA_LIMIT:
            merged.pop(optional, None)
    while metadata_size(merged) > USER_METADATA_LIMIT and found:
        found.pop()  # the least confident give way first
        merged[OBJECTS] = objects_value(found)
        if not found:
            merged.pop(OBJECTS)
    if metadata_size(merged) > USER_METADATA_LIMIT:
        raise MetadataFull(f"the object's own metadata uses {metadata_size(kept)} of S3's "
                           f"{USER_METADATA_LIMIT} bytes; no room for a caption")
    return merged
