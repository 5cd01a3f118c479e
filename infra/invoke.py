"""`make invoke EVENT=events/<name>.json`: `sam local invoke` for machines without Docker.

Runs the handler inside the real Lambda runtime (the Runtime Interface Emulator from the
aws-sam-cli wheel driving `python -m awslambdaric caption.app.handler`) against a local S3 (a
moto server). For events that name created objects (S3's notification, its EventBridge event,
SNS around either, each direct or through SQS) and Batch Operations tasks, it first uploads
events/sample.jpg at every bucket and key the event names, then prints the function's response
and each object's metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import unquote_plus

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions"),
                str(Path(__file__).resolve().parents[1])]

from caption.object_events import UnsupportedEvent, created_objects  # noqa: E402
from caption.sqs_events import is_sqs_event  # noqa: E402
from infra.local_lambda import REPO, LambdaRuntime, MotoServer, find_rie  # noqa: E402

SAMPLE = REPO / "events" / "sample.jpg"


def objects_named(event: dict) -> list[tuple[str, str]]:
    """(bucket, key) of every object the event names as created, read as the function reads it
    (caption.object_events: S3's notification, its EventBridge event, SNS around either, each
    direct or through SQS), or as a Batch Operations task."""
    if "tasks" in event:
        return [(t.get("s3Bucket") or t["s3BucketArn"].split(":::", 1)[-1],
                 unquote_plus(t["s3Key"])) for t in event["tasks"]]
    if is_sqs_event(event):
        return [named for record in event["Records"]
                for named in objects_named(json.loads(record["body"]))]
    try:
        return [(ref.bucket, ref.key) for ref in created_objects(event).refs]
    except UnsupportedEvent:  # an API request, or an event that creates nothing
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke EVENT=", description=__doc__)
    parser.add_argument("event", type=Path)
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())
    rie = find_rie()
    if rie is None:
        print("the Runtime Interface Emulator is missing: run `make invoke` (it installs "
              "aws-sam-cli into .venv-tools)", file=sys.stderr)
        return 2
    with MotoServer() as moto:
        s3 = moto.client()
        targets = objects_named(event)
        for bucket, key in targets:
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=SAMPLE.read_bytes(),
                          ContentType="image/jpeg")
            print(f"seeded s3://{bucket}/{key} with {SAMPLE.relative_to(REPO)}", file=sys.stderr)
        function = LambdaRuntime(rie, moto.url)
        try:
            response = function.invoke(event)
        finally:
            logs = function.stop()
        print(logs, file=sys.stderr)
        print(json.dumps(response, indent=2))
        for bucket, key in targets:
            head = s3.head_object(Bucket=bucket, Key=key)
            print(json.dumps({"object": f"s3://{bucket}/{key}", "metadata": head["Metadata"]},
                             indent=2))
    return 1 if "errorType" in response else 0


if __name__ == "__main__":
    sys.exit(main())
