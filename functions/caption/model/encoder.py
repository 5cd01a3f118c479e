"""The image encoder as served: one ONNX Runtime run from pixels to the regions the decoder
attends over and, where the bundle has a classifier, the ImageNet class probabilities (the
classifier is part of the graph: caption.train.export)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Encoded:
    regions: np.ndarray  # (N, R, C) feature maps flattened to regions; (N, D) for vector encoders
    probabilities: np.ndarray | None  # (N, classes), or None without a classifier


class OnnxEncoder:
    """(N, 3, S, S) float32 pixels -> Encoded."""

    def __init__(self, session, precision: str):
        self.session = session
        self.precision = precision  # "int8" or "float32": reported by /healthz and the logs
        self.input_name = session.get_inputs()[0].name
        outputs = [o.name for o in session.get_outputs()]
        self.outputs = ["regions", *(["probabilities"] if "probabilities" in outputs else [])]

    def __call__(self, pixels: np.ndarray) -> Encoded:
        results = self.session.run(self.outputs, {self.input_name: pixels})
        return Encoded(results[0], results[1] if len(results) > 1 else None)
