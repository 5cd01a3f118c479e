"""One captioner that reads both what the photo looks like and what was found in it.

The attention decoder (caption.train.networks.attention_decoder) attends over the backbone's
regions; here its memory also holds one slot per concept in the photo's bag (a COCO class the
detector found, with how sure it was and how many boxes), so the words for a found object are
one attention step away, and a sentence can be learned from text alone: where there is no
photo, the regions are one learned "no photo" slot and the bag is read from the sentence.

A step is the attention decoder's own: the memory is simply longer, so the step graph serving
exports would not change. Only `start` differs (regions and bag in, the first state out), and a
training batch's padding is masked, which one photo with its own bag never needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from caption.model.bag import MAX_COUNT, MAX_SLOTS, SCORE_EDGES, Bag
from caption.model.vocabulary import Vocabulary
from caption.train.networks.attention_decoder import (
    AttentionDecoder,
    DecoderConfig,
    DecoderState,
)


def bag_tensors(bags: list[Bag]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bags as (B, K) concept, count and confidence ids, padded with concept 0."""
    width = max(1, max((min(len(b), MAX_SLOTS) for b in bags), default=1))
    ids = torch.zeros((len(bags), 3, width), dtype=torch.long)
    for row, bag in enumerate(bags):
        for k, slot in enumerate(bag[:MAX_SLOTS]):
            ids[row, :, k] = torch.tensor(slot.ids())
    return ids[:, 0], ids[:, 1], ids[:, 2]


@dataclass(frozen=True)
class BagBatch:
    """Photos' regions with their bags: what the concept decoder's `start` reads where an
    image decoder's reads regions alone (the searches and self-critical training pass either)."""

    features: torch.Tensor  # (B, R, C)
    concepts: torch.Tensor  # (B, K), 0: padding
    counts: torch.Tensor
    confidence: torch.Tensor

    def to(self, device) -> BagBatch:
        return BagBatch(*(t.to(device) for t in (self.features, self.concepts, self.counts,
                                                  self.confidence)))


def start_input(picked) -> torch.Tensor | BagBatch:
    """Rows of cached features as a decoder's start takes them: regions as a float32 tensor,
    or photos with their bags (PhotoBags' rows) as they are."""
    if isinstance(picked, BagBatch):
        return picked
    return torch.from_numpy(np.asarray(picked, dtype=np.float32))


class PhotoBags:
    """Cached photos' regions and bags, indexed like a feature array: `[i]` one photo,
    `[[i, j, ...]]` a batch (as BagBatch)."""

    def __init__(self, regions: np.ndarray, bags: list[Bag]):
        self.regions, self.bags = regions, bags

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, index) -> BagBatch:
        rows = [index] if isinstance(index, int) else list(index)
        features = torch.from_numpy(np.asarray(self.regions[rows], dtype=np.float32))
        return BagBatch(features, *bag_tensors([self.bags[i] for i in rows]))


@dataclass(frozen=True)
class ConceptConfig:
    decoder: DecoderConfig
    concepts: int  # the bag's vocabulary (0 is padding)

    def to_json(self) -> dict:
        return {"decoder": self.decoder.to_json(), "concepts": self.concepts}

    @classmethod
    def from_json(cls, data: dict) -> ConceptConfig:
        return cls(DecoderConfig(**data["decoder"]), int(data["concepts"]))


