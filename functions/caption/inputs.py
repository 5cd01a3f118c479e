"""What the CLI captions: files, folders (recursively) and s3:// objects or prefixes, expanded
lazily, so 100,000 inputs cost no more memory than ten.

Folders contribute files whose first bytes are an image's (JPEG, PNG, GIF, BMP, TIFF, WebP),
whatever their names. An S3 prefix (`s3://bucket/photos/`, or `s3://bucket` for all of it)
contributes every object under it whose key ends in an image extension: listing gives names,
not contents, and fetching every object to look would cost more than captioning it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
               b"II*\x00", b"MM\x00*")


def looks_like_image(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _walk(folder: str) -> Iterator[str]:
    """Image files under `folder`: each folder's files in name order, then its subfolders in
    name order (the same order every run, so a resumed run continues where it stopped),
    without following links to folders (a loop would never end)."""
    # os.path rather than pathlib: pathlib interns every path component, a cost that grows
    # with every file of a large tree.
    for root, folders, files in os.walk(folder):
        folders.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if os.path.isfile(path) and looks_like_image(path):
                yield path


def is_s3_prefix(source: str) -> bool:
    """`s3://bucket/` or `s3://bucket/some/prefix/` (a trailing slash), or a bare bucket."""
    rest = source[len("s3://"):]
    return source.startswith("s3://") and ("/" not in rest or rest.endswith("/"))


def _list_prefix(s3: Any, source: str) -> Iterator[str]:
    bucket, _, prefix = source[len("s3://"):].partition("/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            if item["Key"].lower().endswith(IMAGE_EXTENSIONS):
                yield f"s3://{bucket}/{item['Key']}"


def expand(sources: Iterable[str], s3_factory: Callable[[], Any]) -> Iterator[str]:
    """Every input the sources name, one at a time. A source that names nothing (a missing
    file, say) is passed through, so the caller reports it like any failed input."""
    for source in sources:
        if is_s3_prefix(source):
            yield from _list_prefix(s3_factory(), source)
        elif not source.startswith("s3://") and os.path.isdir(source):
            yield from _walk(source)
        else:
            yield source
