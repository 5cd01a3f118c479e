"""The training pipeline on a handful of Flickr8k images (skipped without ../shared), and the
dataset readers and scoring on synthetic files (always)."""

from __future__ import annotations

import json
import math
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


@needs_flickr
def test_training_lowers_the_loss_resumes_and_writes_a_loadable_bundle(tmp_path):
    from caption.train.__main__ import parse_args
    from caption.train.export.bundle import export_bundle
    from caption.train.stages.trainer import train

    out = tmp_path / "bundle"
    args = ["--images", str(FLICKR / "images"), "--captions", str(FLICKR / "captions.tsv"),
            "--train-split", str(FLICKR / "splits/train.txt"),
            "--val-split", str(FLICKR / "splits/val.txt"), "--limit", "16",
            "--images-per-batch", "4", "--work-dir", str(tmp_path / "work"), "--out", str(out),
            "--min-word-count", "1", "--patience", "10", "--val-beam-size", "1"]
    first = train(parse_args([*args, "--epochs", "2"]))
    resumed = train(parse_args([*args, "--epochs", "4", "--resume"]))
    losses = [epoch["train_loss"] for epoch in resumed["history"]]
    assert [epoch["epoch"] for epoch in resumed["history"]] == [1, 2, 3, 4]
    assert resumed["history"][:2] == first["history"]  # epochs 1-2 were not re-run
    assert losses[-1] < losses[0]
    export_bundle(out, photos=None)  # as `make train` does last: the graphs serving runs
    model = load_model(out)
    config = json.loads((out / "model.json").read_text())
    assert config["training"]["train_images"] == 16
    assert Path(config["training"]["data"][0]).name == "captions.tsv"
    assert model.caption(Image.new("RGB", (64, 64)), 2, 2, 5)


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


def test_photos_without_captions_are_judged_on_faults(tmp_path, tiny_bundle, photos):
    """`--photos DIR --names FILE`: every listed photo captioned, and the fault share and
    broken count are those of its captions (as --predictions writes them)."""
    import shutil

    from caption.metrics.evaluate import main
    from caption.metrics.faults import fault
    from caption.metrics.hallucination import broken

    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in photos.items():
        (folder / f"{name}.jpg").write_bytes(data)
    (tmp_path / "names.txt").write_text("chelsea.jpg\nastronaut.jpg\ncoffee.jpg\n")
    main(["--model", str(bundle), "--photos", str(folder), "--names",
          str(tmp_path / "names.txt"), "--beam-size", "2", "--guidance", "off",
          "--predictions", str(tmp_path / "said.json"), "--write", "held_out"])
    said = json.loads((tmp_path / "said.json").read_text())
    stored = json.loads((bundle / "model.json").read_text())["metrics"]["held_out"]
    assert set(said) == {"chelsea.jpg", "astronaut.jpg", "coffee.jpg"}
    assert stored["photos"] == 3
    faulty = [text for text in said.values() if fault(text) is not None]
    assert stored["sentence_faults"] == round(100 * len(faulty) / 3, 1)
    assert stored["broken_sentences"] == sum(bool(broken(text)) for text in said.values())


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


def test_self_critical_training_raises_the_reward_it_samples(tiny_bundle):
    """On a toy task (half the images are "a cat sits on the grass", half "the dog sits"), a few
    SCST steps make the sampled captions earn more CIDEr-D; the decoder ends holding the best val
    weights."""
    import torch

    from caption.train.networks.weights import load_torch_model
    from caption.train.stages.scst import ScstConfig, sample_captions, self_critical

    model = load_torch_model(tiny_bundle)
    decoder, vocab = model.decoder.train(), model.vocabulary
    torch.manual_seed(0)
    features = torch.rand(12, 4, 1280).numpy()
    names = [f"{i}.jpg" for i in range(12)]
    features[::2, :, :8] += 3.0  # the "cat" images look different from the "dog" ones
    captions = {n: ["a cat sits on the grass" if i % 2 == 0 else "the dog sits"] * 5
                for i, n in enumerate(names)}
    tokens, log_probs = sample_captions(decoder, torch.from_numpy(features[:2]), vocab, 3, 6)
    assert tokens.shape[0] == 6 and log_probs.requires_grad
    ended = (tokens == vocab.end).cumsum(1) > 0
    assert (tokens[ended & (tokens != vocab.end)] == vocab.pad).all()  # nothing after <end>
    summary = self_critical(decoder, vocab, features, names, captions, features[:4], names[:4],
                            captions, ScstConfig(epochs=30, images_per_batch=6, max_words=6,
                                                 learning_rate=3e-3, evaluate_every=20,
                                                 average_best=0, samples_per_image=4))
    rewards = [r["mean_reward"] for r in summary["history"] if r["mean_reward"] is not None]
    assert rewards[-1] > rewards[0]
    assert summary["selected"]["cider_d"] == max(r["cider_d"] for r in summary["history"])


