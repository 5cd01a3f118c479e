"""The int8 encoder (caption.model.encoder_int8): made from the float32 export by the real
quantizer, served only where the CPU has VNNI, and never in place of a working float32 path."""

from __future__ import annotations

import io
import json
import shutil

import onnx
import pytest
import torch
from PIL import Image

from caption.model import cpu
from caption.model.encoder_int8 import INT8_FILE, calibration_photos, quantize_encoder
from caption.model.loader import load_model
from caption.model.onnx_encoder import ONNX_FILE, OnnxEncoder, export_onnx_encoder
from caption.runtime import load_service
from caption.settings import Settings
from tests.conftest import resave_bundle


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture
def quantized_bundle(tiny_bundle, tmp_path, photos):
    directory = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, directory)
    export_onnx_encoder(directory)
    quantize_encoder(directory, [Image.open(io.BytesIO(p)) for p in photos.values()])
    return directory


def test_the_export_quantizes_all_but_the_first_and_last_convolutions(quantized_bundle):
    config = json.loads((quantized_bundle / "model.json").read_text())
    assert config["runtime"]["onnx_encoder_int8"] == INT8_FILE
    graph = onnx.load(str(quantized_bundle / INT8_FILE)).graph
    produced_by = {out: node for node in graph.node for out in node.output}
    convolutions = [n for n in graph.node if n.op_type == "Conv"]
    int8_weights = [c for c in convolutions if c.input[1] in produced_by
                    and produced_by[c.input[1]].op_type == "DequantizeLinear"]
    assert len(int8_weights) == len(convolutions) - 2
    assert convolutions[0] not in int8_weights and convolutions[-1] not in int8_weights


def test_int8_serves_only_where_the_cpu_has_vnni(quantized_bundle, monkeypatch):
    pixels = torch.rand(2, 3, 64, 64)
    for vnni, allowed, expected in ((True, True, "int8"), (False, True, "float32"),
                                    (True, False, "float32")):
        monkeypatch.setattr(cpu, "has_vnni", lambda vnni=vnni: vnni)
        captioner = load_model(quantized_bundle)
        captioner.optimize(int8_encoder=allowed)
        assert captioner.encoder_precision == expected
        assert isinstance(captioner._serving_encoder, OnnxEncoder)
        with torch.inference_mode():
            served, reference = captioner._serving_encoder(pixels), captioner.encoder(pixels)
        error = relative_error(served, reference)
        # Float32 matches PyTorch to rounding; int8 is close, not equal (the shipped bundle's
        # figures are in test_the_shipped_int8_encoder_...).
        assert error < 1e-4 if expected == "float32" else 1e-4 < error < 0.5


def test_a_broken_int8_export_leaves_the_float32_one_serving(quantized_bundle, monkeypatch,
                                                              caplog):
    monkeypatch.setattr(cpu, "has_vnni", lambda: True)
    (quantized_bundle / INT8_FILE).write_bytes(b"not an onnx graph")
    captioner = load_model(quantized_bundle)
    captioner.optimize()
    assert captioner.encoder_precision == "float32"
    assert isinstance(captioner._serving_encoder, OnnxEncoder)
    assert any("could not be loaded" in r.getMessage() for r in caplog.records)


def test_saving_new_weights_drops_the_int8_export(quantized_bundle):
    runtime = resave_bundle(quantized_bundle)
    assert not (quantized_bundle / INT8_FILE).exists()
    assert not (quantized_bundle / ONNX_FILE).exists()
    assert "onnx_encoder_int8" not in runtime


def test_calibration_photos_are_drawn_reproducibly(tmp_path):
    split = tmp_path / "train.txt"
    split.write_text("\n".join(f"{i}.jpg" for i in range(50)))
    first = calibration_photos(tmp_path, split, count=8)
    assert first == calibration_photos(tmp_path, split, count=8)
    assert len(set(first)) == 8 and len(calibration_photos(tmp_path, split, count=99)) == 50


def test_cpu_flags_decide_vnni():
    assert cpu.has_vnni(frozenset({"avx2", "avx512f", "avx512_vnni"})) == (
        cpu.platform.machine() in ("x86_64", "AMD64"))
    assert not cpu.has_vnni(frozenset({"avx2", "avx512f", "avx512bw"}))


def test_the_shipped_int8_encoder_names_what_the_float32_one_names(photos):
    """The bundle's int8 encoder, on real photos: features near the float32 export's, the same
    top ImageNet label, and the service reports which encoder serves."""
    service, timings = load_service(Settings(), warm_up=False)
    captioner = service.captioner
    assert captioner.onnx_encoder_int8_file is not None  # the bundle ships it
    expected = "int8" if cpu.has_vnni() else "float32"
    assert timings["encoder_precision"] == captioner.encoder_precision == expected
    int8 = OnnxEncoder(captioner.onnx_encoder_int8_file, 2)
    float32 = OnnxEncoder(captioner.onnx_encoder_file, 2)
    from caption.images import decode_image

    for name in ("chelsea", "coffee", "astronaut"):
        image = decode_image(photos[name], service.max_pixels, captioner.preprocess.size).image
        pixels = captioner.preprocess(image)[None]
        quantized, reference = int8(pixels), float32(pixels)
        assert relative_error(quantized, reference) < 0.3
        top = [captioner.labels.top(captioner.labels.probabilities(
            f.flatten(2).transpose(1, 2))[0], 1, 0.0)[0].name for f in (quantized, reference)]
        assert top[0] == top[1]
