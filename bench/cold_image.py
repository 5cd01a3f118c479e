"""`python -m bench.cold_image TAG [TAG ...]`: cold starts of built images, each in fresh
containers, in alternating rounds (a machine's drift lands on every image alike). Each round
starts one container of each image and sends it its first event: the HTTP API event with a
photo (`events/api-http-upload.json`), or, with `--event s3`, the S3 notification of the sample
photo (`events/s3-put.json`), uploaded again before each round to a moto S3 server on
127.0.0.1, which the function reads and captions in place.

For each image: Lambda's INIT as the emulator reports it, and the first invocation from request
to answer as the caller waits for it (INIT included, since the emulator initialises on the
first invocation). Build the images first (`make image-test` tags
localhost/caption-lambda:image-test; `podman build -t NAME` an older checkout). Writes JSON to
stdout, or to `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from infra.image_test import (
    BUCKET,
    KEY,
    SAMPLE,
    Container,
    find_engine,
    init_report,
    load_event,
)
from infra.local_lambda import MotoServer


def cold_once(engine: list[str], tag: str, event: dict, s3_url: str) -> dict:
    container = Container(engine, s3_url, tag)
    try:
        answer, first_ms = container.invoke(event)
        time.sleep(0.3)  # the emulator writes its INIT report as the invocation starts
        report = init_report(container.logs())
    finally:
        container.stop()
    return {"init_ms": report.get("init_ms"), "first_ms": round(first_ms, 1),
            "answered": answer.get("statusCode") or answer.get("errorType")
            or [r.get("status") for r in answer.get("results", [])]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_image", description=__doc__)
    parser.add_argument("tags", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--event", choices=("api", "s3"), default="api")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    engine = find_engine()
    event = load_event("api-http-upload" if args.event == "api" else "s3-put")
    runs: dict[str, list[dict]] = {tag: [] for tag in args.tags}
    with MotoServer() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket=BUCKET)
        for _ in range(args.rounds):
            for tag in args.tags:
                s3.put_object(Bucket=BUCKET, Key=KEY, Body=SAMPLE.read_bytes(),
                              ContentType="image/jpeg")  # uncaptioned again
                runs[tag].append(cold_once(engine, tag, event, moto.url))
    figures = {"event": args.event, "rounds": args.rounds, "images": {
        tag: {"init_ms_median": statistics.median(r["init_ms"] for r in found),
              "first_ms_median": statistics.median(r["first_ms"] for r in found),
              "runs": found} for tag, found in runs.items()}}
    text = json.dumps(figures, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
