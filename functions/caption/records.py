"""The CLI's output files: one record per input, written as it is made, readable for --resume.

JSON lines (`.jsonl`, the same objects `--json` prints) or CSV (`.csv`: file, caption, score,
labels, guided_by, objects, status, error_code, error_message; objects as in S3 metadata,
caption.metadata.objects_value). Each record is written whole and flushed, so a run that is
interrupted leaves at most one partial last line, which --resume cuts off before appending.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import IO

from caption.metadata import objects_value

CSV_FIELDS = ("file", "caption", "score", "labels", "guided_by", "objects", "status",
              "error_code", "error_message")


def _drop_partial_last_line(path: Path) -> None:
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def done_inputs(path: Path) -> set[str]:
    """The inputs an earlier run already wrote a record for (errors included: a failed input
    is reported, not retried; delete its line to retry it)."""
    if not path.exists():
        return set()
    _drop_partial_last_line(path)
    with open(path, encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            return {row["file"] for row in csv.DictReader(handle) if row.get("file")}
        done = set()
        for line in handle:
            try:
                done.add(json.loads(line)["file"])
            except (ValueError, KeyError, TypeError):
                continue
        return done


class RecordWriter:
    def __init__(self, path: Path, append: bool):
        if path.suffix not in (".jsonl", ".csv"):
            raise ValueError(f"--output must end in .jsonl or .csv, got {path.name}")
        self.csv = path.suffix == ".csv"
        exists = append and path.exists() and path.stat().st_size > 0
        self.handle: IO[str] = open(path, "a" if append else "w", encoding="utf-8", newline="")
        if self.csv and not exists:
            self._write_csv_row(dict(zip(CSV_FIELDS, CSV_FIELDS, strict=True)))

    def _write_csv_row(self, row: dict) -> None:
        buffer = io.StringIO()
        csv.DictWriter(buffer, CSV_FIELDS, extrasaction="ignore").writerow(row)
        self.handle.write(buffer.getvalue())

    def write(self, record: dict) -> None:
        if not self.csv:
            self.handle.write(json.dumps(record) + "\n")
        else:
            captions = record.get("captions") or []
            error = record.get("error", {})
            self._write_csv_row({
                "file": record["file"],
                "caption": captions[0]["text"] if captions else record.get("caption", ""),
                "score": captions[0]["score"] if captions else "",
                "labels": "; ".join(f"{label['noun']} {label['score']:.2f}"
                                    for label in record.get("labels", [])),
                "guided_by": record.get("guided_by") or "",
                "objects": objects_value(record.get("objects", [])),
                "status": record.get("status", "error" if error else "captioned"),
                "error_code": error.get("code", ""), "error_message": error.get("message", "")})
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
