"""`make bench`: cold start, warm latency, throughput and memory, and the seed app's pipeline
measured against ours in alternating rounds of one process (bench/seed_comparison.py), on
Flickr8k photos (as ../shared holds them, 224x224, and at Flickr's usual 500x375) and on
12-megapixel phone photos. Prints a table and writes bench/results/latest.json.

Every figure comes from a fresh child process with BENCH_THREADS (default 2) encoder threads.
The container image's figures (size, INIT) come from `make image-test`, which `make bench` runs
first where a container engine is there (bench/results/image.json).
Absolute times drift on shared machines; the ratios, measured side by side, are the stable ones.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import onnxruntime

from bench.common import REPO, THREADS, child_env, run_child
from caption.model.bundle import CONFIG_FILE, read_config

IMAGE_FIGURES = REPO / "bench" / "results" / "image.json"
BEFORE_FIGURES = REPO / "bench" / "results" / "before.json"
# The last revision before the COCO detector (objects), measured the same way.
OBJECTS_BEFORE_FIGURES = REPO / "bench" / "results" / "before-objects.json"


def _by_graph(opened_ms: dict[str, float]) -> str:
    """What opening each graph took, the costliest first."""
    return ", ".join(f"{name} {ms:.0f}" for name, ms in sorted(
        opened_ms.items(), key=lambda item: -item[1])) + " ms"


def _image_contents(image: dict) -> list[tuple[str, str]]:
    """What INIT spends on each graph in the image, and what the image holds (the image
    test's figures, where it measured them)."""
    rows = []
    if image.get("graphs_ms"):
        rows.append(("image: INIT's bundle load, opening each graph",
                     _by_graph(image["graphs_ms"])))
    if image.get("layers_mb"):
        layers = image["layers_mb"]
        code = layers.get("code", 0) + layers.get("code, compiled", 0)
        rows.append(("image: our layers, dependencies / model / code; the base image",
                     f"{layers.get('dependencies', 0):.0f} / {layers.get('model', 0):.1f} / "
                     f"{code:.1f} MB; {image['base_mb']:.0f} MB"))
    if image.get("largest_files_mb"):
        rows.append(("image: largest files", ", ".join(
            f"{path.rsplit('/', 1)[-1].split('.cpython')[0]} {mb:.1f}"
            for path, mb in list(image["largest_files_mb"].items())[:6]) + " MB"))
    return rows


def cli_process(repeat: int) -> dict:
    """The whole one-image `python -m caption` process, start to exit."""
    walls = [_cli_once() for _ in range(repeat)]
    return {"p50_ms": round(statistics.median(walls), 1), "n": repeat}


def _cli_once() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "caption", "--json", "events/sample.jpg"], cwd=REPO,
                   env=child_env(), check=True, capture_output=True, timeout=300)
    return 1000 * (time.perf_counter() - started)


def cli_folder(count: int = 48) -> dict:
    """`python -m caption FOLDER --output FILE` on a folder of real photos, start to exit."""
    import shutil
    import tempfile

    from bench.seed_comparison import flickr_sized

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "photos"
        folder.mkdir()
        for i, data in enumerate(flickr_sized(count)):
            (folder / f"{i:04d}.jpg").write_bytes(data)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "caption", str(folder), "--output",
                        str(Path(work) / "out.jsonl")], cwd=REPO, env=child_env(), check=True,
                       capture_output=True, timeout=900)
        wall = time.perf_counter() - started
        shutil.rmtree(folder)
    return {"images": count, "wall_s": round(wall, 2), "images_per_s": round(count / wall, 2)}


def runtime_bundle() -> dict:
    """What serving reads of the bundle (the graphs and model.json): what the image carries."""
    directory = REPO / "layers" / "model"
    graphs = read_config(directory).graphs
    names = [name for name in vars(graphs).values() if name]  # every graph model.json names
    sizes = {name: (directory / name).stat().st_size for name in [*names, CONFIG_FILE]}
    return {"files": sizes, "total_mb": round(sum(sizes.values()) / 1e6, 1)}


