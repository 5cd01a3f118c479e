"""One way to open an ONNX Runtime session for serving, shared by the encoder and the decoder."""

from __future__ import annotations

from pathlib import Path


def open_session(path: Path, threads: int):
    """A CPU session on `threads` threads that sleep between runs. Imports onnxruntime, so
    callers catch ImportError where it may be missing."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Threads must not spin between runs: PyTorch and the other session run on the same cores
    # right after, and spinning threads made the PyTorch decoder take twice as long (measured).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
