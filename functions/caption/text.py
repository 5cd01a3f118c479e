"""Caption text normalisation, shared by training, scoring and the vocabulary.

One rule everywhere: lowercase, keep only letters, digits and spaces, split on whitespace. The
model is trained on exactly the tokens it is scored on, so nothing is lost between the two.
"""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^a-z0-9\s]")


def tokenize(text: str) -> list[str]:
    return _NOT_WORD.sub("", text.lower()).split()


def normalize(text: str) -> str:
    return " ".join(tokenize(text))
