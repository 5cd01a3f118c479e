"""Cache the frozen encoder's feature maps, so each training epoch costs only the decoder.

One float16 array per (encoder, image list, flip): shape (images, regions, channels). Flipped
copies are a cheap augmentation: the same captions describe the mirrored photo.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

from caption.model.encoder import OnnxEncoder
from caption.model.preprocess import Preprocessing
from caption.train.networks.efficientnet_lite import EfficientNetLite


def cache_key(variant: str, names: list[str], flip: bool, size: int) -> str:
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    return f"{variant}-{size}-{'flip' if flip else 'orig'}-{len(names)}-{digest}"


@torch.inference_mode()
def extract(encoder: EfficientNetLite | OnnxEncoder, preprocess: Preprocessing, image_dir: Path,
            names: list[str], flip: bool = False, batch_size: int = 4) -> np.ndarray:
    # Small channels-last batches measured fastest on a 2-core CPU (bench/ has the figures);
    # an ONNX encoder takes them as they are.
    if isinstance(encoder, EfficientNetLite):
        encoder = encoder.to(memory_format=torch.channels_last)
    out: np.ndarray | None = None
    for start in tqdm(range(0, len(names), batch_size), desc="encoding images", unit="batch"):
        batch = []
        for name in names[start:start + batch_size]:
            with Image.open(image_dir / name) as image:
                image = ImageOps.mirror(image) if flip else image
                batch.append(preprocess(image))
        if isinstance(encoder, OnnxEncoder):
            regions = encoder(np.stack(batch)).regions.astype(np.float16)
        else:
            pixels = torch.from_numpy(np.stack(batch)).contiguous(
                memory_format=torch.channels_last)
            maps = encoder(pixels)  # (B, C, H, W)
            regions = maps.flatten(2).transpose(1, 2).to(torch.float16).numpy()
        if out is None:
            out = np.empty((len(names), *regions.shape[1:]), dtype=np.float16)
        out[start:start + len(batch)] = regions
    assert out is not None, "no images to encode"
    return out


def cached_features(cache_dir: Path, encoder: EfficientNetLite, variant: str,
                    preprocess: Preprocessing, image_dir: Path, names: list[str],
                    flip: bool = False) -> np.ndarray:
    path = Path(cache_dir) / f"{cache_key(variant, names, flip, preprocess.size)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    features = extract(encoder, preprocess, image_dir, names, flip)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, features)
    tmp.rename(path)  # a killed run never leaves a half-written cache behind
    return features
