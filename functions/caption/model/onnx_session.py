"""One way to open an ONNX Runtime session for serving, and to fall back to PyTorch where the
bundle's ONNX files cannot serve, shared by the encoder and the decoder."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)
Served = TypeVar("Served")


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


def load_for_serving(part: str, paths: list[Path], build: Callable[[], Served],
                     instead: str | None = None) -> Served | None:
    """`build()` where the bundle's ONNX files for `part` ("encoder", "decoder") are there and
    load; else None, with the reason logged, and `instead` serves (default: the PyTorch
    `part`, slower)."""
    instead = instead or f"the PyTorch {part}"
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        log.warning(f"the bundle names an ONNX {part} it does not hold; {instead} serves",
                    extra={"files": missing})
        return None
    try:
        return build()
    except ImportError:
        log.info(f"onnxruntime is not installed; {instead} serves")
    except Exception as exc:  # a corrupt or incompatible file: serve, slower, and say why
        log.warning(f"the ONNX {part} could not be loaded; {instead} serves",
                    extra={"files": [str(p) for p in paths], "error": str(exc)[:500]})
    return None
