"""The TF.js -> ONNX translation of the detector, on a small graph of the same operations
written here (fused convolutions, depthwise, hard swish and hard sigmoid, squeeze-excite means,
bilinear upsampling, concatenation, the two heads), checked against a NumPy reference of TF's
semantics; and the exported part as serving loads it: stamped, refused when stale or malformed."""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
import pytest

from caption.model.bundle import BundleError, read_config, write_config
from caption.model.graphs import open_session
from caption.model.loader import load_model
from caption.model.objects import COCO_CLASSES, Detections, suppress
from caption.train.export import detector as detector_export
from tests.conftest import copy_bundle

SIZE = 16  # the synthetic graph's input side
STRIDE = 2  # its heads' cells, in input pixels
RNG = np.random.default_rng(7)
REGIONS = detector_export.REGIONS_NODE


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _conv(name, x, weights, bias=None, stride=1, padding="SAME", fused=("BiasAdd",),
          op="_FusedConv2D"):
    attr = {"strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
            "padding": {"s": _b64(padding)}, "dilations": {"list": {"i": ["1"] * 4}}}
    inputs = [x, weights] + ([bias] if bias else [])
    if op != "DepthwiseConv2dNative":
        attr["fused_ops"] = {"list": {"s": [_b64(f) for f in fused]}}
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def _node(name, op, *inputs, **attr):
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def synthetic_graph() -> tuple[dict, dict[str, np.ndarray]]:
    """A CenterNet in miniature, in TF.js's model.json form, and its weights."""
    w = {
        "w1": RNG.normal(0, 0.5, (3, 3, 3, 4)), "b1": RNG.normal(0, 0.1, 4),
        "wd": RNG.normal(0, 0.5, (3, 3, 4, 1)), "bd": RNG.normal(0, 0.1, 4),
        "ws": RNG.normal(0, 0.5, (1, 1, 4, 4)), "bs": RNG.normal(0, 0.1, 4),
        "w3": RNG.normal(0, 0.5, (3, 3, 4, 4)), "b3": RNG.normal(0, 0.1, 4),
        "we": RNG.normal(0, 0.5, (1, 1, 4, 6)), "be": RNG.normal(0, 0.1, 6),
        "wc": RNG.normal(0, 0.5, (1, 1, 10, 80)), "bc": RNG.normal(-1, 0.5, 80),
        "ww": RNG.normal(0, 0.01, (1, 1, 10, 4)), "bw": RNG.normal(1, 0.1, 4),  # boxes, not points
        "sixth": np.array(1 / 6), "three": np.array(3.0), "sixteen": np.array(16.0),
        "axes": np.array([1, 2]), "concat_axis": np.array(3), "resize": np.array([8, 8]),
        "tower_0/mul_3/y": np.array(float(STRIDE)),
    }
    weights = {k: v.astype(np.int32 if k in ("axes", "concat_axis", "resize") else np.float32)
               for k, v in w.items()}
    nodes = [_node(k, "Const") for k in weights] + [
        _node("tower_0/images", "Placeholder"),
        _conv("c1", "tower_0/images", "w1", "b1", stride=2, fused=("BiasAdd", "Relu")),
        _node("hs/mul", "Mul", "sixth", "c1"), _node("hs/add", "Add", "c1", "three"),
        _node("hs/relu6", "Relu6", "hs/add"), _node("hs/out", "Mul", "hs/mul", "hs/relu6"),
        _conv("dw", "hs/out", "wd", "bd", op="FusedDepthwiseConv2dNative"),
        _node("se/mean", "Mean", "dw", "axes", keep_dims={"b": True}),
        _conv("se/conv", "se/mean", "ws", "bs"),
        _node("se/add", "Add", "se/conv", "three"), _node("se/relu6", "Relu6", "se/add"),
        _node("se/gate", "Mul", "sixth", "se/relu6"), _node("se/out", "Mul", "se/gate", "dw"),
        _conv("down", "se/out", "w3", "b3", stride=2, fused=("BiasAdd", "Relu")),
        # The backbone's last map, named as the package names it: the `regions` output.
        _conv("tower_0/extern1/BatchNorm/FusedBatchNorm", "down", "we", "be"),
        _node("e/mul", "Mul", "sixth", "tower_0/extern1/BatchNorm/FusedBatchNorm"),
        _node("e/add", "Add", "tower_0/extern1/BatchNorm/FusedBatchNorm", "three"),
        _node("e/relu6", "Relu6", "e/add"),
        _node(REGIONS, "Mul", "e/mul", "e/relu6"),
        _node("up", "ResizeBilinear", REGIONS, "resize", align_corners={"b": False},
              half_pixel_centers={"b": False}),
        _node("cat", "ConcatV2", "se/out", "up", "concat_axis"),
        _conv("cls", "cat", "wc", "bc", padding="VALID"),
        _node("tower_0/Sigmoid", "Sigmoid", "cls"),
        _node("tower_0/keypoints", "Identity", "tower_0/Sigmoid"),
        _conv("wh", "cat", "ww", "bw", padding="VALID"),
        _node("tower_0/mul", "Mul", "wh", "sixteen"),
        _node("tower_0/wh", "Identity", "tower_0/mul"),
    ]
    manifest = {
        "format": "graph-model",
        "signature": {"inputs": {"tower_0/images": {"tensorShape": {"dim": [
            {"size": "1"}, {"size": str(SIZE)}, {"size": str(SIZE)}, {"size": "3"}]}}}},
        "modelTopology": {"node": nodes},
        "weightsManifest": [{"paths": ["centernet.bin"], "weights": [
            {"name": k, "shape": list(v.shape), "dtype": "int32" if v.dtype == np.int32
             else "float32"} for k, v in weights.items()]}],
    }
    return manifest, weights


