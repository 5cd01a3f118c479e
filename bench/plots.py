"""The performance page's plots, drawn from `make bench`'s figures (bench/results/latest.json)
into docs/performance/ as SVG: latency against image size for ours and the seed's pipeline,
where a cold start goes, and throughput. `python -m bench.report` draws them with the table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

SETS = (("flickr_sized", "Flickr8k photo\n224×224"), ("flickr_original_size",
                                                      "Flickr8k photo\n500×375"),
        ("phone_12mp", "phone photo\n12 MP"))


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the file: an unchanged figure is an unchanged file.
    figure.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    return path


def latency_by_size(results: dict, path: Path) -> Path:
    seed = results["seed"]
    megapixels = [seed[key]["size"][0] * seed[key]["size"][1] / 1e6 for key, _ in SETS]
    figure, axes = plt.subplots(figsize=(6.4, 3.8))
    for field, label, style in (("seed_p50_ms", "the seed app's pipeline", "o-"),
                                ("ours_p50_ms", "ours (the API's path)", "s-"),
                                ("floor_p50_ms", "our runtime floor", "^--")):
        values = [seed[key].get(field) for key, _ in SETS]
        if None not in values:
            axes.plot(megapixels, values, style, label=label)
    for x, (key, name) in zip(megapixels, SETS, strict=True):
        axes.annotate(f"{name.splitlines()[1]}: {seed[key]['speedup']:.1f}x faster",
                      (x, seed[key]["ours_p50_ms"]), textcoords="offset points",
                      xytext=(0, 12), ha="center", fontsize=8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("image size (megapixels)")
    axes.set_xlim(megapixels[0] / 2, megapixels[-1] * 3)
    axes.set_ylabel("bytes to captions, p50 (ms)")
    axes.set_title("Latency per image against its size")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    return _save(figure, path)


def cold_start(results: dict, path: Path) -> Path:
    cold = results["cold"]
    parts = (("import_libraries_ms", "import libraries"), ("import_ours_ms", "import our code"),
             ("bundle_load_ms", "open the graphs"), ("warm_up_ms", "warm-up inference"))
    rows = [("this process (host)", [cold[key] for key, _ in parts])]
    before = results.get("before", {}).get("cold")
    if before:
        rows.append((f"before ({results['before']['revision']}, PyTorch)",
                     [before.get("import_torch_ms", 0) + before.get("import_other_ms", 0), 0,
                      before["bundle_load_ms"], before["warm_up_ms"]]))
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    figure, axes = plt.subplots(figsize=(6.4, 1.6 + 0.6 * len(rows)))
    for row, (_, values) in enumerate(rows):
        left = 0.0
        for (_, label), value, colour in zip(parts, values, colours, strict=True):
            axes.barh(row, value, left=left, color=colour, label=label if row == 0 else None)
            left += value
        axes.text(left + 10, row, f"{left:.0f} ms", va="center", fontsize=8)
    images = [("the image (Lambda's INIT)", results.get("image"))]
    if before and results["before"].get("image"):
        images.append(("the image before", results["before"]["image"]))
    for name, image in images:
        if not image:
            continue
        axes.barh(len(rows), image["init_ms"], color="grey",
                  label="INIT in the image" if name == images[0][0] else None)
        axes.text(image["init_ms"] + 10, len(rows), f"{image['init_ms']:.0f} ms", va="center",
                  fontsize=8)
        rows.append((name, []))
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.invert_yaxis()
    axes.set_xlabel("milliseconds")
    axes.set_title("Where a cold start goes")
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    axes.set_xlim(0, axes.get_xlim()[1] * 1.12)  # room for the totals
    return _save(figure, path)


def throughput(results: dict, path: Path) -> Path:
    bars = [("CLI on a folder\n(whole process)", results["cli_folder"]["images_per_s"]),
            ("Batch Operations\n(warm handler, moto)", results["warm"]["batch_images_per_s"])]
    figure, axes = plt.subplots(figsize=(5.2, 2.8))
    axes.bar([name for name, _ in bars], [value for _, value in bars], color="tab:green")
    for i, (_, value) in enumerate(bars):
        axes.text(i, value, f"{value:.1f}", ha="center", va="bottom", fontsize=9)
    axes.set_ylabel("images per second")
    axes.set_title(f"Throughput on {results['machine']['threads']} threads")
    return _save(figure, path)


def draw(results: dict, directory: Path) -> list[Path]:
    return [latency_by_size(results, directory / "latency-by-size.svg"),
            cold_start(results, directory / "cold-start.svg"),
            throughput(results, directory / "throughput.svg")]
