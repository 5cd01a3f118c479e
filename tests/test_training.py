"""The training pipeline on a handful of Flickr8k images (skipped without ../shared), and the
dataset readers and scoring on synthetic files (always)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caption.metrics.datasets import read_captions
from caption.metrics.scoring import score_captions
from caption.model.loader import load_model
from tests.conftest import REPO

FLICKR = REPO.parent / "shared" / "flickr8k"
needs_flickr = pytest.mark.skipif(not (FLICKR / "captions.tsv").exists(),
                                  reason="../shared/flickr8k is not here")


def test_flickr_and_coco_caption_files_read_alike(tmp_path):
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("a.jpg#0\tA dog runs .\na.jpg#1\tA brown dog .\nb.jpg#0\tTwo cats\n")
    coco = tmp_path / "captions_train.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [{"image_id": 1, "id": 10, "caption": "A dog runs ."},
                        {"image_id": 1, "id": 11, "caption": "A brown dog ."},
                        {"image_id": 2, "id": 12, "caption": "Two cats"}]}))
    assert read_captions(tsv) == read_captions(coco) == {
        "a.jpg": ["A dog runs .", "A brown dog ."], "b.jpg": ["Two cats"]}


def test_scoring_normalises_both_sides():
    refs = {"x": ["A dog runs across the green grass .", "A dog is running"]}
    perfect = score_captions({"x": "a DOG runs across the green-grass"}, refs)
    assert perfect["bleu4"] < 100  # "greengrass" is not "green grass"
    exact = score_captions({"x": "A dog runs, across the green grass!"}, refs)
    assert exact["bleu1"] == pytest.approx(100, abs=0.01)
    assert exact["bleu4"] == pytest.approx(100, abs=0.01)


def write_evidence(folder: Path, names: list[str], classes: list[list[int]], channels: int,
                   seed: int) -> None:
    """What caption.train.stages.photo_evidence writes, for made-up photos: each photo's
    regions say which of two kinds it is, and its peaks find `classes` at 0.8."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    regions = rng.normal(0, 0.1, (len(names), 100, channels)).astype(np.float16)
    boxes = np.tile(np.array([0.1, 0.1, 0.6, 0.6], np.float16), (len(names), 100, 1))
    scores = np.zeros((len(names), 100), np.float16)
    labels = np.zeros((len(names), 100), np.uint8)
    for i, found in enumerate(classes):
        regions[i, :, i % 2] += 1.0
        for k, label in enumerate(found):
            scores[i, k], labels[i, k] = 0.8, label
            boxes[i, k] = [0.1 * k, 0.1, 0.1 * k + 0.3, 0.5]
    np.save(folder / "regions.npy", regions)
    np.savez(folder / "peaks.npz", boxes=boxes, scores=scores, classes=labels)
    np.save(folder / "probabilities.npy",
            rng.dirichlet(np.ones(1000), len(names)).astype(np.float16))
    (folder / "names.txt").write_text("\n".join(names) + "\n")


@pytest.fixture(scope="module")
def tiny_evidence(tmp_path_factory) -> dict:
    """A made-up training set in the shapes the stage reads: cats and dogs (COCO classes 15
    and 16), their captions, coco-text sentences and a coco-dev of two photos."""
    root = tmp_path_factory.mktemp("evidence")
    kinds = [[15], [16]]  # cat, dog
    captions = {0: "a cat sits on the grass", 1: "the dog runs on the grass"}
    flickr = [f"f{i}.jpg" for i in range(8)]
    write_evidence(root / "flickr-train", flickr, [kinds[i % 2] for i in range(8)], 480, 0)
    write_evidence(root / "flickr-val", ["v0.jpg", "v1.jpg"], kinds, 480, 1)
    write_evidence(root / "coco5k", ["COCO_train2014_000000000007.jpg"], [[15]], 480, 2)
    dev = ["000000000002.jpg", "000000000003.jpg"]
    write_evidence(root / "coco-dev", dev, kinds, 480, 3)
    lines = [f"{name}#{k}\t{captions[i % 2]}" for i, name in
             enumerate([*flickr, "v0.jpg", "v1.jpg"]) for k in range(2)]
    (root / "flickr.tsv").write_text("\n".join(lines) + "\n")
    (root / "coco-text.tsv").write_text("000000000001\ta cat sits on the grass\n"
                                        "000000000001\ta cat on the grass\n")
    (root / "coco-dev.tsv").write_text("\n".join(f"{n}#0\t{captions[i]}"
                                                 for i, n in enumerate(dev)) + "\n")
    return {"root": root, "captions": captions}


