"""What is where: the bundle's COCO object detector (`detector` graph, `detector` section).

The graph (caption.train.export.detector) takes RGB pixels 0..255 stretched to its square
input and gives its 100 best centre peaks as boxes, scores and COCO classes. Here the peaks
below the score threshold are dropped, overlapping boxes of one class are merged by
non-maximum suppression (CenterNet's peaks rarely overlap, but a large object can have two),
and the boxes are given in the upright image's pixels, as Rekognition's `BoundingBox` lays them
out: left, top, width, height.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

# The 80 COCO classes in the detector's output order (COCO's category ids in ascending order).
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")
NMS_OVERLAP = 0.5  # intersection over union above which two boxes of one class are one object


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class DetectedObject:
    name: str  # a COCO class, e.g. "person", "dining table"
    score: float  # 0..1
    box: Box  # in the upright image's pixels

    def to_json(self) -> dict:
        """As the API, the CLI's records and S3 metadata (through it) lay it out."""
        box = self.box
        return {"name": self.name, "score": self.score,
                "box": {"left": box.left, "top": box.top, "width": box.width,
                        "height": box.height}}


def _overlaps(boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of (M, 4) x1 y1 x2 y2 boxes: (M, M)."""
    x1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(areas[:, None] + areas[None, :] - inter, 1e-9)


def suppress(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
             overlap: float = NMS_OVERLAP) -> list[int]:
    """Indices kept by per-class non-maximum suppression, best score first: a box is dropped
    where it overlaps a kept better box of its class by more than `overlap`. All pairs are
    weighed at once; only the few boxes that overlap a better one are decided one by one (the
    graph's hundred peaks took 1.7 ms a photo box by box in Python, on the detector's thread)."""
    order = np.argsort(-scores, kind="stable")
    boxes, classes = boxes[order], classes[order]
    # conflicts[i, j]: box i overlaps the better box j (j < i) of its own class
    conflicts = np.tril((_overlaps(boxes) > overlap) & (classes[:, None] == classes[None, :]),
                        k=-1)
    kept = np.ones(len(order), dtype=bool)
    for i in np.flatnonzero(conflicts.any(axis=1)).tolist():  # in order: better boxes first
        kept[i] = not (conflicts[i] & kept).any()
    return order[kept].tolist()


@dataclass(frozen=True)
class Detections:
    """One image's peaks above the floor the detector keeps, best first: boxes as x1, y1, x2,
    y2 fractions of the image, overlapping boxes of one class already merged."""

    classes: tuple[str, ...]  # the detector's class names, by index
    boxes: np.ndarray  # (M, 4) float
    scores: np.ndarray  # (M,) float
    labels: np.ndarray  # (M,) int: class indices

    def objects(self, width: int, height: int, threshold: float) -> list[DetectedObject]:
        """Those at or above `threshold`, in the pixels of an upright width x height image."""
        found = []
        scale = np.array([width, height, width, height], dtype=np.float64)
        for box, score, label in zip(self.boxes, self.scores, self.labels, strict=True):
            if score < threshold:
                break  # best first
            x1, y1, x2, y2 = (round(float(v)) for v in box * scale)
            if x2 > x1 and y2 > y1:  # not a box clipped to nothing at the image's edge
                found.append(DetectedObject(self.classes[int(label)], round(float(score), 4),
                                            Box(x1, y1, x2 - x1, y2 - y1)))
        return found

    def best_scores(self) -> dict[str, float]:
        """Per class the detector found at all, its best score: the evidence that it is there."""
        best: dict[str, float] = {}
        for score, label in zip(self.scores.tolist(), self.labels.tolist(), strict=True):
            best.setdefault(self.classes[label], score)
        return best

    def counts(self, thresholds: dict[str, float]) -> dict[str, int]:
        """Per class, how many distinct boxes reach its threshold (by class name, else
        "default")."""
        out: dict[str, int] = {}
        for score, label in zip(self.scores.tolist(), self.labels.tolist(), strict=True):
            if score >= thresholds.get(self.classes[label], thresholds["default"]):
                out[self.classes[label]] = out.get(self.classes[label], 0) + 1
        return out


# Peaks below this are never evidence of anything: 2 % keeps the tail that grounding weighs
# without carrying the hundred peaks every heat map has.
SCORE_FLOOR = 0.02


class Detector:
    """The bundle's detector graph and section."""

    def __init__(self, session, section: dict, floor: float = SCORE_FLOOR,
                 overlap: float = NMS_OVERLAP):
        """floor, overlap: the DecodingConfig's detector_floor and nms_overlap."""
        self.session = session
        self.floor, self.overlap = floor, overlap
        self.classes = tuple(section["classes"])
        self.input_size = int(section["input_size"])
        self.score_threshold = float(section["score_threshold"])
        outputs = sorted(o.name for o in session.get_outputs())
        # The graph also gives `regions`, its backbone's last feature map, which a caption
        # decoder can read (caption.train.export.detector); detection needs only these three.
        if not {"boxes", "classes", "scores"} <= set(outputs):
            raise ValueError(f"the detector graph gives {outputs}, not boxes, scores, classes")
        if len(self.classes) != len(COCO_CLASSES):
            raise ValueError(f"the detector section lists {len(self.classes)} classes, "
                             f"not COCO's {len(COCO_CLASSES)}")

    def pixels(self, image: Image.Image) -> np.ndarray:
        """(S, S, 3) float32 RGB 0..255, stretched to the square input as the package feeds it."""
        size = (self.input_size, self.input_size)
        if image.mode != "RGB":  # convert copies even an RGB image
            image = image.convert("RGB")
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.float32)

    def detect(self, image: Image.Image) -> Detections:
        boxes, scores, labels = self.session.run(["boxes", "scores", "classes"],
                                                 {"images": self.pixels(image)[None]})
        return from_peaks(self.classes, boxes[0], scores[0], labels[0], self.floor,
                          self.overlap)


def from_peaks(classes: tuple[str, ...], boxes: np.ndarray, scores: np.ndarray,
               labels: np.ndarray, floor: float = SCORE_FLOOR,
               overlap: float = NMS_OVERLAP) -> Detections:
    """One image's peaks as the graph gives them (its 100 best) -> Detections: those at
    `floor` or more, boxes clipped to the image, overlapping boxes of one class merged."""
    keep = scores >= floor
    boxes = np.clip(boxes[keep].astype(np.float64), 0.0, 1.0)
    scores, labels = scores[keep].astype(np.float64), labels[keep].astype(np.int64)
    kept = suppress(boxes, scores, labels, overlap)
    return Detections(classes, boxes[kept], scores[kept], labels[kept])
