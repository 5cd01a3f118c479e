"""Labels from the encoder's ImageNet classifier and captions guided by them, on real photos and
the shipped bundle, through every surface a user sees (API, CLI, S3 metadata)."""

from __future__ import annotations

import json

import numpy as np
from fastapi.testclient import TestClient

import caption.app as app
from caption.images import decode_image
from caption.metadata import LABELS, USER_METADATA_LIMIT, caption_metadata, metadata_size
from caption.metrics.subjects import classes_named, names_subject, subjects
from caption.model.bag import bag_inputs
from caption.model.bundle import read_config
from caption.model.captioner import Caption
from caption.model.decoding import WordIds
from caption.model.guidance import Guide
from caption.model.labels import Label
from caption.model.loader import load_model
from caption.model.rules import RequireOneOf, Rules
from caption.model.search import search
from caption.model.words import NUMBER_WORDS, article_for, plural
from caption.train.networks.imagenet_labels import (
    GUIDE_NOUNS,
    class_names,
    class_nouns,
    labels_section,
)
from tests.conftest import SHIPPED
from tests.test_cli import run_cli


def describe(model, data: bytes, **options):
    return model.describe([decode_image(data, 40_000_000).image], **options)[0]


def test_the_cat_is_labelled_a_cat_and_its_caption_says_so(shipped, photos):
    result = describe(shipped, photos["chelsea"])
    assert result.labels and result.labels[0].noun == "cat"
    assert "cat" in result.labels[0].name.lower() or "mau" in result.labels[0].name.lower()
    assert result.guided_by == "cat"
    assert all("cat" in c.text.split() for c in result.captions)
    assert [label.score for label in result.labels] == sorted(
        (label.score for label in result.labels), reverse=True)
    assert len(result.labels) <= 5 and all(label.score >= 0.05 for label in result.labels)


def test_guidance_off_leaves_the_decoder_alone(shipped, photos):
    plain = describe(shipped, photos["chelsea"], guidance=False)
    assert plain.guided_by is None
    assert plain.labels == describe(shipped, photos["chelsea"]).labels
    assert [c.text for c in plain.captions] == [
        c.text for c in shipped.caption(decode_image(photos["chelsea"], 40_000_000).image)]


def test_a_noun_outside_the_vocabulary_is_written_through_its_proxy(shipped):
    section = json.loads((SHIPPED / "model.json").read_text())["labels"]
    ids = shipped.vocabulary.ids
    noun, proxy = next((noun, proxy) for noun, proxy in sorted(section["proxies"].items())
                       if noun not in ids and proxy in ids)  # one the decoder cannot spell
    guide = Guide(noun, 0.9, frozenset({shipped.vocabulary.ids[proxy]}),
                  {shipped.vocabulary.ids[proxy]: noun})
    features = np.random.default_rng(0).standard_normal((1, 49, 1280), dtype=np.float32)
    features = features.clip(min=0)
    if read_config(SHIPPED).bag is not None:  # the one captioner reads a bag beside them
        features = {"features": features, **bag_inputs(())}
    hypotheses = search(shipped.decoder, features, shipped.vocabulary,
                        Rules((RequireOneOf(noun, guide.tokens),)))
    assert hypotheses
    for hypothesis in hypotheses:
        text = guide.render(hypothesis.tokens, shipped.vocabulary)
        assert noun in text and proxy not in text.split()


def test_guided_search_always_contains_the_required_word(tiny_bundle):
    model = load_model(tiny_bundle)
    vocab = model.vocabulary
    features = model.encode(model.preprocess(
        decode_image(_png(), 40_000_000).image)[None]).regions
    for word in ("cat", "grass", "sits"):
        required = frozenset({vocab.ids[word]})
        found = search(model.decoder, features, vocab, Rules((RequireOneOf(word, required),)),
                       beam_size=3, num_captions=3, max_length=6)
        assert found
        assert all(vocab.ids[word] in h.tokens for h in found), word
        assert all(h.tokens[-1] == vocab.end or len(h.tokens) == 6 for h in found)


