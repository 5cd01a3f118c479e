"""Warm latency: the model alone at several beams, the handler for API and S3 events, and
Batch Operations throughput; then this process's peak RSS."""

from __future__ import annotations

import json
import os
import sys

from bench.common import (
    EVENTS,
    Context,
    caption_latency,
    peak_rss_mb,
    percentiles,
    photos,
    timed,
)

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "ERROR"})

import caption.app as app  # noqa: E402

REPEAT = int(sys.argv[1]) if len(sys.argv) > 1 else 30


def main() -> None:
    figures: dict = {"model": {f"beam{b}": caption_latency(app.service.captioner, b, REPEAT)
                               for b in (1, 3, 5)}}
    figures["model"]["beam3_guided"] = caption_latency(app.service.captioner, 3, REPEAT, True)

    api_event = json.loads((EVENTS / "api-http-upload.json").read_text())
    figures["handler_api"] = percentiles(timed(lambda: app.handler(api_event, Context()), REPEAT))

    from moto import mock_aws

    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        app.use_s3(s3)
        s3.create_bucket(Bucket="caption-demo-bucket")
        sample = (EVENTS / "sample.jpg").read_bytes()
        key = "holiday photos/chelsea the cat.jpg"
        s3_event = json.loads((EVENTS / "s3-put.json").read_text())

        def s3_once():
            app.handler(s3_event, Context())

        samples = []
        for _ in range(max(5, REPEAT // 3)):
            s3.put_object(Bucket="caption-demo-bucket", Key=key, Body=sample)  # uncaptioned again
            samples.extend(timed(s3_once, 1))
        figures["handler_s3"] = percentiles(samples)

        batch = json.loads((EVENTS / "batch-task-v2.json").read_text())
        task = batch["tasks"][0]
        images = photos()
        batch["tasks"] = []
        for i in range(20):
            s3.put_object(Bucket="caption-demo-bucket", Key=f"backfill/{i}.jpg",
                          Body=images[i % len(images)])
            batch["tasks"].append({**task, "taskId": str(i), "s3Key": f"backfill/{i}.jpg"})
        [elapsed] = timed(lambda: app.handler(batch, Context()), 1)
        figures["batch_images_per_s"] = round(len(batch["tasks"]) / elapsed, 2)

    figures["peak_rss_mb"] = peak_rss_mb()
    figures["threads"] = app.init_timings["threads"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
