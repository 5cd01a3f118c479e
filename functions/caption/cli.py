"""`python -m caption`: caption image files, folders and S3 objects or prefixes.

    python -m caption [options] PATH_OR_S3_URI...

Inputs: image files; folders (searched recursively; image files are recognised by their first
bytes, not their names); `s3://bucket/key` objects; `s3://bucket/prefix/` prefixes (every object
under them with an image extension). boto3's usual credentials and endpoint settings apply.

Output: text, or with --json one object per line: {"file", "captions": [{"text", "score"}] best
first, "labels": [{"name", "noun", "score"}], "guided_by", "objects": [{"name", "score", "box":
{"left", "top", "width", "height"}}] (upright pixels)}, or {"file", "error": {"code",
"message"}}. --output FILE.jsonl (or .csv) also writes each record as it is made; --resume skips
inputs already in that file. A progress bar (images, images/s, ETA, failures) goes to stderr when
it is a terminal. A failing input never stops the others; the exit status is 1 when any failed,
2 for bad options, 130 when interrupted (the output file stays consistent: run again with
--resume).

--write-metadata captions s3:// inputs in place, exactly as the Lambda's S3 handler does (same
code: conditional copy, headers and metadata kept, objects already captioned by this model
skipped); --dry-run lists what would be done without loading the model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from caption.errors import CaptionError
from caption.inputs import expand
from caption.records import RecordWriter, done_inputs
from caption.s3_location import S3Location, read_object
from caption.service import CaptionOptions, CaptionService
from caption.settings import Settings

BATCH = 8  # images decoded and encoded together; also bounds the bytes held at once


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m caption", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="PATH_OR_S3_URI")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--num-captions", type=int, default=None,
                        help="captions per image (default: 3, or the beam size if smaller)")
    parser.add_argument("--max-length", type=int, default=20, help="words per caption")
    parser.add_argument("--no-guidance", dest="guidance", action="store_false",
                        help="caption without steering by the classifier's labels")
    parser.add_argument("--object-threshold", type=float, default=None,
                        help="the score an object needs to be listed, 0-1 (default: the "
                             "model's)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a bundle directory or a seed checkpoint (default: the bundled model)")
    parser.add_argument("--output", type=Path, default=None,
                        help="also write every record to this .jsonl or .csv file")
    parser.add_argument("--resume", action="store_true",
                        help="skip inputs that already have a record in --output")
    parser.add_argument("--write-metadata", action="store_true",
                        help="caption s3:// objects in place, as the Lambda's S3 handler does")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be done; load no model, write nothing")
    return parser


class _S3:
    """One boto3 client, made on first use (files alone never import boto3)."""

    def __init__(self):
        self.client = None

    def __call__(self) -> Any:
        if self.client is None:
            from caption.runtime import s3_client

            self.client = s3_client()
        return self.client


def _read(source: str, settings: Settings, s3: _S3) -> bytes:
    if source.startswith("s3://"):
        return read_object(s3(), S3Location.parse(source), settings.max_object_bytes)
    # os.path, not pathlib: pathlib interns every path component it parses, which grows with
    # every input of a 100,000-file run.
    if not os.path.isfile(source):
        raise CaptionError(404, "file_not_found", f"{source} is not a file")
    if os.path.getsize(source) > settings.max_object_bytes:
        raise CaptionError(413, "payload_too_large",
                           f"{source} is larger than {settings.max_object_bytes:,} bytes")
    with open(source, "rb") as handle:
        return handle.read()


def _caption_batch(sources: list[str], service: CaptionService, options: CaptionOptions,
                   settings: Settings, s3: _S3) -> list[dict]:
    """Read every source (a bad one fails alone), caption the readable ones as one batch."""
    read: list[bytes | CaptionError] = []
    for source in sources:
        try:
            read.append(_read(source, settings, s3))
        except CaptionError as exc:
            # Without its traceback: kept in this frame's list, it would form a reference cycle
            # that outlives the batch until a full garbage collection.
            read.append(exc.with_traceback(None))
    results = iter(service.caption_many([d for d in read if isinstance(d, bytes)], options))
    records = []
    for source, data in zip(sources, read, strict=True):
        result = next(results) if isinstance(data, bytes) else data
        if isinstance(result, CaptionError):
            records.append({"file": source, **result.to_json()})
            continue
        records.append({
            "file": source,
            "captions": [{"text": c.text, "score": c.score} for c in result.captions],
            "labels": [{"name": label.name, "noun": label.noun, "score": label.score}
                       for label in result.labels],
            "guided_by": result.guided_by,
            "objects": [found.to_json() for found in result.objects]})
    return records


def _write_metadata_batch(sources: list[str], service: CaptionService, options: CaptionOptions,
                          settings: Settings, s3: _S3) -> list[dict]:
    """The Lambda's own S3 path (caption_objects) on s3:// inputs; others are refused."""
    from caption.s3_captioning import ObjectRef, TransientS3Error, caption_objects

    refs, records = [], {}
    for source in sources:
        if not source.startswith("s3://"):
            records[source] = {"file": source, "error": {
                "code": "not_an_s3_object", "message": "--write-metadata needs s3:// inputs"}}
            continue
        try:
            location = S3Location.parse(source)
        except CaptionError as exc:
            records[source] = {"file": source, **exc.to_json()}
            continue
        refs.append((source, ObjectRef(location.bucket, location.key)))
    outcomes = caption_objects(s3(), service, [ref for _, ref in refs], options,
                               settings.max_object_bytes)
    for (source, _), outcome in zip(refs, outcomes, strict=True):
        if isinstance(outcome, TransientS3Error):
            records[source] = {"file": source,
                               "error": {"code": "s3_error", "message": str(outcome)}}
        elif outcome.status == "failed":
            records[source] = {"file": source,
                               "error": {"code": "failed", "message": outcome.reason}}
        else:
            records[source] = {"file": source, **outcome.to_json()}
            records[source].pop("bucket", None)
            records[source].pop("key", None)
    return [records[source] for source in sources]


