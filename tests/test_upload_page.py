"""The upload page in a real browser: Debian's Chromium, driven by Playwright, against the app
served by uvicorn as `make run` serves it. The screenshot goes to a temporary folder; `make
screenshot` points UPLOAD_PAGE_SCREENSHOT at docs/upload-page.png to refresh the README's."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="needs Debian's chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "caption.app:api", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None:
            pytest.fail(process.stderr.read().decode())
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    assert CHROMIUM, "CI must have chromium installed"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server + "/")
        yield page
        browser.close()


def test_uploading_a_photo_shows_ranked_captions_and_labels(page, tmp_path, photos):
    photo = tmp_path / "chelsea.jpg"
    photo.write_bytes(photos["chelsea"])
    page.get_by_label("Choose an image").set_input_files(str(photo))
    items = page.locator("#captions li")
    items.first.wait_for(timeout=30_000)
    assert items.count() == 3
    assert "cat" in items.first.inner_text().split()
    labels = page.locator("#labels li")
    assert labels.count() >= 1 and labels.first.inner_text().startswith("cat")
    assert page.locator("#preview").is_visible()
    assert page.get_by_role("status").inner_text() == "Done."
    assert not page.get_by_role("alert").is_visible()


def test_uploading_a_photo_draws_its_objects_boxed_and_named(page, tmp_path, photos):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(photos["astronaut"])
    page.get_by_label("Choose an image").set_input_files(str(photo))
    page.get_by_role("status").filter(has_text="Done.").wait_for(timeout=30_000)
    objects = page.locator("#objects li")
    assert objects.first.inner_text().startswith("person")
    # Drawn over the photo, in its own pixels: the box's rectangle and its name.
    box = page.locator("#boxes rect:not(.tag)").first
    assert float(box.get_attribute("width")) > 200 and float(box.get_attribute("height")) > 300
    assert page.locator("#boxes text").first.text_content().startswith("person ")
    # On screen the box lies over the photo, not beside it.
    shown, drawn = page.locator("#preview").bounding_box(), box.bounding_box()
    for start, extent in (("x", "width"), ("y", "height")):
        assert shown[start] <= drawn[start]
        assert drawn[start] + drawn[extent] <= shown[start] + shown[extent] + 1
    target = os.environ.get("UPLOAD_PAGE_SCREENSHOT") or str(tmp_path / "upload-page.png")
    page.screenshot(path=target, full_page=True)
    assert os.path.getsize(target) > 10_000


def test_uploading_a_non_image_shows_a_readable_error(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a photo")
    page.get_by_label("Choose an image").set_input_files(str(notes))
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible", timeout=30_000)
    assert "Could not caption notes.txt" in alert.inner_text()
    assert "not a supported image" in alert.inner_text()
    assert page.locator("#results").is_hidden()
