"""Guided captions: make the caption name what the classifier is confident the photo shows.

The decoder learned Flickr8k's world (people and dogs outdoors); shown a cup of coffee it
describes a man and a dog, while the ImageNet classifier on the same features says "espresso"
with 89 %. Picking a beam candidate that mentions "coffee" does not help: the beam never proposes
words the decoder rarely saw. Instead the word is required, and the decoder decides where it goes:

- Constrained beam search (Anderson et al., EMNLP 2017; caption.model.search) keeps two beams,
  captions that do not contain the word yet and captions that do; a caption moves from the first
  to the second by choosing the required word, and the second's captions are the ones returned
  (the first's only where none could be formed). The result is the decoder's most probable
  sentence that contains the word, so it reads as its others do.
- Nouns outside the decoder's vocabulary (zebra, broccoli, clock) are written with an in-vocabulary
  proxy used in the same places (horse, food, sign): the sentence is planned around the proxy and
  the proxy replaced by the noun afterwards, as the placeholder of the Decoupled Novel Object
  Captioner (Wu et al., ECCV 2018) is filled from a detector.
- A noun of two words the decoder can spell ("teddy bear", "hot dog") is required as its first
  word, which its last must then follow: "teddy" is followed by "bear".

This module chooses the noun and spells it; when a caption is guided, and with which rules, is
caption.model.decoding's.
"""

from __future__ import annotations

from dataclasses import dataclass

from caption.model.labels import LabelModel
from caption.model.objects import COCO_CLASSES
from caption.model.vocabulary import Vocabulary
from caption.model.words import NOT_GUIDING_OBJECTS, article_for, plural


@dataclass(frozen=True)
class Guide:
    """One noun to put into the caption: the tokens that satisfy it, and how to write them."""

    noun: str
    score: float  # the classifier's summed probability for the noun
    tokens: frozenset[int]  # any of these satisfies the constraint (singular, plural)
    spelled: dict[int, str]  # token -> text to write for it (the noun where a proxy stood)
    # A noun of two words the decoder spells itself ("teddy bear"): `tokens` are its first
    # word's, which only these (its last word's, singular or plural) may follow; after "a",
    # only `then_singular`.
    then: frozenset[int] = frozenset()
    then_singular: frozenset[int] = frozenset()

    def render(self, tokens: tuple[int, ...], vocab: Vocabulary) -> str:
        words = vocab.decode(tokens).split()
        ids = [t for t in tokens if t not in (vocab.start, vocab.pad, vocab.end)]
        out: list[str] = []
        for word, token in zip(words, ids, strict=True):
            text = self.spelled.get(token, word)
            if text != word and out and out[-1] in ("a", "an"):
                out[-1] = article_for(text)  # "a elephant" -> "an elephant"
            out.append(text)
        return " ".join(out)


def choose_guide(labels: LabelModel, scores: dict[str, float], vocab: Vocabulary,
                 threshold: float, novel_threshold: float | None = None) -> Guide | None:
    """The most probable guide noun, if its classes together reach `threshold`; for nouns the
    decoder cannot write itself (those written through a proxy), `novel_threshold` if given:
    the unguided decoder never names them, so the caption otherwise lacks them whatever the
    classifier's confidence. scores: LabelModel.noun_scores of the image."""
    candidates = sorted(((s, n) for n, s in scores.items() if n in labels.guide_nouns),
                        reverse=True)
    if not candidates:
        return None
    score, noun = candidates[0]
    # A proxy only for a noun outside this decoder's vocabulary (the one captioner's holds
    # COCO's nouns: written through a proxy, "a clock with a clock on it" is two clocks; and
    # beside its own words, "a traffic light with a traffic light").
    proxied = noun in labels.proxies and not spells(noun, vocab)
    needed = threshold
    if novel_threshold is not None and proxied:
        needed = novel_threshold
    if score < needed:
        return None
    return spelled_guide(noun, labels.proxies[noun] if proxied else noun, score, vocab)


def spelled_guide(noun: str, written: str, score: float, vocab: Vocabulary) -> Guide | None:
    """The guide that writes `noun` as the decoder plans `written` (itself, or a proxy); a
    noun of two words the decoder spells as its first word, then its last."""
    words = written.split()
    if len(words) == 2:
        tokens, then = vocab.ids_of(words[:1]), vocab.ids_of((words[1], plural(words[1])))
        if not tokens or not then:
            return None
        return Guide(noun, score, tokens, {t: vocab.words[t] for t in tokens}, then,
                     vocab.ids_of(words[1:]))
    forms = {written: noun, plural(written): plural(noun)}
    tokens = {vocab.ids[w]: text for w, text in forms.items() if w in vocab.ids}
    return Guide(noun, score, frozenset(tokens), tokens) if tokens else None


def object_words(grounding, vocab: Vocabulary, labels: LabelModel | None
                 ) -> dict[str, tuple[str, str]]:
    """Per COCO class the caption can be steered to name: (the noun to write, the word the
    decoder plans with), from the grounding's concept words ("dining table": table), else the
    class's own name where the decoder knows it, else the classifier's proxy for it ("pizza"
    written where the decoder plans "food")."""
    out = {}
    concepts = grounding.words if grounding is not None else {}
    proxies = labels.proxies if labels is not None else {}
    for name in COCO_CLASSES:
        if name in NOT_GUIDING_OBJECTS:
            continue
        known = [w for w in concepts.get(name, []) if w in vocab.ids]
        if known:
            out[name] = (known[0], known[0])
        elif spells(name, vocab):
            out[name] = (name, name)
        elif name in proxies and proxies[name] in vocab.ids:
            out[name] = (name, proxies[name])
    return out


def spells(noun: str, vocab: Vocabulary) -> bool:
    """Whether the decoder can write `noun` itself: one word, or two ("traffic light")."""
    words = noun.split()
    return len(words) <= 2 and all(word in vocab.ids for word in words)


def object_guide(words: dict[str, tuple[str, str]], best: dict[str, float], threshold: float,
                 vocab: Vocabulary) -> Guide | None:
    """The most confidently detected object the caption can name, as a guide, if its score
    reaches `threshold` (nocaps' constrained beam search on detector tags). best: the
    detector's best score per class (caption.model.objects.Detections.best_scores)."""
    candidates = sorted(((score, name) for name, score in best.items()
                         if name in words and score >= threshold), reverse=True)
    if not candidates:
        return None
    score, name = candidates[0]
    noun, written = words[name]
    return spelled_guide(noun, written, score, vocab)
