"""The metadata contract's rules, on known captions."""

from __future__ import annotations

import pytest

from caption.metadata import (
    USER_METADATA_LIMIT,
    MetadataFull,
    caption_metadata,
    metadata_size,
    to_ascii,
)
from caption.model.captioner import Caption

CAPTIONS = [Caption("a dog runs on the grass", 0.52), Caption("a dog runs", 0.41),
            Caption("a brown dog is running", 0.33)]


def test_contract_keys_and_values():
    meta = caption_metadata({"owner": "alice"}, CAPTIONS, "m@1")
    assert meta == {"owner": "alice", "caption": "a dog runs on the grass",
                    "caption-score": "0.5200", "caption-model": "m@1",
                    "caption-alternatives": "a dog runs | a brown dog is running"}


def test_alternatives_are_dropped_before_the_limit_is_crossed():
    required = metadata_size(caption_metadata({}, CAPTIONS[:1], "m@1"))
    room = USER_METADATA_LIMIT - required - len("notes")
    meta = caption_metadata({"notes": "n" * room}, CAPTIONS, "m@1")
    assert "caption-alternatives" not in meta
    assert metadata_size(meta) == USER_METADATA_LIMIT


def test_no_room_for_the_caption_raises():
    with pytest.raises(MetadataFull):
        caption_metadata({"notes": "n" * 2040}, CAPTIONS, "m@1")


def test_recaptioning_replaces_our_keys_and_keeps_the_users():
    old = caption_metadata({"owner": "alice"}, CAPTIONS, "old@0")
    new = caption_metadata(old, [Caption("a cat", 0.9)], "new@1")
    assert new == {"owner": "alice", "caption": "a cat", "caption-score": "0.9000",
                   "caption-model": "new@1"}


def test_values_are_printable_ascii():
    assert to_ascii("un café\tau soleil ☀") == "un cafe au soleil"
