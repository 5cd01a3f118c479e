"""The bundle's training checkpoint, `model.safetensors`: what export
(caption.train.export) and further training read. Weights are stored as float16 (half the size)
and trained and exported as float32. Serving never reads this file (caption.model.bundle).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from caption.model.bundle import WEIGHTS_FILE, BundleError, read_config
from caption.train.networks.concept_decoder import ConceptConfig, ConceptDecoder


def file_sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def save_decoder(directory: Path, decoder: ConceptDecoder) -> str:
    """Write the decoder's weights as the bundle's checkpoint; returns its SHA-256, which the
    graphs exported from it are stamped with."""
    path = Path(directory) / WEIGHTS_FILE
    save_file({f"decoder.{k}": v.detach().cpu().to(torch.float16).contiguous()
               for k, v in decoder.state_dict().items()}, path)
    path.chmod(0o644)  # safetensors creates it owner-only
    return file_sha256(path)


def load_decoder(directory: Path) -> ConceptDecoder:
    """The bundle's decoder, from model.safetensors and model.json's decoder section."""
    directory = Path(directory)
    config = read_config(directory)
    path = directory / WEIGHTS_FILE
    if not path.exists():
        raise BundleError(f"{directory} has no {WEIGHTS_FILE}: a serving-only bundle cannot be "
                          "trained or exported again")
    try:
        decoder = ConceptDecoder(ConceptConfig.from_json(config.decoder))
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{directory}: model.json's decoder section is not the one "
                          f"captioner's: {exc}") from None
    state = {k.removeprefix("decoder."): v.float() for k, v in load_file(path).items()}
    try:
        decoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{directory}: weights do not match the config: {exc}") from None
    return decoder.eval()
