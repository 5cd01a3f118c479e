"""How well the detector tells which COCO classes a photo holds: presence precision and recall
against a data set's object annotations (coco-dev's objects.tsv), overall and per class. A class
counts as found when the detector lists it at the serving threshold, whatever its boxes."""

from __future__ import annotations


def presence(found: dict[str, set[str]], annotated: dict[str, set[str]]) -> dict:
    """found, annotated: per photo, the classes listed and the classes it holds."""
    counts: dict[str, list[int]] = {}  # class -> [true positives, false positives, misses]
    for photo, truth in annotated.items():
        listed = found.get(photo, set())
        for name in listed | truth:
            row = counts.setdefault(name, [0, 0, 0])
            row[0 if name in listed and name in truth else 1 if name in listed else 2] += 1
    hits, false, missed = (sum(row[i] for row in counts.values()) for i in range(3))
    return {
        "precision": round(hits / max(hits + false, 1), 3),
        "recall": round(hits / max(hits + missed, 1), 3),
        "per_class": {name: {"found": row[0], "false": row[1], "missed": row[2]}
                      for name, row in sorted(counts.items())},
    }
