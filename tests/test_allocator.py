"""The allocator setting that keeps freed tensor memory for the next image."""

from __future__ import annotations

import sys

import pytest

from caption.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_takes_the_settings():
    assert keep_freed_memory() is True
