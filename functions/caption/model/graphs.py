"""Opening the bundle's ONNX graphs for serving: one way, with the checks that make a wrong or
stale file fail at load with a message that says what to do, not later with wrong captions."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from caption.model.bundle import (
    EXPORT_COMMAND,
    PART_KEY,
    STAMP_KEY,
    BundleConfig,
    BundleError,
)


def open_session(path: Path, threads: int):
    """A CPU session on `threads` threads, which spin between the operations of a run and stop
    when the run ends."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning, the encoder's threads pick up each of its ~60 operations without being woken:
    # 5.9 against 7.9 ms per image alone (measured). Left spinning after the run, they would take
    # the cores from the decoder's run that follows, so they stop when the run ends.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def open_graph(directory: Path, config: BundleConfig, part: str, threads: int,
               fix: str = EXPORT_COMMAND, stamp: str | None = None,
               opened: dict[str, float] | None = None):
    """The session for the graph model.json names as `part` (a field of Graphs), once its
    stamp says it was exported from the checkpoint model.json describes (or, given `stamp`,
    from those weights: the detector's own). fix: the command that makes the graph again,
    which the errors name. opened: where to note how long opening it took (ms), so INIT can
    say what each graph costs."""
    started = time.perf_counter()
    expected = config.weights_sha256 if stamp is None else stamp
    name = getattr(config.graphs, part)
    if name is None:
        raise BundleError(f"{directory}: model.json names no {part} graph; export it with "
                          f"`{fix} {directory}`")
    path = Path(directory) / name
    if not path.is_file():
        raise BundleError(f"{directory}: model.json names {name} as the {part} graph, but "
                          f"there is no such file; export it with `{fix} {directory}`")
    try:
        session = open_session(path, threads)
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        raise BundleError(f"{path} is not a graph ONNX Runtime can run: {str(exc)[:300]}"
                          ) from None
    found = session.get_modelmeta().custom_metadata_map
    if found.get(PART_KEY) != part or found.get(STAMP_KEY) != expected:
        raise BundleError(
            f"{path} is stale: it says it is the {found.get(PART_KEY)!r} graph of weights "
            f"{str(found.get(STAMP_KEY))[:12]}, and model.json wants the {part!r} graph of "
            f"weights {str(expected)[:12]}; export it again with "
            f"`{fix} {directory}`")
    if opened is not None:
        opened[part] = round(1000 * (time.perf_counter() - started), 1)
    return session


@dataclass(frozen=True)
class GraphRequest:
    """One graph to open: its part (a field of Graphs), the threads its runs get, the command
    that makes it again and, where it is not the checkpoint's, the weights it must come from."""

    part: str
    threads: int = 1
    fix: str = EXPORT_COMMAND
    stamp: str | None = None


def open_graphs(directory: Path, config: BundleConfig, requests: list[GraphRequest],
                workers: int, opened: dict[str, float] | None = None) -> dict:
    """The sessions of `requests`, by part, opened `workers` at a time: ONNX Runtime builds a
    session without the GIL, so on 2 cores the seven graphs of bundle 2026.12.07.1 opened in
    about 60 ms instead of 90 (measured, 5 runs each). The first request's error is the one
    raised."""
    def one(request: GraphRequest):
        return open_graph(directory, config, request.part, request.threads, request.fix,
                          request.stamp, opened)

    if workers <= 1:
        return {request.part: one(request) for request in requests}
    with ThreadPoolExecutor(workers, thread_name_prefix="open-graph") as pool:
        futures = [(request.part, pool.submit(one, request)) for request in requests]
        return {part: future.result() for part, future in futures}