def test_the_seed_baseline_runs_the_seed_pipeline(photos):
    """bench/baseline.py answers as the seed app's inference() did: three (sentence, score)."""
    from bench.baseline import SeedPipeline, transform_image

    pixels = transform_image(photos["chelsea"])
    assert pixels.shape == (1, 3, 224, 224)
    assert pixels.mean().abs() < 2  # ImageNet-normalised
    captions = SeedPipeline()(photos["chelsea"])
    assert len(captions) == 3
    assert all(isinstance(text, str) and score >= 0 for text, score in captions)


def test_distillation_brings_the_decoder_on_int8_features_nearer_the_teacher(tiny_bundle,
                                                                            tmp_path, photos):
    """The real distillation stage on real photos: it builds both encoder graphs, and the
    student's divergence from the teacher on int8 features falls; the bundle is saved with the
    new decoder, its history and version, and its graphs are then stale until exported."""
    import shutil

    import torch

    from caption.model.bundle import BundleError
    from caption.train.networks.weights import load_torch_model, save_bundle
    from caption.train.stages.distill import DistillConfig, distill

    directory = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, directory)
    images = tmp_path / "images"
    images.mkdir()
    names = []
    for name, data in photos.items():
        (images / f"{name}.jpg").write_bytes(data)
        names.append(f"{name}.jpg")
    captions = tmp_path / "captions.tsv"
    captions.write_text("".join(f"{n}#0\ta cat sits on the grass\n{n}#1\tthe dog sits\n"
                                for n in names))
    split = tmp_path / "train.txt"
    split.write_text("\n".join(names))
    # A random decoder's next-word distributions are nearly uniform whatever it reads; sharpen
    # them, so that the int8 encoder's differences change them as a trained decoder's.
    teacher = load_torch_model(directory)
    with torch.no_grad():
        teacher.decoder.project[0].weight.mul_(8.0)
        teacher.decoder.out.weight.mul_(8.0)
    save_bundle(directory, "efficientnet-lite0", teacher.encoder, teacher.decoder,
                teacher.vocabulary, teacher.preprocess, teacher.info)
    before = load_torch_model(directory).decoder.state_dict()  # as stored
    summary = distill(directory, images, [captions], split,
                      DistillConfig(epochs=30, images_per_batch=2, learning_rate=3e-3),
                      version="distilled")
    int8 = [record["kl_int8"] for record in summary["history"] if "kl_int8" in record]
    batches = 30 * math.ceil(len(names) / 2)  # 30 epochs of 2 photos a batch
    assert summary["batches"] == batches and int8[-1] < int8[0] / 2
    after = load_torch_model(directory)
    assert after.info.version == "distilled"
    assert after.info.training["distillation"]["batches"] == batches
    assert any(not torch.equal(before[k], v) for k, v in after.decoder.state_dict().items())
    with pytest.raises(BundleError, match="stale"):
        load_model(directory)


# --- the one captioner's first stage (not serving yet: docs/development.md) ---------------

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


def stage_config(tiny_evidence, out: Path, epochs: int, resume: bool = False,
                 hold_out: int = 0):
    from caption.train.stages.one_captioner import StageConfig

    root = tiny_evidence["root"]
    return StageConfig(root, out, epochs=epochs, captions_per_batch=8, min_word_count=1,
                       learning_rate=3e-3, drop_regions=0.0, hidden_dim=32, embed_dim=16,
                       attention_dim=16, resume=resume, hold_out=hold_out,
                       flickr_captions=root / "flickr.tsv",
                       coco_text=root / "coco-text.tsv",
                       coco_dev_captions=root / "coco-dev.tsv")


def test_the_one_captioner_stage_learns_and_resumes(tiny_evidence, tmp_path):
    """Cross-entropy on photos, sentences and pseudo-captioned photos: the loss falls, a
    resumed run goes on from its checkpoint, and the best epoch is kept."""
    import torch

    from caption.train.stages.one_captioner import run

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
    # The kept epoch is a decoder that reads regions and a bag, and greedy decoding of a cat
    # photo from its checkpoint says something.
    from caption.model.vocabulary import Vocabulary
    from caption.train.networks.concept_decoder import ConceptConfig, ConceptDecoder

    saved = torch.load(out / "best.pt", weights_only=False)
    decoder = ConceptDecoder(ConceptConfig.from_json(saved["config"]))
    decoder.load_state_dict(saved["decoder"])
    assert saved["epoch"] in range(1, 6) and Vocabulary(saved["vocabulary"]).words


