"""Graphs that keep their large float32 weights as float16 on disk, and compute in float32.

Each large float32 weight is written as float16 and read through a Cast back to float32. ONNX
Runtime folds those casts when it opens the graph (constant folding), so every run computes in
float32 on every CPU, exactly as the graph with its weights rounded to float16 would: no float16
arithmetic, which CPUs without it would emulate slowly. What it saves is the image's bytes
(the encoder 21.6 -> 10.9 MB, the detector 8.1 -> 4.2 MB); what it costs is the folding at
open (measured by `make bench`: graphs_ms) and the rounding of each weight to 11 significant
bits, whose effect on the captions `make evaluate` measures.

Small tensors (biases, quantization scales, shapes) stay as they are: they save little and a
quantization scale must be exact.
"""

from __future__ import annotations

import numpy as np

# float32 initializers with fewer elements than this stay float32.
SMALLEST_HALVED = 1024
HALF_SUFFIX = "__float16"


def store_weights_half(model, smallest: int = SMALLEST_HALVED) -> int:
    """Rewrite `model` (an onnx ModelProto, in place) so that each float32 initializer of at
    least `smallest` elements is stored as float16 and cast back to float32 under its own name;
    returns how many were. A graph already stored so changes no further."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    graph_inputs = {value.name for value in graph.input}
    casts = []
    for tensor in graph.initializer:
        if (tensor.data_type != TensorProto.FLOAT or tensor.name in graph_inputs
                or int(np.prod(tensor.dims)) < smallest):
            continue
        name, weights = tensor.name, numpy_helper.to_array(tensor)
        stored = f"{name}{HALF_SUFFIX}"
        tensor.CopyFrom(numpy_helper.from_array(weights.astype(np.float16), stored))
        casts.append(helper.make_node("Cast", [stored], [name], to=TensorProto.FLOAT,
                                      name=f"{stored}_to_float32"))
    # Casts first: a graph's nodes are in the order they run, and they read initializers only.
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(casts)
