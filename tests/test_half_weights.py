"""Graphs stored with float16 weights compute in float32 exactly as their rounded weights say."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime

from caption.train.export.half_weights import SMALLEST_HALVED, store_weights_half
from caption.train.export.simplify import simplify_graph


def _conv_graph(weight: np.ndarray, bias: np.ndarray):
    nodes = [onnx.helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])]
    graph = onnx.helper.make_graph(
        nodes, "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 32, 16, 16])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(weight.astype(np.float32), "w"),
         onnx.numpy_helper.from_array(bias.astype(np.float32), "b")])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_large_weights_are_stored_half_and_served_as_their_rounding(tmp_path):
    rng = np.random.default_rng(0)
    # float32 first, as exported weights are: float64 rounded straight to float16 can differ
    # from float64 -> float32 -> float16 in the last bit.
    weight, bias = rng.normal(size=(64, 32, 3, 3)).astype(np.float32), rng.normal(size=64)
    x = rng.normal(size=(1, 32, 16, 16)).astype(np.float32)
    plain, stored, rounded = (tmp_path / f"{n}.onnx" for n in ("plain", "stored", "rounded"))
    onnx.save(_conv_graph(weight, bias), str(plain))
    onnx.save(_conv_graph(weight, bias), str(stored))
    onnx.save(_conv_graph(weight.astype(np.float16).astype(np.float32), bias), str(rounded))

    simplify_graph(stored)

    kinds = {t.name: t.data_type for t in onnx.load(str(stored)).graph.initializer}
    assert kinds == {"w__float16": onnx.TensorProto.FLOAT16, "b": onnx.TensorProto.FLOAT}
    assert stored.stat().st_size < 0.6 * plain.stat().st_size
    served = _run(stored, x)
    assert np.array_equal(served, _run(rounded, x))  # float32 arithmetic on the rounded weights
    assert np.allclose(served, _run(plain, x), rtol=0, atol=2e-2)
    assert not np.array_equal(served, _run(plain, x))  # it did round


def test_storing_twice_halves_nothing_more():
    rng = np.random.default_rng(1)
    model = _conv_graph(rng.normal(size=(64, 32, 3, 3)), rng.normal(size=64))
    assert store_weights_half(model) == 1
    assert store_weights_half(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Cast", "Conv"]


def test_small_tensors_stay_float32():
    rng = np.random.default_rng(2)
    small = rng.normal(size=(1, 32, 1, 1))
    assert small.size < SMALLEST_HALVED
    model = _conv_graph(small, rng.normal(size=1))
    assert store_weights_half(model) == 0
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.FLOAT}