def test_articles_and_plurals_read_naturally():
    assert [plural(n) for n in ("cat", "bus", "strawberry", "knife", "sheep", "teddy bear")] == [
        "cats", "buses", "strawberries", "knives", "sheep", "teddy bears"]
    assert [article_for(w) for w in ("elephant", "zebra", "umbrella", "unicycle")] == [
        "an", "a", "an", "a"]
    vocab_words = ["<pad>", "<start>", "<end>", "<unk>", "a", "horse", "in", "field"]
    from caption.model.vocabulary import Vocabulary
    vocab = Vocabulary(vocab_words)
    guide = Guide("elephant", 0.9, frozenset({5}), {5: "elephant"})
    assert guide.render((4, 5, 6, 4, 7, 2), vocab) == "an elephant in a field"


def test_class_nouns_group_breeds_and_every_guide_noun_can_be_written(shipped):
    names, nouns = class_names(), class_nouns(class_names())
    assert len(names) == len(nouns) == 1000
    assert set(nouns[151:269]) == {"dog"} and set(nouns[281:286]) == {"cat"}
    assert nouns[names.index("espresso")] == "coffee"
    assert nouns[names.index("park bench")] == "bench"
    section = labels_section(shipped.vocabulary.words)
    for noun in section["guide_nouns"]:
        assert noun in GUIDE_NOUNS
        assert noun in shipped.vocabulary.ids or section["proxies"][noun] in shipped.vocabulary.ids
    assert "provenance" in section and "imagenet" in json.dumps(section["provenance"]).lower()


def test_the_api_returns_labels_and_accepts_the_guidance_option(photos):
    client = TestClient(app.api)
    response = client.post("/captions", files={"image": ("cat.jpg", photos["chelsea"])})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"][0]["noun"] == "cat"
    assert set(body["labels"][0]) == {"name", "noun", "score"}
    assert body["guided_by"] == "cat"
    off = client.post("/captions?guidance=false",
                      files={"image": ("cat.jpg", photos["chelsea"])}).json()
    assert off["guided_by"] is None and off["labels"] == body["labels"]
    bad = client.post("/captions?guidance=maybe", files={"image": ("cat.jpg", photos["chelsea"])})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_option"


def test_the_cli_json_lines_carry_labels_beside_captions(tmp_path, photos):
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(photos["chelsea"])
    result = run_cli("--json", str(cat))
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["labels"][0]["noun"] == "cat" and line["captions"]
    assert line["guided_by"] == "cat"


def test_s3_metadata_carries_labels_and_drops_them_before_the_caption():
    captions = [Caption("a cat sits on the grass", 0.5), Caption("a cat sits", 0.4)]
    labels = [Label("Egyptian Mau", "cat", 0.8906), Label("tabby cat", "cat", 0.0612)]
    meta = caption_metadata({}, captions, "m@1", labels)
    assert meta[LABELS] == "Egyptian Mau (cat) 0.8906; tabby cat (cat) 0.0612"
    full = {k: v for k, v in meta.items() if k != "caption-alternatives"}
    room = USER_METADATA_LIMIT - metadata_size(full) + len(meta[LABELS]) - 10 - len("notes")
    squeezed = caption_metadata({"notes": "n" * room}, captions, "m@1", labels)
    assert LABELS not in squeezed and "caption-alternatives" not in squeezed
    assert squeezed["caption"] == "a cat sits on the grass"
    assert metadata_size(squeezed) <= USER_METADATA_LIMIT


