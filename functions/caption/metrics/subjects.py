""""Names the subject": does the best caption name what the people who described the photo named?

The object classes are COCO's 80 (Lin et al., 2014), each with the words people use for it
(person: man, woman, boy, people, ...). An image's subjects are the classes that at least 3 of its
5 human captions name; the caption names the subject if it names any of them. Images whose
captions agree on no class are left out of the share (their count is reported beside it).
"""

from __future__ import annotations

from caption.model.classes import classes_named

AGREEING_REFERENCES = 3


def subjects(references: list[str]) -> set[str]:
    """The classes that at least 3 of the references name."""
    counts: dict[str, int] = {}
    for reference in references:
        for cls in classes_named(reference):
            counts[cls] = counts.get(cls, 0) + 1
    return {cls for cls, n in counts.items() if n >= AGREEING_REFERENCES}


def names_subject(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """Share (%) of images with agreed subjects whose caption names one of them."""
    judged = hits = 0
    for image, caption in predictions.items():
        wanted = subjects(references[image])
        if not wanted:
            continue
        judged += 1
        hits += bool(wanted & classes_named(caption))
    return {"names_subject": round(100 * hits / judged, 1) if judged else None,
            "images_with_subject": judged}
