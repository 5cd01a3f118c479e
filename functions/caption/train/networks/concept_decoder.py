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

import torch
from torch import nn

from caption.train.networks.attention_decoder import (
    AttentionDecoder,
    DecoderConfig,
    DecoderState,
)

# A bag slot: a concept id, its box count and its confidence bucket (caption.train.stages.bags).
SCORE_EDGES = (0.2, 0.3, 0.4, 0.5, 0.7)  # confidence buckets, by the detector's best score
MAX_COUNT = 4  # box counts 1, 2, 3, 4+ (0: padding)


def score_bucket(score: float) -> int:
    """0 below the first edge, then one bucket per edge passed."""
    return sum(score >= edge for edge in SCORE_EDGES)


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