def table(results: dict) -> str:
    cold, warm, seed = results["cold"], results["warm"], results["seed"]
    enc = results["encoder"]["encoder"]
    image = results.get("image")
    rows = []
    if image:
        rows += [("image: size", f"{image['image_mb']:.0f} MB"),
                 ("image: INIT (Lambda's init phase, in the emulator)",
                  f"{image['init_ms']:.0f} ms"),
                 ("image: first API request (INIT and the web framework's load included) / "
                  "warm", f"{image['first_ms']:.0f} / {image['warm_ms']:.0f} ms")]
        rows += _image_contents(image)
    rows += [
        ("runtime bundle (graphs and model.json)", f"{results['bundle']['total_mb']:.1f} MB"),
        ("cold: import libraries (NumPy, ONNX Runtime, Pillow, Powertools)",
         f"{cold['import_libraries_ms']:.0f} ms"),
        ("cold: import our modules", f"{cold['import_ours_ms']:.0f} ms"),
        ("cold: bundle load", f"{cold['bundle_load_ms']:.0f} ms"),
        *([("cold: bundle load, opening each graph (the rest: model.json, word lists)",
            _by_graph(cold["graphs_ms"]))] if cold.get("graphs_ms") else []),
        ("cold: warm-up inference at init", f"{cold['warm_up_ms']:.0f} ms"),
        ("cold: init total (process start to ready)", f"{cold['init_total_ms']:.0f} ms"),
        ("cold: first request after init", f"{cold['first_request_ms']:.0f} ms"),
        *([("cold: first API request after it (imports FastAPI and Mangum, then answers)",
            f"{cold['first_api_request_ms']:.0f} ms")] if "first_api_request_ms" in cold else []),
        ("one-image CLI process (python -m caption)", f"{results['cli']['p50_ms']:.0f} ms"),
    ]
    before = results.get("before")
    if before:
        name = f"before ({before['revision']}, serving with PyTorch)"
        cold_before = before["cold"]
        rows += [(f"cold: init total, {name}",
                  f"{cold_before['init_total_ms']:.0f} ms "
                  f"(import torch {cold_before['import_torch_ms']:.0f} ms)"),
                 (f"one-image CLI process, {name}", f"{before['cli']['p50_ms']:.0f} ms")]
        if "image" in before:
            rows += [(f"image: size, {name}", f"{before['image']['image_mb']} MB"),
                     (f"image: INIT, {name}", f"{before['image']['init_ms']} ms")]
        if "warm" in before:
            api = before["warm"]["handler_api"]
            rows.append((f"warm handler, API event, {name} (p50 / p95)",
                         f"{api['p50_ms']:.1f} / {api['p95_ms']:.1f} ms"))
    previous = results.get("before_objects")
    if previous:
        name = f"before objects ({previous['revision']})"
        guided, api = previous["warm"]["model"]["beam3_guided"], previous["warm"]["handler_api"]
        rows += [(f"warm model, beam 3, guided, {name} (p50 / p95)",
                  f"{guided['p50_ms']:.1f} / {guided['p95_ms']:.1f} ms"),
                 (f"warm handler, API event, {name} (p50 / p95)",
                  f"{api['p50_ms']:.1f} / {api['p95_ms']:.1f} ms"),
                 (f"cold: init total, {name}", f"{previous['cold']['init_total_ms']:.0f} ms"),
                 (f"one-image CLI process, {name}", f"{previous['cli']['p50_ms']:.0f} ms")]
        if "image" in previous:
            rows += [(f"image: size, {name}", f"{previous['image']['image_mb']} MB"),
                     (f"image: INIT, {name}", f"{previous['image']['init_ms']} ms")]
        side = previous.get("alternating")
        if side:
            rows.append((f"warm handler, API event, p50: today vs {name}, in "
                         f"{side['rounds']} alternating rounds",
                         f"{side['now_p50_ms']:.1f} vs {side['before_p50_ms']:.1f} ms: "
                         f"**{side['ratio']:.2f}x**"))
    rows += [
        (f"CLI on a folder of {results['cli_folder']['images']} photos (whole process)",
         f"{results['cli_folder']['images_per_s']:.1f} images/s"),
    ]
    for beam in ("beam1", "beam3", "beam5", "beam3_guided"):
        m = warm["model"][beam]
        name = beam.replace("beam", "beam ").replace("_guided", ", guided (the default)")
        rows.append((f"warm model, {name} (p50 / p95)",
                     f"{m['p50_ms']:.1f} / {m['p95_ms']:.1f} ms"))
    for name, label in (("handler_api", "warm handler, API event"),
                        ("handler_s3", "warm handler, S3 event (moto)")):
        rows.append((f"{label} (p50 / p95)",
                     f"{warm[name]['p50_ms']:.1f} / {warm[name]['p95_ms']:.1f} ms"))
    rows += [
        ("Batch Operations throughput", f"{warm['batch_images_per_s']:.1f} images/s"),
        ("peak RSS (warm run)", f"{warm['peak_rss_mb']:.0f} MB"),
        ("decoding a 40 MP half-transparent PNG: peak above the process, time",
         f"{results['decode']['png_40mp_rgba']['peak_above_baseline_mb']:.0f} MB, "
         f"{results['decode']['png_40mp_rgba']['seconds']:.2f} s"),
        ("decoding a 12 MP JPEG: peak above the process, time",
         f"{results['decode']['jpeg_12mp']['peak_above_baseline_mb']:.0f} MB, "
         f"{results['decode']['jpeg_12mp']['seconds']:.3f} s"),
    ]
    for name, label in (("onnx_int8", "encoder, int8 (serves where the CPU has VNNI)"),
                        ("onnx", "encoder, float32 (serves elsewhere)")):
        if name not in enc:  # a bundle without the int8 graph
            continue
        rows.append((f"{label}: 1 image / per image in 8; set-up",
                     f"{enc[name]['batch1_ms']:.1f} / {enc[name]['batch8_per_image_ms']:.1f} ms; "
                     f"{enc[name]['build_ms']:.0f} ms"))
    dec = results["decoder"].get("decoder", {})
    for name, label in (("onnx", "decoder, int8 weights"),):
        rows.append((f"{label}: step on 6 / 3 rows; search per photo",
                     f"{dec[name]['step_6_rows']['p50_ms']:.2f} / "
                     f"{dec[name]['step_3_rows']['p50_ms']:.2f} ms; "
                     f"{dec[name]['search_per_photo']['p50_ms']:.1f} ms"))
    for name, label in (("flickr_sized", "Flickr8k photo as shipped (224x224)"),
                        ("flickr_original_size", "Flickr8k photo at 500x375"),
                        ("phone_12mp", "12 MP JPEG")):
        figures = seed[name]
        rows.append((f"{label}: seed app vs ours (p50, bytes to captions)",
                     f"{figures['seed_p50_ms']:.0f} vs {figures['ours_p50_ms']:.1f} ms: "
                     f"**{figures['speedup']:.1f}x**"))
        rows.append((f"{label}: ours, decoding / model (p50)",
                     f"{figures['ours_decode_p50_ms']:.1f} / "
                     f"{figures['ours_model_p50_ms']:.1f} ms"))
        if "floor_p50_ms" in figures:
            rows.append((f"{label}: seed app vs our runtime floor (p50)",
                         f"{figures['floor_seed_p50_ms']:.0f} vs {figures['floor_p50_ms']:.1f} "
                         f"ms: {figures['floor_speedup']:.1f}x"))
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=30, help="warm samples per figure")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "latest.json"))
    args = parser.parse_args(argv)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                    platform.machine(), "threads": THREADS,
                    "onnxruntime": onnxruntime.__version__},
        "bundle": runtime_bundle(),
        "cold": run_child("bench.cold"),
        "cli": cli_process(3),
        "cli_folder": cli_folder(),
        "warm": run_child("bench.warm", str(args.repeat)),
        "encoder": run_child("bench.encoder"),
        "decoder": run_child("bench.decoder"),
        "seed": run_child("bench.seed_comparison", str(max(2, args.repeat // 10))),
        "decode": run_child("bench.decode_memory"),
    }
    results["machine"]["cpu_features"] = results["encoder"]["cpu_features"]
    for key, path in (("image", IMAGE_FIGURES), ("before", BEFORE_FIGURES),
                      ("before_objects", OBJECTS_BEFORE_FIGURES)):
        if path.exists():
            results[key] = json.loads(path.read_text())
    results["table"] = table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(results["table"])
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