def stage_config(tiny_evidence, out: Path, epochs: int, resume: bool = False):
    from caption.train.stages.one_captioner import StageConfig

    root = tiny_evidence["root"]
    return StageConfig(root, out, epochs=epochs, captions_per_batch=8, min_word_count=1,
                       learning_rate=3e-3, drop_regions=0.0, hidden_dim=32, embed_dim=16,
                       attention_dim=16, resume=resume, flickr_captions=root / "flickr.tsv",
                       coco_text=root / "coco-text.tsv",
                       coco_dev_captions=root / "coco-dev.tsv")


def test_the_captioner_stage_learns_resumes_and_exports_a_bundle_that_serves(tiny_evidence,
                                                                           tmp_path):
    """Cross-entropy on photos, sentences and pseudo-captioned photos: the loss falls, a
    resumed run goes on from its checkpoint, and the best epoch, exported beside the shipped
    detector, serves."""
    import shutil

    from caption.model.bundle import read_config, write_config
    from caption.train.export.captioner import export
    from caption.train.stages.one_captioner import run
    from tests.conftest import SHIPPED

    out = tmp_path / "run"
    first = run(stage_config(tiny_evidence, out, 2))
    resumed = run(stage_config(tiny_evidence, out, 5, resume=True))
    assert [e["epoch"] for e in resumed["history"]] == [1, 2, 3, 4, 5]
    assert resumed["history"][:2] == first["history"]  # epochs 1-2 were not re-run
    losses = [e["train_loss"] for e in resumed["history"]]
    assert losses[-1] < losses[0]
    history = json.loads((out / "history.json").read_text())
    assert history["summary"]["coco_photos_with_pseudo_captions"] == 1
    assert history["summary"]["detector_errors"]["photos"] == 8
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shipped = read_config(SHIPPED)
    write_config(bundle, shipped.with_changes(labels=None, graphs=replace(
        shipped.graphs, labels=None, decoder_start=None, decoder_step=None)))
    shutil.copy(SHIPPED / shipped.graphs.detector, bundle / shipped.graphs.detector)
    config = export(out / "best.pt", bundle, version="test")
    assert config.training["epoch"] in range(1, 6) and "COCO" in config.training["provenance"]
    model = load_model(bundle)
    assert model.caption(Image.new("RGB", (64, 64)), 2, 2, 5)


def test_a_sentence_bag_holds_what_it_names_and_a_photos_false_alarms():
    import random

    from caption.train.stages.bags import Slot, detector_errors, retrieve, sentence_bag

    bags = [(Slot("dog", 0.6, 1), Slot("frisbee", 0.4, 1)), (Slot("person", 0.9, 2),)]
    captions = [["a dog runs", "a brown dog jumps"], ["a man walks", "two men walk"]]
    errors = detector_errors(bags, captions)
    assert errors.recall == 1.0 and errors.false_alarms == ((Slot("frisbee", 0.4, 1),), ())
    rng = random.Random(0)
    for _ in range(20):
        bag = sentence_bag("two cats on a couch", ["a cat on a sofa"], errors, rng)
        named = {slot.concept for slot in bag}
        assert {"cat", "couch"} <= named and named <= {"cat", "couch", "frisbee"}
        assert all(slot.count == 2 for slot in bag if slot.concept == "cat")
    grouped = {frozenset({"cat"}): ["a cat"], frozenset({"cat", "couch"}): ["a cat on a couch"],
               frozenset({"dog"}): ["a dog"]}
    found = retrieve((Slot("cat", 0.8, 1), Slot("couch", 0.5, 1)), grouped, rng)
    assert found == ["a cat on a couch", "a cat"]  # the most of the bag first, never a dog