class ConceptDecoder(AttentionDecoder):
    def __init__(self, config: ConceptConfig):
        super().__init__(config.decoder)
        self.concept_config = config
        hidden = config.decoder.hidden_dim
        self.concept = nn.Embedding(config.concepts, hidden, padding_idx=0)
        self.count = nn.Embedding(MAX_COUNT + 1, hidden)
        self.confidence = nn.Embedding(len(SCORE_EDGES) + 1, hidden)
        self.no_photo = nn.Parameter(torch.zeros(1, 1, hidden))

    def memory(self, features: torch.Tensor, photo: torch.Tensor, concepts: torch.Tensor,
               counts: torch.Tensor, confidence: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, R, C); photo (B,) bool: whether row b has a photo; concepts, counts,
        confidence (B, K) ints (concept 0: padding). Returns the memory (B, R + K, hidden) and
        its padding mask (B, R + K): a row without a photo keeps one region slot, the learned
        "no photo"."""
        regions = self.project(features)
        no_photo = self.no_photo.expand(regions.shape[0], regions.shape[1], -1)
        regions = torch.where(photo[:, None, None], regions, no_photo)
        slots = torch.relu(self.concept(concepts) + self.count(counts)
                           + self.confidence(confidence))
        memory = self.dropout(torch.cat([regions, slots], dim=1))
        keep_regions = photo[:, None].expand(-1, regions.shape[1]).clone()
        keep_regions[:, 0] = True
        keep = torch.cat([keep_regions, concepts != 0], dim=1)
        mask = torch.zeros(keep.shape, dtype=memory.dtype, device=memory.device)
        return memory, mask.masked_fill(~keep, -1e4)

    def start(self, features) -> DecoderState:
        """features: a BagBatch (photos with their bags), or regions alone (an empty bag)."""
        if not isinstance(features, BagBatch):
            empty = torch.zeros((features.shape[0], 1), dtype=torch.long, device=features.device)
            features = BagBatch(features, empty, empty, empty)
        photo = torch.ones(features.features.shape[0], dtype=torch.bool,
                           device=features.features.device)
        return self.start_bag(features.features, photo, features.concepts, features.counts,
                              features.confidence)

    def start_bag(self, features, photo, concepts, counts, confidence) -> DecoderState:
        memory, mask = self.memory(features, photo, concepts, counts, confidence)
        weights = (mask == 0).to(memory.dtype)[..., None]
        mean = (memory * weights).sum(dim=1) / weights.sum(dim=1)
        return DecoderState(torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)),
                            memory, self.attend_regions(memory), mask)

    def forward_bag(self, features, photo, concepts, counts, confidence, captions,
                    unit_index) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: caption row i describes unit `unit_index[i]`. Returns the hidden
        states predicting positions 1..T-1 and the attention weights."""
        state = self.start_bag(features, photo, concepts, counts, confidence).select(unit_index)
        return self.teacher_force(state, captions)


def warm_start(decoder: ConceptDecoder, source: AttentionDecoder, source_words: list[str],
               words: list[str]) -> int:
    """Start `decoder` from a trained image decoder (the bundle's, already fine for Flickr8k):
    every weight of the same name and shape, and for each word both vocabularies hold, its
    embedding and its output row. Words only the new vocabulary holds keep their fresh
    initialisation, as the bag's embeddings do. Returns the words carried over."""
    own = decoder.state_dict()
    carried = {name: value for name, value in source.state_dict().items()
               if name in own and own[name].shape == value.shape}
    decoder.load_state_dict(carried, strict=False)
    index = {word: i for i, word in enumerate(source_words)}
    pairs = [(i, index[word]) for i, word in enumerate(words) if word in index]
    target_rows = torch.tensor([i for i, _ in pairs])
    source_rows = torch.tensor([j for _, j in pairs])
    with torch.no_grad():
        decoder.embed.weight[target_rows] = source.embed.weight[source_rows]
        decoder.out.weight[target_rows] = source.out.weight[source_rows]
        decoder.out.bias[target_rows] = source.out.bias[source_rows]
    return len(pairs)


def decoder_section(decoder: AttentionDecoder) -> dict:
    """model.json's `decoder` section: the attention decoder's hyperparameters, and for one
    that reads a bag, the size of the bag's vocabulary (`concepts`)."""
    section = decoder.config.to_json()
    if isinstance(decoder, ConceptDecoder):
        section["concepts"] = decoder.concept_config.concepts
    return section


def decoder_from_section(section: dict) -> AttentionDecoder:
    """The (untrained) decoder a `decoder` section describes."""
    section = dict(section)
    concepts = section.pop("concepts", None)
    config = DecoderConfig(**section)
    if concepts is None:
        return AttentionDecoder(config)
    return ConceptDecoder(ConceptConfig(config, int(concepts)))


def load_checkpoint(path) -> tuple[ConceptDecoder, Vocabulary, dict]:
    """A decoder the one-captioner stage kept (its best.pt, or the self-critical stage's
    refined.pt), its vocabulary, and the rest of what was saved with it."""
    saved = torch.load(path, weights_only=False)  # written by our own training stages
    decoder = ConceptDecoder(ConceptConfig.from_json(saved["config"]))
    decoder.load_state_dict(saved["decoder"])
    return decoder.eval(), Vocabulary(saved["vocabulary"]), saved