def write_source(folder) -> dict[str, np.ndarray]:
    manifest, weights = synthetic_graph()
    (folder / "centernet.json").write_text(json.dumps(manifest))
    (folder / "centernet.bin").write_bytes(b"".join(v.tobytes() for v in weights.values()))
    return weights


# --- a NumPy reference of TF's semantics ---------------------------------------------------

def _same_pad(x, kernel, stride):
    """TF's SAME: the odd pixel of padding goes after."""
    h = x.shape[0]
    out = -(-h // stride)
    total = max((out - 1) * stride + kernel - h, 0)
    before = total // 2
    return np.pad(x, ((before, total - before), (before, total - before), (0, 0))), out


def conv(x, w, b, stride=1, padding="SAME", depthwise=False):
    k = w.shape[0]
    if padding == "SAME":
        x, out = _same_pad(x, k, stride)
    else:
        out = (x.shape[0] - k) // stride + 1
    channels = w.shape[2] if depthwise else w.shape[3]
    y = np.zeros((out, out, channels))
    for i in range(out):
        for j in range(out):
            patch = x[i * stride:i * stride + k, j * stride:j * stride + k]
            y[i, j] = ((patch * w[..., 0]).sum((0, 1)) if depthwise
                       else np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2])))
    return y + b


def resize_bilinear(x, size):
    """TF's legacy bilinear resize (align_corners and half_pixel_centers both off)."""
    h, w, _ = x.shape
    out = np.zeros((size, size, x.shape[2]))
    for i in range(size):
        for j in range(size):
            y, xx = i * h / size, j * w / size
            y0, x0 = int(np.floor(y)), int(np.floor(xx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, xx - x0
            out[i, j] = ((1 - dy) * (1 - dx) * x[y0, x0] + (1 - dy) * dx * x[y0, x1]
                         + dy * (1 - dx) * x[y1, x0] + dy * dx * x[y1, x1])
    return out


def reference_heads(image, w):
    relu6 = lambda v: np.clip(v, 0, 6)  # noqa: E731
    c1 = np.maximum(conv(image, w["w1"], w["b1"], stride=2), 0)
    hs = (c1 / 6) * relu6(c1 + 3)
    dw = conv(hs, w["wd"], w["bd"], depthwise=True)
    se = conv(dw.mean((0, 1), keepdims=True), w["ws"], w["bs"])
    gated = relu6(se + 3) / 6 * dw
    down = np.maximum(conv(gated, w["w3"], w["b3"], stride=2), 0)
    extern = conv(down, w["we"], w["be"])
    regions = (extern / 6) * relu6(extern + 3)
    cat = np.concatenate([gated, resize_bilinear(regions, 8)], axis=2)
    heat = 1 / (1 + np.exp(-conv(cat, w["wc"], w["bc"], padding="VALID")))
    sides = conv(cat, w["ww"], w["bw"], padding="VALID") * 16
    return heat, sides, regions


def reference_detections(image, w):
    """(score, class, x1, y1, x2, y2 as fractions) of every peak, best first."""
    heat, sides, _ = reference_heads(image, w)
    padded = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    out = []
    for y in range(heat.shape[0]):
        for x in range(heat.shape[1]):
            for c in range(heat.shape[2]):
                if heat[y, x, c] >= padded[y:y + 3, x:x + 3, c].max():
                    left, top, right, bottom = sides[y, x]
                    out.append((heat[y, x, c], c, (STRIDE * x - left) / SIZE,
                                (STRIDE * y - top) / SIZE, (STRIDE * x + right) / SIZE,
                                (STRIDE * y + bottom) / SIZE))
    return sorted(out, reverse=True)


# --- the tests ---------------------------------------------------------------------------

def test_the_translation_computes_what_tf_computes(tmp_path):
    weights = write_source(tmp_path)
    graph = detector_export.read_source(tmp_path)
    model = detector_export.to_onnx(graph, graph.sha256)
    ops = {node.op_type for node in model.graph.node}
    assert {"HardSwish", "HardSigmoid"} <= ops and "Clip" not in ops  # fused, parts pruned
    path = tmp_path / "detector.onnx"
    path.write_bytes(model.SerializeToString())
    image = RNG.uniform(0, 255, (SIZE, SIZE, 3)).astype(np.float32) / 64
    boxes, scores, classes, regions = open_session(path, 1).run(
        ["boxes", "scores", "classes", "regions"], {"images": image[None]})
    expected_regions = reference_heads(image.astype(np.float64), weights)[2]
    np.testing.assert_allclose(regions[0], expected_regions.reshape(-1, 6), rtol=1e-4,
                               atol=1e-5)  # row by row, channels last: as a decoder reads them
    expected = reference_detections(image.astype(np.float64), weights)
    found = scores[0] > 0
    assert found.sum() == min(len(expected), detector_export.TOP_K)
    np.testing.assert_allclose(scores[0][found], [e[0] for e in expected][:found.sum()],
                               rtol=1e-4)
    for i in range(10):  # the best peaks: class and box
        assert classes[0][i] == expected[i][1]
        np.testing.assert_allclose(boxes[0][i], expected[i][2:], atol=1e-3)


def test_any_input_size_runs(tmp_path):
    """Serving feeds the network smaller than it was written for (the bundle's input_size):
    the upsampling is by factor, not to the trained size."""
    write_source(tmp_path)
    graph = detector_export.read_source(tmp_path)
    path = tmp_path / "detector.onnx"
    path.write_bytes(detector_export.to_onnx(graph, graph.sha256).SerializeToString())
    session = open_session(path, 1)
    for side in (16, 24, 32):
        boxes, scores, _ = session.run(None, {"images": np.zeros((1, side, side, 3),
                                                                 np.float32)})[:3]
        assert boxes.shape == (1, detector_export.TOP_K, 4)


def test_a_source_that_is_not_the_detector_is_refused(tmp_path):
    with pytest.raises(detector_export.DetectorSourceError, match="neither"):
        detector_export.read_source(tmp_path)
    (tmp_path / "centernet.json").write_text("{}")
    (tmp_path / "centernet.bin").write_bytes(b"")
    with pytest.raises(detector_export.DetectorSourceError, match="not the CenterNet"):
        detector_export.read_source(tmp_path)


@pytest.fixture(scope="module")
def bundle_with_detector(tiny_bundle, tmp_path_factory):
    bundle = copy_bundle(tiny_bundle, tmp_path_factory.mktemp("detector") / "bundle")
    source = tmp_path_factory.mktemp("source")
    write_source(source)
    assert detector_export.main(["--model", str(bundle), "--source", str(source),
                                 "--input-size", "32", "--score-threshold", "0.1"]) == 0
    return bundle


def test_the_exported_detector_serves_and_lists_objects(bundle_with_detector, photos):
    from PIL import Image

    config = read_config(bundle_with_detector)
    assert config.graphs.detector == "detector.onnx"
    assert config.detector["input_size"] == 32 and config.detector["score_threshold"] == 0.1
    assert config.detector["classes"] == list(COCO_CLASSES)
    model = load_model(bundle_with_detector)
    assert model.runtime["detector"] == "onnxruntime"
    assert model.decode_size == 64  # the tiny encoder's input is the larger
    image = Image.open(io.BytesIO(photos["chelsea"]))
    (described,) = model.describe([image], sizes=[(600, 400)], object_threshold=0.0)
    assert described.objects, "random weights still put peaks above 0"
    for found in described.objects:
        assert found.name in COCO_CLASSES
        box = found.box
        assert 0 <= box.left and box.left + box.width <= 600
        assert 0 <= box.top and box.top + box.height <= 400
    assert [o.score for o in described.objects] == sorted(
        (o.score for o in described.objects), reverse=True)
    assert load_model(bundle_with_detector, objects=False).runtime["detector"] == "off"


def test_a_stale_or_malformed_detector_is_refused_at_load(bundle_with_detector, tmp_path):
    stale = copy_bundle(bundle_with_detector, tmp_path / "stale")
    config = read_config(stale)
    write_config(stale, config.with_changes(detector={**config.detector,
                                                      "weights_sha256": "0" * 64}))
    with pytest.raises(BundleError, match=r"stale.*caption\.train\.export\.detector"):
        load_model(stale)
    malformed = copy_bundle(bundle_with_detector, tmp_path / "malformed")
    config = read_config(malformed)
    write_config(malformed, config.with_changes(detector={**config.detector,
                                                          "classes": ["person"]}))
    with pytest.raises(BundleError, match="malformed detector section"):
        load_model(malformed)
    shutil.rmtree(malformed)


def greedy_one_by_one(boxes, scores, classes, overlap=0.5):
    """Non-maximum suppression as its definition reads: best first, each box against every
    box of its class kept before it."""
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / max(union, 1e-9)

    kept = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if all(classes[k] != classes[i] or iou(boxes[i], boxes[k]) <= overlap for k in kept):
            kept.append(i)
    return kept


def test_a_box_dropped_for_a_better_one_drops_no_other():
    """B overlaps A and goes; C overlaps B but not A, and stays."""
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], dtype=float)
    assert suppress(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 0]), 0.3) == [0, 2]


def test_suppression_keeps_what_one_by_one_keeps():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        corner = rng.uniform(0, 1, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(0.01, 0.5, (n, 2))], axis=1)
        scores = rng.uniform(0, 1, n).round(2)  # ties too
        classes = rng.integers(0, 3, n)
        assert suppress(boxes, scores, classes) == greedy_one_by_one(boxes, scores, classes)


def test_overlapping_boxes_of_one_class_are_one_object():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]],
                     dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([0, 0, 16, 0])  # two people over each other, a dog there too, a person
    assert suppress(boxes, scores, labels) == [0, 2, 3]
    found = Detections(COCO_CLASSES, boxes[[0, 2, 3]] / 100, scores[[0, 2, 3]],
                       labels[[0, 2, 3]])
    assert found.counts({"default": 0.65}) == {"person": 1, "dog": 1}
    assert found.counts({"default": 0.5}) == {"person": 2, "dog": 1}
    assert found.best_scores() == {"person": 0.9, "dog": 0.7}
    assert [o.name for o in found.objects(100, 100, 0.65)] == ["person", "dog"]