def test_names_the_subject_counts_agreed_classes_only():
    refs = {"a": ["A man rides a horse.", "a person on a pony", "rider and horse", "a horse",
                  "a field"],
            "b": ["a kitchen", "a room", "an oven", "a sink", "a tiled floor"]}
    assert subjects(refs["a"]) == {"horse", "person"}
    assert classes_named("two teddy bears on a bed") >= {"teddy bear", "bed"}
    score = names_subject({"a": "a horse in a field", "b": "a dog"}, refs)
    assert score == {"names_subject": 100.0, "images_with_subject": 1}
    assert names_subject({"a": "a dog in a field", "b": "x"}, refs)["names_subject"] == 0.0


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_object_noun_is_never_followed_by_what_only_living_things_do(tiny_bundle):
    """With "sits" declared animate, no guided caption has "cat sits" or "cat is sits"."""
    model = load_model(tiny_bundle)
    vocab = model.vocabulary
    features = model.encode(model.preprocess(decode_image(_png(), 40_000_000).image)[None]).regions
    cat, sits = vocab.ids["cat"], vocab.ids["sits"]
    guided = Rules((RequireOneOf("cat", frozenset({cat})),))
    free = search(model.decoder, features, vocab, guided, 5, 5, 6)
    ids = WordIds(vocab, NUMBER_WORDS)
    ids.animate_verbs = frozenset({sits})
    barred = search(model.decoder, features, vocab, guided.plus(*ids.thing_rules(frozenset({cat}))),
                    5, 5, 6)
    assert barred and all(cat in h.tokens for h in barred)
    for hypothesis in barred:
        pairs = list(zip(hypothesis.tokens, hypothesis.tokens[1:], strict=False))
        assert (cat, sits) not in pairs
    # ... which the unbarred search does write: the bar, not chance, keeps it out.
    assert any((cat, sits) in zip(h.tokens, h.tokens[1:], strict=False) for h in free)


def test_a_proxy_only_stands_for_a_noun_the_vocabulary_lacks():
    """The image decoder writes "zebra" through its proxy; a decoder whose vocabulary holds
    "zebra" (the one captioner's) writes it itself, so the proxy never doubles a noun."""
    from caption.model.guidance import choose_guide
    from caption.model.labels import LabelModel
    from caption.model.vocabulary import SPECIALS, Vocabulary

    section = json.loads((SHIPPED / "model.json").read_text())["labels"]
    labels = LabelModel.from_bundle(section)
    proxy = section["proxies"]["zebra"]
    lacking = Vocabulary([*SPECIALS, "a", proxy])
    holding = Vocabulary([*SPECIALS, "a", proxy, "zebra"])
    assert choose_guide(labels, {"zebra": 0.9}, lacking, 0.5).spelled == {
        lacking.ids[proxy]: "zebra"}
    assert choose_guide(labels, {"zebra": 0.9}, holding, 0.5).spelled == {
        holding.ids["zebra"]: "zebra"}


def test_a_noun_of_two_words_the_decoder_spells_is_guided_as_both_words():
    """"teddy bear": the caption must write "teddy", and "teddy" must be followed by "bear"
    or "bears"; no proxy stands for it, which beside the decoder's own "teddy bear" wrote the
    noun twice ("a small teddy bear is in a field with a teddy bear")."""
    from caption.model.guidance import choose_guide, object_guide, object_words
    from caption.model.labels import LabelModel
    from caption.model.vocabulary import SPECIALS, Vocabulary

    section = json.loads((SHIPPED / "model.json").read_text())["labels"]
    labels = LabelModel.from_bundle(section)
    vocab = Vocabulary([*SPECIALS, "a", "teddy", "bear", "bears", "toy"])
    guide = choose_guide(labels, {"teddy bear": 0.9}, vocab, 0.5)
    assert guide.tokens == {vocab.ids["teddy"]}
    assert guide.then == {vocab.ids["bear"], vocab.ids["bears"]}
    assert guide.then_singular == {vocab.ids["bear"]}
    assert guide.render((vocab.ids["a"], vocab.ids["teddy"], vocab.ids["bear"]),
                        vocab) == "a teddy bear"
    words = object_words(None, vocab, labels)
    assert words["teddy bear"] == ("teddy bear", "teddy bear")
    detected = object_guide(words, {"teddy bear": 0.8}, 0.5, vocab)
    assert detected.tokens == guide.tokens and detected.then == guide.then
