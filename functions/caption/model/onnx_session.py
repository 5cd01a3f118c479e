"""One way to open an ONNX Runtime session for serving, shared by the encoder and the decoder."""

from __future__ import annotations

from pathlib import Path


def open_session(path: Path, threads: int):
    """A CPU session on `threads` threads, which spin between the operations of a run and stop
    when the run ends. Imports onnxruntime, so callers catch ImportError where it may be
    missing."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning, the encoder's threads pick up each of its ~60 operations without being woken:
    # 5.9 against 7.9 ms per image alone (measured). Left spinning after the run, they took the
    # cores from the PyTorch decoder that ran next and doubled its time (measured), so they stop
    # when the run ends.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
