"""Read caption datasets: Flickr8k's `IMAGE#N<TAB>caption` files and COCO `captions_*.json`.

Both become one mapping, image file name -> list of raw captions, plus optional split lists.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CaptionDataset:
    image_dir: Path
    captions: dict[str, list[str]]

    def subset(self, names: list[str]) -> CaptionDataset:
        missing = [n for n in names if n not in self.captions]
        if missing:
            raise ValueError(f"{len(missing)} split images have no captions, e.g. {missing[0]}")
        return CaptionDataset(self.image_dir, {n: self.captions[n] for n in names})

    @property
    def names(self) -> list[str]:
        return list(self.captions)


def read_flickr_tsv(path: Path) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = defaultdict(list)
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            key, text = line.split("\t", 1)
        except ValueError:
            raise ValueError(f"{path}:{line_no}: expected IMAGE#N<TAB>caption") from None
        captions[key.split("#", 1)[0]].append(text.strip())
    return dict(captions)


def read_coco_json(path: Path) -> dict[str, list[str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    file_names = {image["id"]: image["file_name"] for image in doc["images"]}
    captions: dict[str, list[str]] = defaultdict(list)
    for annotation in doc["annotations"]:
        captions[file_names[annotation["image_id"]]].append(annotation["caption"].strip())
    return dict(captions)


def read_captions(path: Path) -> dict[str, list[str]]:
    """Dispatch on the file: `.json` is COCO, anything else the Flickr8k tab-separated form."""
    return read_coco_json(path) if path.suffix == ".json" else read_flickr_tsv(path)


def read_split(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_dataset(image_dir: Path, caption_files: list[Path]) -> CaptionDataset:
    captions: dict[str, list[str]] = {}
    for path in caption_files:
        for name, texts in read_captions(path).items():
            captions.setdefault(name, []).extend(texts)
    return CaptionDataset(Path(image_dir), captions)


def half_of(name: str) -> str | None:
    """coco-dev's halves, by photo id: "a" (even ids), on which choices are tuned, and "b" (odd
    ids), which only reports; None for a name that is not a number."""
    stem = Path(name).stem
    return ("a" if int(stem) % 2 == 0 else "b") if stem.isdigit() else None
