"""The sentence writer: a language model of everyday captions that speaks from concepts.

The image decoder learned its words from Flickr8k alone, people and dogs outdoors; shown a
kitchen it has no word for the oven. There are no more captioned photos to be had here, but
there is text: coco-text's 24,219 captions of everyday COCO photos. This stage trains, on text
alone, a small LSTM that writes a caption from a bag of concepts (the COCO object classes and
kinds of place of caption.train.stages.grounding), as in unsupervised captioning (Feng et al., CVPR
2019: a concept detector and a sentence corpus, no pairs). At serving the bag is what the photo
gives evidence of: the detector's objects and the grounded places (caption.model.writer).

What a sentence is trained from is what a detector would report of its photo: the concepts the
sentence names, always (it may name only what it is given), and those the photo's other
captions name, each kept at random (a detector sees more than one caption mentions; the
model learns to choose among them), now and then one more at random (a detector's false
alarm). Flickr8k's training captions are read too, so its people and dogs keep their phrasing.
Everything COCO: credit "Microsoft COCO" (CC BY 4.0), as the model card does.

    python -m caption.train.stages.writer --model layers/model [--max-minutes 20]

writes writer.safetensors (the checkpoint, for export; not shipped), the two int8 graphs
writer_start.onnx and writer_step.onnx, and model.json's `writer` section.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from caption.metrics.datasets import read_flickr_tsv, read_split
from caption.metrics.subjects import CLASS_WORDS
from caption.model.bundle import PART_KEY, STAMP_KEY, read_config, write_config
from caption.model.vocabulary import Vocabulary
from caption.text import tokenize
from caption.train.export.simplify import simplify_graph
from caption.train.stages.grounding import concept_words, named_concepts

FLICKR = Path("../shared/flickr8k")
COCO_TEXT = Path("../shared/coco-text/captions.tsv")
CHECKPOINT = "writer.safetensors"
START_GRAPH, STEP_GRAPH = "writer_start.onnx", "writer_step.onnx"
COMMAND = "python -m caption.train.stages.writer --model"
MAX_WORDS = 20
MIN_COUNT = 4  # words seen fewer times are <unk>: 4 keeps coco-text's "broccoli" and "hydrant"
KEEP_OTHER = 0.5  # the chance a concept only the photo's other captions name is in the bag
FALSE_ALARM = 0.1  # the chance of one concept no caption of the photo names
HELD_OUT = 0.05  # the share of photos whose captions measure the model, not train it
# Serving's settings (caption.model.writer), measured by caption.train.stages.tune_writer on
# coco-dev and Flickr8k val (the model card's writer table): the writer describes photos whose
# subject fewer than 20 Flickr8k training photos name (100: coco-dev CIDEr-D +1.3, val CHAIR-s +0.7
# points, BLEU-4 -0.4); places grounding finds stay out of its bag (in: coco-dev CIDEr-D +3.8,
# invented places +5.0 points: Flickr8k's place detectors see beaches in coffee cups).
MIN_DECODER_PHOTOS = 20
GROUNDED_PLACES = False


@dataclass(frozen=True)
class WriterConfig:
    embed_dim: int = 192
    hidden_dim: int = 384
    dropout: float = 0.3


class ConceptWriter(nn.Module):
    """Words and the bag's embedding in, the next word out; the bag also sets the first state.
    Trained over whole sentences with nn.LSTM; `step` is the same arithmetic one word at a time,
    written out so that it exports as a handful of matrix products."""

    def __init__(self, words: int, concepts: int, config: WriterConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(words, config.embed_dim)
        self.bag = nn.Linear(concepts, config.embed_dim)
        self.init = nn.Linear(config.embed_dim, 2 * config.hidden_dim)
        self.lstm = nn.LSTM(2 * config.embed_dim, config.hidden_dim, batch_first=True)
        self.out = nn.Linear(config.hidden_dim, words)
        self.drop = nn.Dropout(config.dropout)

    def start(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, concepts) 0/1 -> the first h and c (N, hidden), and the bag's embedding."""
        vector = torch.tanh(self.bag(bag))
        h, c = torch.tanh(self.init(vector)).chunk(2, dim=1)
        return h.contiguous(), c.contiguous(), vector

    def forward(self, bag: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: (N, concepts), (N, T) ids from <start> -> (N, T, words) logits."""
        h, c, vector = self.start(bag)
        words = self.drop(self.embed(tokens))
        inputs = torch.cat([words, self.drop(vector)[:, None].expand(-1, words.shape[1], -1)], 2)
        hidden, _ = self.lstm(inputs, (h[None], c[None]))
        return self.out(self.drop(hidden))

    def step(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
             vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One word per row (B,), the state (B, hidden), the bag's embedding (1 or B, embed)
        -> (B, words) log-probabilities and the next state."""
        x = torch.cat([self.embed(tokens), vector.expand(tokens.shape[0], -1)], 1)
        gates = (x @ self.lstm.weight_ih_l0.T + self.lstm.bias_ih_l0
                 + h @ self.lstm.weight_hh_l0.T + self.lstm.bias_hh_l0)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.log_softmax(self.out(h), dim=1), h, c


@dataclass(frozen=True)
class Sentence:
    tokens: list[str]
    named: frozenset[str]  # the concepts it names
    photo_named: frozenset[str]  # the concepts any caption of its photo names


def read_sentences(photos: dict[str, list[str]]) -> list[Sentence]:
    out = []
    for captions in photos.values():
        photo_named = frozenset(named_concepts(captions))
        for caption in captions:
            tokens = tokenize(caption)
            if 0 < len(tokens) <= MAX_WORDS:
                out.append(Sentence(tokens, frozenset(named_concepts([caption])), photo_named))
    return out


def split_photos(photos: dict[str, list[str]], seed: int
                 ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    names = sorted(photos)
    random.Random(seed).shuffle(names)
    held = set(names[:round(HELD_OUT * len(names))])
    return ({n: photos[n] for n in names if n not in held},
            {n: photos[n] for n in names if n in held})


def bag_of(sentence: Sentence, concepts: list[str], rng: random.Random) -> set[str]:
    """What a detector might report of the sentence's photo (the module docstring)."""
    bag = set(sentence.named)
    bag |= {c for c in sorted(sentence.photo_named - sentence.named) if rng.random() < KEEP_OTHER}
    if rng.random() < FALSE_ALARM:
        bag.add(rng.choice(concepts))
    return bag


def batches(sentences: list[Sentence], vocabulary: Vocabulary, concepts: list[str], size: int,
            rng: random.Random, shuffle: bool = True):
    index = {c: i for i, c in enumerate(concepts)}
    order = list(range(len(sentences)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        chosen = [sentences[i] for i in order[start:start + size]]
        bags = torch.zeros(len(chosen), len(concepts))
        for row, sentence in enumerate(chosen):
            bag = bag_of(sentence, concepts, rng) if shuffle else sentence.photo_named
            bags[row, [index[c] for c in bag]] = 1.0
        encoded = [vocabulary.encode(s.tokens) for s in chosen]
        longest = max(len(e) for e in encoded)
        ids = torch.full((len(chosen), longest), vocabulary.pad, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, :len(e)] = torch.tensor(e)
        yield bags, ids[:, :-1], ids[:, 1:]


def mean_loss(model: ConceptWriter, sentences: list[Sentence], vocabulary: Vocabulary,
              concepts: list[str]) -> float:
    """Cross-entropy per word on held-out sentences, each given its photo's whole bag."""
    model.eval()
    total = words = 0.0
    with torch.inference_mode():
        for bags, inputs, targets in batches(sentences, vocabulary, concepts, 512,
                                             random.Random(0), shuffle=False):
            logits = model(bags, inputs)
            total += nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                 ignore_index=vocabulary.pad,
                                                 reduction="sum").item()
            words += (targets != vocabulary.pad).sum().item()
    model.train()
    return total / max(words, 1)


def train(sentences: list[Sentence], held: list[Sentence], vocabulary: Vocabulary,
          concepts: list[str], config: WriterConfig, epochs: int, max_minutes: float,
          seed: int) -> tuple[ConceptWriter, list[dict]]:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = ConceptWriter(len(vocabulary), len(concepts), config)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.8)
    began = time.monotonic()
    best, best_state, history = float("inf"), None, []
    for epoch in range(1, epochs + 1):
        for bags, inputs, targets in batches(sentences, vocabulary, concepts, 128, rng):
            logits = model(bags, inputs)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                               ignore_index=vocabulary.pad)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        schedule.step()
        held_loss = mean_loss(model, held, vocabulary, concepts)
        elapsed = round(time.monotonic() - began)
        history.append({"epoch": epoch, "held_out_loss": round(held_loss, 4),
                        "elapsed_s": elapsed})
        print(f"epoch {epoch}: held-out loss {held_loss:.4f} per word, {elapsed} s", flush=True)
        if held_loss < best:
            best, best_state = held_loss, {k: v.clone() for k, v in model.state_dict().items()}
        if elapsed > 60 * max_minutes:
            break
    model.load_state_dict(best_state)
    return model.eval(), history


def weights_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(model: ConceptWriter, concepts: int, directory: Path, stamp: str) -> None:
    """The start and step graphs, their matrices int8 (dynamic quantization), stamped."""
    import onnx

    from caption.train.export.quantize import quantize_weights

    class Start(nn.Module):
        def __init__(self):
            super().__init__()
            self.writer = model

        def forward(self, bag):
            return self.writer.start(bag)

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.writer = model

        def forward(self, tokens, h, c, vector):
            return self.writer.step(tokens, h, c, vector)

    hidden, embed = model.config.hidden_dim, model.config.embed_dim
    graphs = {
        "writer_start": (Start(), (torch.zeros(1, concepts),), ["bag"],
                         ["h", "c", "vector"], {"bag": {0: "n"}}),
        "writer_step": (Step(), (torch.zeros(2, dtype=torch.long), torch.zeros(2, hidden),
                                 torch.zeros(2, hidden), torch.zeros(1, embed)),
                        ["tokens", "h", "c", "vector"], ["log_probs", "h_out", "c_out"],
                        {"tokens": {0: "b"}, "h": {0: "b"}, "c": {0: "b"},
                         "log_probs": {0: "b"}, "h_out": {0: "b"}, "c_out": {0: "b"}}),
    }
    for part, (module, args, inputs, outputs, axes) in graphs.items():
        plain = directory / f"{part}.float32.onnx"
        with torch.inference_mode():
            torch.onnx.export(module, args, str(plain), input_names=inputs,
                              output_names=outputs, dynamic_axes=axes, opset_version=17,
                              dynamo=False)
        target = directory / f"{part}.onnx"
        quantize_weights(plain, target)
        plain.unlink()
        graph = onnx.load(str(target))
        for key, value in ((PART_KEY, part), (STAMP_KEY, stamp)):
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(target))
        target.chmod(0o644)
        simplify_graph(target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("layers/model"))
    parser.add_argument("--flickr", type=Path, default=FLICKR)
    parser.add_argument("--coco-text", type=Path, default=COCO_TEXT)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-minutes", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export-only", action="store_true",
                        help="export the checkpoint already beside model.json, untrained again")
    args = parser.parse_args(argv)

    flickr = read_flickr_tsv(args.flickr / "captions.tsv")
    train_names = read_split(args.flickr / "splits" / "train.txt")
    coco = read_flickr_tsv(args.coco_text)
    coco_train, coco_held = split_photos(coco, args.seed)
    sentences = (read_sentences(coco_train)
                 + read_sentences({n: flickr[n] for n in train_names if n in flickr}))
    held = read_sentences(coco_held)
    vocabulary = Vocabulary.build((s.tokens for s in sentences), MIN_COUNT)
    concepts = list(concept_words())
    print(f"{len(sentences)} sentences, {len(held)} held out, {len(vocabulary)} words, "
          f"{len(concepts)} concepts", flush=True)
    config = WriterConfig()
    checkpoint = args.model / CHECKPOINT
    if args.export_only:
        from safetensors.torch import load_file

        model = ConceptWriter(len(vocabulary), len(concepts), config)
        model.load_state_dict(load_file(str(checkpoint)))
        model.eval()
        history = (read_config(args.model).writer or {}).get("training", {}).get("history", [])
    else:
        model, history = train(sentences, held, vocabulary, concepts, config, args.epochs,
                               args.max_minutes, args.seed)
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(checkpoint))
    stamp = weights_digest(checkpoint)
    export(model, len(concepts), args.model, stamp)
    counts = Counter(c for s in sentences for c in s.named)
    # How many Flickr8k training photos name each class: the image decoder's experience of it,
    # by which serving chooses who describes a photo (caption.model.writer).
    decoder_photos = Counter(c for n in train_names if n in flickr
                             for c in named_concepts(flickr[n]) if c in CLASS_WORDS)
    decoder_words = Counter(word for n in train_names if n in flickr
                            for word in {w for caption in flickr[n] for w in tokenize(caption)})
    bundle = read_config(args.model)
    section = {
        "vocabulary": vocabulary.words, "concepts": concepts,
        "concept_words": concept_words(), "weights_sha256": stamp,
        "embed_dim": config.embed_dim, "hidden_dim": config.hidden_dim,
        "decoder_photos": dict(decoder_photos.most_common()),
        "decoder_words": {word: decoder_words[word] for word in vocabulary.words
                          if decoder_words[word]},
        "min_decoder_photos": MIN_DECODER_PHOTOS, "grounded_places": GROUNDED_PLACES,
        "training": {
            "data": [str(args.coco_text), str(args.flickr / "captions.tsv")],
            "provenance": "coco-text: Microsoft COCO captions (Lin et al., 2014; CC BY 4.0), "
                          "text only; Flickr8k training captions",
            "sentences": len(sentences), "held_out_sentences": len(held),
            "min_count": MIN_COUNT, "keep_other": KEEP_OTHER, "false_alarm": FALSE_ALARM,
            "seed": args.seed, "history": history,
            "concept_sentences": dict(counts.most_common()),
        },
    }
    if args.export_only:  # the same weights: what was measured of them (tuning) still holds
        section = {**(bundle.writer or {}), **section}
    write_config(args.model, bundle.with_changes(
        writer=section,
        graphs=dataclasses.replace(bundle.graphs, writer_start=START_GRAPH,
                                   writer_step=STEP_GRAPH)))
    print(f"wrote {checkpoint}, {START_GRAPH}, {STEP_GRAPH} and model.json's writer section")


if __name__ == "__main__":
    main()
