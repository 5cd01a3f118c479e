"""The seed app's inference, step for step, so `make bench` can say how much faster we are.

Follows the public repository umnooob/img_captioning:
- `transform_image` in image/image_captioning/image_captioning.py: PIL opens the bytes,
  `.convert('RGB')`, torchvision `Resize([224, 224], Image.LANCZOS)` (on a PIL image that is
  PIL's own LANCZOS resize to 224x224), `ToTensor()`, `Normalize` with ImageNet mean and std.
- `EncoderCNN.forward` in image/image_captioning/models.py: ResNet-152 without its classifier
  under `torch.no_grad()`, flattened, `Linear(2048, 256)` then `BatchNorm1d` (eval).
- `DecoderRNN.beam_search` in the same file, BEAM_SIZE 3 and MAX_SEG_LENGTH 20 as the app sets
  them: the first word is the arg-max of the LSTM's output on the image feature; then, for
  MAX_SEG_LENGTH - 1 steps, every beam is run through the 2-layer LSTM on its own (a beam that
  ended re-enters its score with <end>), each beam's log-softmax plus its score is concatenated
  into one tensor, the (beam, word) index list is extended with `zip([i] * VOCAB_SIZE,
  list(range(VOCAB_SIZE)))`, the whole tensor is ordered with `torch.sort(descending=True)`, the
  top 3 are kept, and each kept beam's next input is `embed(word_id)`.
- `inference` in image_captioning.py: ids to words through the id_to_word dictionary, stopping
  at <end>, with score `exp(prob) * 100`.

Weights are random (speed does not depend on them; the seed's own files are not public), with
the seed's sizes: embedding 256, hidden 512, 2 LSTM layers, and a 10,000-word vocabulary (the
order of the seed's COCO vocabulary). Nothing here is tuned: it is the yardstick, not a rival.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image
from torch import nn

from caption.train.networks.resnet import resnet152_trunk

EMBEDDING_DIM, HIDDEN_DIM, NUM_LAYERS = 256, 512, 2
BEAM_SIZE, MAX_SEG_LENGTH = 3, 20
VOCAB_SIZE = 10_000
END_ID = 2
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class SeedEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = resnet152_trunk()
        self.linear = nn.Linear(2048, EMBEDDING_DIM)
        self.bn = nn.BatchNorm1d(EMBEDDING_DIM, momentum=0.01)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            features = self.resnet(images)
        features = features.reshape(features.size(0), -1)
        return self.bn(self.linear(features))


class SeedDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, EMBEDDING_DIM)
        self.lstm = nn.LSTM(EMBEDDING_DIM, HIDDEN_DIM, NUM_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN_DIM, VOCAB_SIZE)
        self.logsoftmax = nn.LogSoftmax(dim=1)

    def beam_search(self, features: torch.Tensor) -> list:
        inputs = features.unsqueeze(1)
        hiddens, states = self.lstm(inputs, None)
        outputs = self.logsoftmax(self.linear(hiddens.squeeze(1)))
        prob, predicted = outputs.max(1)
        sampled_ids = [(predicted, prob)]
        beam = [(self.embed(s).unsqueeze(1), states) for s, _ in sampled_ids]
        for _ in range(MAX_SEG_LENGTH - 1):
            states_list = []
            prob_list = torch.tensor([])
            idx_list: list = []
            for i, (inputs, states) in enumerate(beam):
                if sampled_ids[i][0][-1] == END_ID:
                    states_list.append(states)
                    prob_list = torch.cat((prob_list, sampled_ids[i][1][None]))
                    idx_list.extend([(i, END_ID)])
                else:
                    hiddens, states = self.lstm(inputs, states)
                    outputs = self.logsoftmax(self.linear(hiddens.squeeze(1))) + sampled_ids[i][1]
                    states_list.append(states)
                    idx_list.extend(zip([i] * VOCAB_SIZE, list(range(VOCAB_SIZE)), strict=False))
                    prob_list = torch.cat((prob_list, outputs[0]))
            ordered, indices = torch.sort(prob_list, descending=True)
            prob = ordered[:BEAM_SIZE]
            beam_idx, vocab_idx = zip(*[idx_list[i] for i in indices[:BEAM_SIZE]], strict=False)
            beam, tmp_sampled_ids = [], []
            for i in range(BEAM_SIZE):
                word_id = torch.Tensor([vocab_idx[i]]).long()
                tmp_sampled_ids.append((torch.cat((sampled_ids[beam_idx[i]][0], word_id), 0),
                                        prob[i]))
                beam.append((self.embed(word_id).unsqueeze(1), states_list[beam_idx[i]]))
            sampled_ids = tmp_sampled_ids
        return sampled_ids


def transform_image(image_bytes: bytes) -> torch.Tensor:
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    image = image.resize((224, 224), Image.Resampling.LANCZOS)  # transforms.Resize on PIL
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    pixels = pixels.float().div(255)  # transforms.ToTensor
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    return ((pixels - mean) / std).unsqueeze(0)  # transforms.Normalize


class SeedPipeline:
    """The seed app's `inference(image_bytes)`, with random weights of the seed's shapes."""

    def __init__(self):
        torch.manual_seed(0)
        self.encoder = SeedEncoder().eval()
        self.decoder = SeedDecoder().eval()
        self.id_to_word = {i: f"w{i}" for i in range(VOCAB_SIZE)}
        self.id_to_word[END_ID] = "<end>"

    def __call__(self, image_bytes: bytes) -> list[tuple[str, float]]:
        image = transform_image(image_bytes)
        with torch.no_grad():
            feature = self.encoder(image)
            sampled_ids = self.decoder.beam_search(feature)
        res = []
        for sampled_id, prob in sampled_ids:
            words = []
            for word_id in sampled_id.cpu().numpy():
                word = self.id_to_word[word_id]
                if word == "<end>":
                    break
                if word != "<start>":
                    words.append(word)
            res.append((" ".join(words), math.exp(prob.item()) * 100))
        return res
