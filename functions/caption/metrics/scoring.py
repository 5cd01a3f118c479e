"""Caption metrics as pycocoevalcap computes them: BLEU-1..4 and CIDEr-D.

Both sides go through `caption.text.normalize` first (lowercase, letters, digits and spaces
only), the same rule the withheld test split is scored with; pycocoevalcap's Java tokenizer is
not used.
"""

from __future__ import annotations

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider

from caption.text import normalize


def score_captions(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """predictions: image -> best caption; references: image -> human captions."""
    if not predictions:
        raise ValueError("no predictions to score")
    res = {k: [normalize(v)] for k, v in predictions.items()}
    gts = {k: [normalize(r) for r in references[k]] for k in predictions}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    distinct = len(set(v[0] for v in res.values()))
    return {
        "images": len(res),
        **{f"bleu{n}": round(100 * b, 2) for n, b in enumerate(bleu, 1)},
        "cider_d": round(100 * float(cider), 2),
        "distinct_captions": distinct,
    }
