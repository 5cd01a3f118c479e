"""The encoder's ONNX export, served by ONNX Runtime: the same features and captions as the
PyTorch encoder, and a safe fallback to PyTorch wherever it cannot serve."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

from caption.model.bundle import load_bundle
from caption.model.loader import load_model
from caption.model.onnx_encoder import ONNX_FILE, OnnxEncoder, export_onnx_encoder
from caption.runtime import load_service
from caption.service import CaptionOptions
from caption.settings import Settings
from tests.conftest import resave_bundle


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_the_bundled_export_gives_the_pytorch_encoders_features_and_captions(photos):
    # The float32 export, as served on CPUs without VNNI (the int8 one: test_encoder_int8).
    service, _ = load_service(Settings(int8_encoder=False), warm_up=False)
    captioner = service.captioner
    assert isinstance(captioner._serving_encoder, OnnxEncoder)
    assert captioner.encoder_precision == "float32"
    pixels = torch.stack([captioner.preprocess(captioner_image(service, photos[name]))
                          for name in ("chelsea", "coffee", "china")])
    with torch.inference_mode():
        served = captioner._serving_encoder(pixels)
        reference = captioner.encoder(pixels.contiguous(memory_format=torch.channels_last))
    assert relative_error(served, reference) < 1e-4
    options = CaptionOptions(beam_size=3, num_captions=3)
    exported = [service.caption_bytes(photos[n], options) for n in ("chelsea", "astronaut")]
    captioner._serving_encoder = None  # the eager PyTorch encoder
    eager = [service.caption_bytes(photos[n], options) for n in ("chelsea", "astronaut")]
    assert [[c.text for c in r.captions] for r in exported] == \
        [[c.text for c in r.captions] for r in eager]


def captioner_image(service, data: bytes):
    from caption.images import decode_image

    return decode_image(data, service.max_pixels, service.captioner.preprocess.size).image


@pytest.fixture
def exported_bundle(tiny_bundle, tmp_path):
    directory = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, directory)
    export_onnx_encoder(directory)
    return directory


def test_export_writes_the_graph_and_names_it_in_the_bundle(exported_bundle):
    config = json.loads((exported_bundle / "model.json").read_text())
    assert config["runtime"]["onnx_encoder"] == ONNX_FILE
    captioner = load_bundle(exported_bundle)
    captioner.optimize()
    assert isinstance(captioner._serving_encoder, OnnxEncoder)
    pixels = torch.rand(2, 3, 64, 64)  # a batch: the graph's batch axis is dynamic
    with torch.inference_mode():
        assert relative_error(captioner._serving_encoder(pixels),
                              captioner.encoder(pixels)) < 1e-4


def test_saving_new_weights_drops_the_old_export(exported_bundle):
    runtime = resave_bundle(exported_bundle)
    assert not (exported_bundle / ONNX_FILE).exists()
    assert "onnx_encoder" not in runtime


def test_without_onnxruntime_the_pytorch_encoder_serves(exported_bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    captioner = load_model(exported_bundle)
    captioner.optimize()
    assert not isinstance(captioner._serving_encoder, OnnxEncoder)
    assert captioner._serving_encoder is not None  # the fixed-size PyTorch encoder


def test_a_missing_or_corrupt_export_falls_back_with_a_warning(exported_bundle, caplog):
    (exported_bundle / ONNX_FILE).write_bytes(b"not an onnx graph")
    captioner = load_model(exported_bundle)
    captioner.optimize()
    assert not isinstance(captioner._serving_encoder, OnnxEncoder)
    (exported_bundle / ONNX_FILE).unlink()
    load_model(exported_bundle).optimize()
    assert sum("PyTorch encoder serves" in r.getMessage() for r in caplog.records) == 2