def _print_record(record: dict, as_json: bool, out) -> None:
    source = record["file"]
    if as_json:
        print(json.dumps(record), file=out, flush=True)
    elif "error" in record:
        print(f"{source}: error {record['error']['code']}: {record['error']['message']}",
              file=out, flush=True)
    elif "status" in record:
        # "skipped (already captioned by this model): a cat ...": what happened, why, and the
        # caption the object holds now.
        why = f" ({record['reason']})" if record.get("reason") else ""
        caption = f": {record['caption']}" if record.get("caption") else ""
        print(f"{source}: {record['status']}{why}{caption}", file=out, flush=True)
    else:
        print(source, file=out)
        for c in record["captions"]:
            print(f"  {c['score']:.3f}  {c['text']}", file=out, flush=True)
        if record["labels"]:
            seen = ", ".join(f"{label['noun']} ({label['name']}, {label['score']:.2f})"
                             for label in record["labels"])
            print(f"  labels: {seen}", file=out, flush=True)
        if record.get("objects"):
            found = ", ".join(f"{o['name']} {o['score']:.2f} at {o['box']['left']},"
                              f"{o['box']['top']} {o['box']['width']}x{o['box']['height']}"
                              for o in record["objects"])
            print(f"  objects: {found}", file=out, flush=True)


def _batches(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _dry_run(inputs: Iterator[str], args, settings: Settings, s3: _S3, out) -> int:
    from caption.metadata import MODEL
    from caption.model.bundle import read_config

    model_id = None
    if args.write_metadata:
        model_id = read_config(settings.model_dir).info.id  # without loading the graphs
    for source in inputs:
        action = "caption"
        if args.write_metadata and source.startswith("s3://"):
            location = S3Location.parse(source)
            head = s3().head_object(Bucket=location.bucket, Key=location.key)
            captioned = head.get("Metadata", {}).get(MODEL) == model_id
            action = "skip: already captioned by this model" if captioned else "write metadata"
        elif args.write_metadata:
            action = "error: --write-metadata needs s3:// inputs"
        print(json.dumps({"file": source, "would": action}) if args.json
              else f"{source}: would {action}", file=out, flush=True)
    return 0


class _NoProgress:
    """The progress bar's calls, doing nothing: output that is not a terminal gets no bar, and
    the one-image process does not import tqdm for it (about 20 ms)."""

    def update(self, _count: int) -> None:
        pass

    def set_postfix(self, **_fields) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None):
    from tqdm import tqdm

    return tqdm(total=total, unit="image", file=sys.stderr, smoothing=0.1)


def run(argv: list[str] | None = None, out=sys.stdout) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.model is not None:
        settings = replace(settings, model_dir=args.model)
    num = args.num_captions if args.num_captions is not None else min(3, args.beam_size)
    options = CaptionOptions(args.beam_size, num, args.max_length, args.guidance,
                             args.object_threshold)
    try:
        options.validated()
        if args.resume and args.output is None:
            raise CaptionError(400, "invalid_option", "--resume needs --output")
        if args.output is not None and args.output.suffix not in (".jsonl", ".csv"):
            raise CaptionError(400, "invalid_option", "--output must end in .jsonl or .csv")
    except CaptionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    s3 = _S3()
    done = done_inputs(args.output) if args.resume else set()
    inputs = (source for source in expand(args.inputs, s3) if source not in done)
    if args.dry_run:
        return _dry_run(inputs, args, settings, s3, out)

    from caption.model.bundle import BundleError  # after argument errors, which need no model
    from caption.runtime import load_service

    show_progress = sys.stderr.isatty()
    total = sum(1 for s in expand(args.inputs, s3) if s not in done) if show_progress else None
    try:
        # The API's own loader, so one photo gets the same captions from both. No warm-up: the
        # first image pays for it instead, and one image is the common case here.
        service: CaptionService = load_service(settings, warm_up=False)[0]
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    writer = RecordWriter(args.output, append=args.resume) if args.output else None
    step = _write_metadata_batch if args.write_metadata else _caption_batch
    progress = _progress_bar(total) if show_progress else _NoProgress()
    failures = 0
    try:
        for batch in _batches(inputs, BATCH):
            for record in step(batch, service, options, settings, s3):
                failures += "error" in record
                _print_record(record, args.json, out)
                if writer is not None:
                    writer.write(record)
            progress.update(len(batch))
            progress.set_postfix(failures=failures, refresh=False)
    except KeyboardInterrupt:
        progress.close()
        print("interrupted: every finished input is recorded; run again with --resume",
              file=sys.stderr)
        return 130
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    return 1 if failures else 0
