"""`python -m caption`: caption image files or s3:// objects from the command line.

    python -m caption [--json] [--beam-size N] [--num-captions K] [--model PATH] IMAGE_OR_S3_URI...

With --json, one object per line: {"file", "captions": [{"text", "score"}] best first,
"labels": [{"name", "noun", "score"}], "guided_by"}, or {"file", "error": {"code", "message"}}.
A failing input never stops the others; the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from caption.errors import CaptionError
from caption.s3_location import S3Location, read_object
from caption.service import CaptionOptions, CaptionService
from caption.settings import Settings

BATCH = 8  # images decoded and encoded together


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m caption",
                                     description="Describe images in a sentence.")
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_S3_URI")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--beam-size", type=int, default=3)
    parser.add_argument("--num-captions", type=int, default=None,
                        help="captions per image (default: 3, or the beam size if smaller)")
    parser.add_argument("--max-length", type=int, default=20, help="words per caption")
    parser.add_argument("--no-guidance", dest="guidance", action="store_false",
                        help="caption without steering by the classifier's labels")
    parser.add_argument("--model", type=Path, default=None,
                        help="a bundle directory or a seed checkpoint (default: the bundled model)")
    return parser


def _read(source: str, settings: Settings, s3_holder: list) -> bytes:
    if source.startswith("s3://"):
        if not s3_holder:
            from caption.runtime import s3_client
            s3_holder.append(s3_client())
        return read_object(s3_holder[0], S3Location.parse(source), settings.max_object_bytes)
    path = Path(source)
    if not path.is_file():
        raise CaptionError(404, "file_not_found", f"{source} is not a file")
    if path.stat().st_size > settings.max_object_bytes:
        raise CaptionError(413, "payload_too_large",
                           f"{source} is larger than {settings.max_object_bytes:,} bytes")
    return path.read_bytes()


def run(argv: list[str] | None = None, out=sys.stdout) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.model is not None:
        settings = replace(settings, model_dir=args.model)
    num = args.num_captions if args.num_captions is not None else min(3, args.beam_size)
    options = CaptionOptions(args.beam_size, num, args.max_length, args.guidance)
    try:
        options.validated()
    except CaptionError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2

    from caption.model.bundle import BundleError  # after argument errors, which need no model
    from caption.runtime import load_service

    try:
        # Freezing the encoder costs more start-up than it saves on a handful of images.
        service: CaptionService = load_service(settings, warm_up=False,
                                               optimize=len(args.inputs) >= 50)[0]
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failures = 0
    s3_holder: list = []
    for start in range(0, len(args.inputs), BATCH):
        for record in _caption_batch(args.inputs[start:start + BATCH], service, options,
                                     settings, s3_holder):
            failures += "error" in record
            _print_record(record, args.json, out)
    return 1 if failures else 0


def _caption_batch(sources: list[str], service: CaptionService, options: CaptionOptions,
                   settings: Settings, s3_holder: list) -> list[dict]:
    """Read every source (a bad one fails alone), caption the readable ones as one batch."""
    read: list[bytes | CaptionError] = []
    for source in sources:
        try:
            read.append(_read(source, settings, s3_holder))
        except CaptionError as exc:
            read.append(exc)
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
            "guided_by": result.guided_by})
    return records


def _print_record(record: dict, as_json: bool, out) -> None:
    source = record["file"]
    if as_json:
        print(json.dumps(record), file=out, flush=True)
    elif "error" in record:
        print(f"{source}: error {record['error']['code']}: {record['error']['message']}",
              file=out, flush=True)
    else:
        print(source, file=out)
        for c in record["captions"]:
            print(f"  {c['score']:.3f}  {c['text']}", file=out, flush=True)
        if record["labels"]:
            seen = ", ".join(f"{label['noun']} ({label['name']}, {label['score']:.2f})"
                             for label in record["labels"])
            print(f"  labels: {seen}", file=out, flush=True)