@needs_flickr
def test_evaluate_scores_a_split_and_stores_the_figures(tmp_path, tiny_bundle, capsys):
    import shutil

    from caption.metrics.evaluate import main

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    main(["--model", str(bundle), "--limit", "4", "--beam-size", "2", "--write", "val_smoke"])
    printed = json.loads(capsys.readouterr().out.split("\nstored as")[0])
    written = (bundle / "model.json").read_text()
    stored = json.loads(written)["metrics"]["val_smoke"]
    assert stored == {k: v for k, v in printed.items() if k != "seconds_per_image"}
    assert stored["images"] == 4 and stored["beam_size"] == 2
    assert {"bleu1", "bleu2", "bleu3", "bleu4", "cider_d", "distinct_captions"} <= set(stored)
    # The same model scored again: model.json is left as it was (no timings stored).
    main(["--model", str(bundle), "--limit", "4", "--beam-size", "2", "--write", "val_smoke"])
    assert (bundle / "model.json").read_text() == written


def test_cider_d_matches_pycocoevalcap():
    """The fast reward is the same CIDEr-D the scores are reported in."""
    from caption.metrics.cider import CiderD
    from caption.text import tokenize

    refs = {"a": ["A dog runs on the grass .", "A brown dog is running", "dog running"],
            "b": ["Two cats sleep on a bed", "cats on a bed", "two kittens are sleeping"],
            "c": ["A man rides a bike", "a cyclist on a road", "a person riding a bicycle"]}
    predictions = {"a": "a dog runs on grass", "b": "two cats on a bed", "c": "a man on a bike"}
    reference = score_captions(predictions, refs)["cider_d"]
    cider = CiderD({k: [tokenize(r) for r in v] for k, v in refs.items()})
    mine = 100 * sum(cider.score(k, tokenize(v)) for k, v in predictions.items()) / 3
    assert mine == pytest.approx(reference, abs=0.01)


def test_the_seed_baseline_runs_the_seed_pipeline(photos):
    """bench/baseline.py answers as the seed app's inference() did: three (sentence, score)."""
    from bench.baseline import SeedPipeline, transform_image

    pixels = transform_image(photos["chelsea"])
    assert pixels.shape == (1, 3, 224, 224)
    assert pixels.mean().abs() < 2  # ImageNet-normalised
    captions = SeedPipeline()(photos["chelsea"])
    assert len(captions) == 3
    assert all(isinstance(text, str) and score >= 0 for text, score in captions)


def test_the_labels_head_learns_its_teacher_and_serves_in_the_bundle(tiny_evidence, tiny_bundle,
                                                                     tmp_path, photos):
    """Distilled from the teacher's probabilities, the head agrees with it more than chance,
    and exported beside the decoder it serves the labels, stamped with its own weights."""
    from caption.model.bundle import read_config
    from caption.train.stages import label_head
    from tests.conftest import copy_bundle

    head, figures = label_head.train(tiny_evidence["root"], epochs=3)
    assert figures["photos"] == 2 and 0 <= figures["top_class_agrees"] <= 1
    bundle = copy_bundle(tiny_bundle, tmp_path / "b")
    section = label_head.export(head, bundle, figures)
    config = read_config(bundle)
    assert config.graphs.labels == "labels.onnx" and len(section["classes"]) == 1000
    model = load_model(bundle)
    from caption.images import decode_image

    (described,) = model.describe([decode_image(photos["chelsea"], 40_000_000).image])
    assert all(label.noun for label in described.labels)
    assert model.runtime["labels"] == "onnxruntime"


def test_the_photos_are_read_once_as_serving_reads_them(tmp_path, photos):
    """photo_evidence caches what the shipped detector graph gives for each photo: the
    regions the decoder reads and the peaks its bag comes from."""
    from caption.train.stages.photo_evidence import PhotoReader, cache
    from tests.conftest import SHIPPED

    images = tmp_path / "images"
    images.mkdir()
    for name in ("chelsea", "astronaut"):
        (images / f"{name}.jpg").write_bytes(photos[name])
    out = cache(PhotoReader(SHIPPED, None), images, ["chelsea.jpg", "astronaut.jpg"],
                tmp_path / "ev")
    regions = np.load(out / "regions.npy")
    assert regions.shape == (2, 100, 480) and regions.dtype == np.float16
    peaks = np.load(out / "peaks.npz")
    assert peaks["scores"].shape == (2, 100)
    assert (out / "names.txt").read_text().split() == ["chelsea.jpg", "astronaut.jpg"]
    assert not (out / "chunks").exists()