def test_the_one_captioner_never_trains_on_its_held_out_photos(tiny_evidence, tmp_path):
    """The last uncaptioned COCO photos are held out, for counting sentence faults on photos
    the captioner never saw: none gets a pseudo-caption, and the run lists them."""
    from caption.train.stages.one_captioner import run

    out = tmp_path / "held"
    run(stage_config(tiny_evidence, out, 1, hold_out=1))
    summary = json.loads((out / "history.json").read_text())["summary"]
    assert summary["coco_photos_with_pseudo_captions"] == 0
    assert summary["coco_photos_held_out"] == 1
    assert (out / "held_out.txt").read_text().split() == ["COCO_train2014_000000000007.jpg"]


def test_self_critical_training_of_the_one_captioner_reads_each_photos_bag(tiny_evidence,
                                                                          tmp_path):
    """The one captioner's self-critical stage samples from each photo with its bag (cats and
    dogs differ in their bags here): the sampled reward rises, and the refined checkpoint is
    one the export reads."""
    from caption.train.networks.concept_decoder import load_checkpoint
    from caption.train.stages.one_captioner import run
    from caption.train.stages.refine_captioner import refine_captioner
    from caption.train.stages.scst import ScstConfig

    out = tmp_path / "run"
    run(stage_config(tiny_evidence, out, 1))
    root = tiny_evidence["root"]
    summary = refine_captioner(out / "best.pt", root, out / "refined.pt", root / "flickr.tsv",
                               ScstConfig(epochs=24, images_per_batch=4, max_words=7,
                                          learning_rate=3e-3, evaluate_every=24,
                                          average_best=0, samples_per_image=4))
    rewards = [r["mean_reward"] for r in summary["history"] if r["mean_reward"] is not None]
    assert rewards[-1] > rewards[0]
    _, vocabulary, saved = load_checkpoint(out / "refined.pt")
    assert saved["self_critical"]["selected"] == summary["selected"]
    assert vocabulary.words == load_checkpoint(out / "best.pt")[1].words


def test_the_concept_reward_pays_for_found_classes_and_charges_for_absent_ones():
    """A sample of an uncaptioned photo earns for naming what the detector found (at most
    `most_named` classes), loses for naming a class with no slot in the bag, and adds CIDEr-D
    against its pseudo-captions."""
    from caption.model.bag import Slot
    from caption.train.stages.concept_reward import ConceptReward, ConceptWeights, concept_score

    bag = (Slot("cat", 0.8, 1), Slot("couch", 0.6, 1), Slot("tv", 0.7, 1), Slot("cup", 0.25, 1))
    weights = ConceptWeights(named_bonus=0.2, absent_penalty=0.5, most_named=2)
    assert concept_score("a cat on a couch".split(), bag, weights) == pytest.approx(0.4)
    assert concept_score("a cat on a couch by a tv".split(), bag, weights) == pytest.approx(0.4)
    assert concept_score("a cat with a cup".split(), bag, weights) == pytest.approx(0.2)
    assert concept_score("a dog on a couch".split(), bag, weights) == pytest.approx(-0.3)
    reward = ConceptReward({"p.jpg": bag, "q.jpg": bag},
                           {"p.jpg": ["a cat sleeping on a couch"], "q.jpg": [],
                            "r.jpg": ["a dog runs in a park"], "s.jpg": ["a red bus"]}, weights)
    with_text, without = reward.scores([("p.jpg", "a cat sleeping on a couch".split()),
                                        ("q.jpg", "a cat sleeping on a couch".split())])
    assert without == pytest.approx(0.4)
    assert with_text > without


def test_self_critical_training_mixes_in_everyday_photos_rewarded_by_their_bags(tiny_evidence,
                                                                               tmp_path):
    """With --everyday-every, every Nth batch is uncaptioned photos rewarded by their bags; the
    history records that reward and how captions of the kept-out check photos agree with their
    bags, and the checkpoint says which weights rewarded it."""
    import shutil

    from caption.train.stages.one_captioner import run
    from caption.train.stages.refine_captioner import refine_captioner
    from caption.train.stages.scst import ScstConfig

    root = tmp_path / "evidence"
    shutil.copytree(tiny_evidence["root"], root)
    shutil.rmtree(root / "coco5k")
    coco = [f"COCO_train2014_{i:012d}.jpg" for i in range(10, 18)]
    write_evidence(root / "coco5k", coco, [[15], [16]] * 4, 480, 4)
    out = tmp_path / "run"
    run(stage_config({"root": root}, out, 1))
    summary = refine_captioner(out / "best.pt", root, out / "refined.pt", root / "flickr.tsv",
                               ScstConfig(epochs=6, images_per_batch=4, max_words=7,
                                          learning_rate=3e-3, evaluate_every=6,
                                          average_best=0, samples_per_image=4,
                                          everyday_every=2),
                               held_out=0, coco_text=root / "coco-text.tsv", check_photos=2)
    history = summary["history"]
    assert [r["everyday"]["photos"] for r in history] == [2] * len(history)
    assert all(0 <= r["everyday"]["names_absent_class"] <= 100 for r in history)
    assert [r["epoch"] for r in history] == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert all("mean_everyday_reward" in r for r in history[1:])
    import torch

    saved = torch.load(out / "refined.pt", weights_only=False)
    assert saved["self_critical"]["concept_reward"]["absent_penalty"] == 0.3


def test_the_one_captioner_can_start_from_a_trained_image_decoder():
    """Warm start: the shared weights and the rows of the words both vocabularies hold are the
    trained decoder's, so with an empty bag a shared word's logit starts where it was."""
    import torch

    from caption.train.networks.attention_decoder import AttentionDecoder, DecoderConfig
    from caption.train.networks.concept_decoder import ConceptConfig, ConceptDecoder, warm_start

    torch.manual_seed(0)
    source_words = ["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "runs"]
    words = ["<pad>", "<start>", "<end>", "<unk>", "a", "cat", "runs", "sofa"]
    source = AttentionDecoder(DecoderConfig(len(source_words), 12, 8, 16, 8))
    decoder = ConceptDecoder(ConceptConfig(DecoderConfig(len(words), 12, 8, 16, 8), 5))
    assert warm_start(decoder, source, source_words, words) == 6  # specials, "a", "runs"
    assert torch.equal(decoder.project[0].weight, source.project[0].weight)
    assert torch.equal(decoder.cell.weight_hh, source.cell.weight_hh)
    assert torch.equal(decoder.embed.weight[6], source.embed.weight[6])  # "runs"
    assert torch.equal(decoder.out.bias[4], source.out.bias[4])  # "a"
    assert not torch.equal(decoder.embed.weight[5], source.embed.weight[5])  # cat is not dog
    hidden = torch.randn(2, 16)
    decoder.eval(), source.eval()  # no dropout
    shared = [0, 1, 2, 3, 4, 6]
    assert torch.allclose(decoder.logits(hidden)[:, shared],
                          source.logits(hidden)[:, [0, 1, 2, 3, 4, 6]])


def test_a_sentence_bag_holds_what_it_names_and_a_photos_false_alarms():
    import random

    from caption.model.bag import Slot
    from caption.train.stages.bags import detector_errors, retrieve, sentence_bag

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


def test_an_aligned_bag_holds_what_its_captions_name_where_serving_would_name_it():
    """A dog the captions name but the detector missed, and a ball it saw only faintly, are
    found at a score serving names them at; a faint chair nobody names stays faint; "orange"
    (a colour as often as not) names no class. A sentence's bag likewise, when aligned."""
    import random

    from caption.model.bag import COUNT_SCORE, Slot
    from caption.train.stages.bags import (
        aligned_bag,
        barred_classes_named,
        detector_errors,
        sentence_bag,
    )

    errors = detector_errors([(Slot("dog", 0.25, 1), Slot("person", 0.9, 1))],
                             [["a dog runs", "a man and his dog"]])
    assert min(errors.named_scores) < COUNT_SCORE  # the faint dog: what aligning lifts
    captions = ["a man in an orange shirt throws a ball to his dog", "a dog plays"]
    named = set().union(*map(barred_classes_named, captions))
    assert named == {"person", "sports ball", "dog"}
    rng = random.Random(0)
    for _ in range(20):
        bag = aligned_bag((Slot("sports ball", 0.22, 1), Slot("chair", 0.21, 1)), named,
                          errors, rng)
        scores = {slot.concept: slot.score for slot in bag}
        assert scores.keys() == {"person", "sports ball", "dog", "chair"}
        assert all(scores[name] >= COUNT_SCORE for name in named)
        assert scores["chair"] == 0.21
        lifted = sentence_bag("a dog on a chair", [], errors, rng, aligned=True)
        assert all(slot.score >= COUNT_SCORE for slot in lifted
                   if slot.concept in {"dog", "chair"})


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
