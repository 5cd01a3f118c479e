"""Decoding untrusted bytes: formats, orientation, transparency and every kind of bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from caption.errors import CaptionError
from caption.images import decode_image

LIMIT = 40_000_000


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_allowed_format_decodes_to_rgb(picture, fmt):
    decoded = decode_image(encode(picture, fmt), LIMIT)
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == picture.size
    assert decoded.format == fmt.lower()


def test_gif_uses_the_first_frame(picture):
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    blue = Image.new("RGB", (40, 30), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue])
    pixel = decode_image(data, LIMIT).image.getpixel((5, 5))
    assert pixel[0] > 200 and pixel[2] < 50


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_is_applied_and_the_upright_size_reported(picture, fmt):
    """Every format that carries an orientation: the picture and the size it reports are both
    upright (Pillow turns TIFFs upright as it loads them; the others keep the tag)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    decoded = decode_image(encode(picture, fmt, exif=exif), LIMIT)
    assert (decoded.width, decoded.height) == (picture.height, picture.width)
    assert decoded.image.size == (picture.height, picture.width)


def test_transparent_pixels_become_white():
    clear = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert decode_image(encode(clear, "PNG"), LIMIT).image.getpixel((3, 3)) == (255, 255, 255)


@pytest.mark.parametrize("data, code", [
    (b"", "empty_image"),
    (b"definitely not an image", "unsupported_image"),
    (b"%PDF-1.7\n1 0 obj\n", "unsupported_image"),
])
def test_non_images_are_415(data, code):
    with pytest.raises(CaptionError) as caught:
        decode_image(data, LIMIT)
    assert (caught.value.status, caught.value.code) == (415, code)


def test_truncated_jpeg_is_415(picture):
    data = encode(picture, "JPEG")
    with pytest.raises(CaptionError) as caught:
        decode_image(data[: len(data) // 2], LIMIT)
    assert caught.value.status == 415
    assert caught.value.code == "unreadable_image"


def test_formats_off_the_allow_list_are_refused(picture):
    data = encode(picture, "PPM")  # Pillow reads PPM, but we do not accept it
    with pytest.raises(CaptionError) as caught:
        decode_image(data, LIMIT)
    assert caught.value.status == 415


def test_decompression_bomb_is_refused_before_decoding():
    # 20000 x 20000 of one colour compresses to a few hundred KB but would need 1.2 GB decoded.
    bomb = encode(Image.new("L", (20_000, 20_000)), "PNG")
    assert len(bomb) < 2_000_000
    with pytest.raises(CaptionError) as caught:
        decode_image(bomb, LIMIT)
    assert (caught.value.status, caught.value.code) == (413, "image_too_large")


def test_pixel_cap_is_configurable(picture):
    with pytest.raises(CaptionError):
        decode_image(encode(picture, "PNG"), max_pixels=1000)


def test_grayscale_and_16_bit_images_decode():
    gray16 = Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    decoded = decode_image(encode(gray16, "PNG"), LIMIT)
    assert decoded.image.mode == "RGB"


def test_large_jpegs_decode_at_reduced_scale_but_report_their_size(picture):
    """A 12-megapixel upload is decoded in the DCT at 1/8 scale: no side below the model's 224."""
    phone = picture.resize((4032, 3024), Image.Resampling.LANCZOS)
    decoded = decode_image(encode(phone, "JPEG", quality=92), LIMIT, min_size=224)
    assert (decoded.width, decoded.height) == (4032, 3024)
    assert min(decoded.image.size) >= 224 and decoded.image.width <= 4032 // 4


def test_large_pngs_are_reduced_after_decoding(picture):
    big = picture.resize((2400, 1600))
    decoded = decode_image(encode(big, "PNG"), LIMIT, min_size=224)
    assert (decoded.width, decoded.height) == (2400, 1600)
    assert min(decoded.image.size) >= 224 and decoded.image.width < 2400


def test_exif_orientation_holds_at_reduced_scale():
    """Left half red, right half blue, stored sideways (orientation 6: rotate 90 clockwise to
    display), so upright the top is red and the bottom blue."""
    sideways = Image.new("RGB", (4000, 3000), (0, 0, 255))
    sideways.paste((255, 0, 0), (0, 0, 2000, 3000))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(encode(sideways, "JPEG", exif=exif), LIMIT, min_size=224)
    assert (decoded.width, decoded.height) == (3000, 4000)
    image = decoded.image
    assert image.height > image.width and min(image.size) >= 224
    top, bottom = image.getpixel((image.width // 2, 5)), image.getpixel((image.width // 2,
                                                                         image.height - 5))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_16_bit_greyscale_keeps_its_tones():
    """A 16-bit mid-grey is mid-grey, not clipped to white."""
    grey = Image.fromarray(np.full((32, 48), 32768, dtype=np.uint16))
    for fmt in ("PNG", "TIFF"):
        value = decode_image(encode(grey, fmt), LIMIT).image.getpixel((4, 4))
        assert 120 <= value[0] <= 135, (fmt, value)


def test_float_tiffs_in_zero_to_one_are_not_black():
    ramp = Image.fromarray(np.tile(np.linspace(0, 1, 64, dtype=np.float32), (16, 1)), "F")
    image = decode_image(encode(ramp, "TIFF"), LIMIT).image
    assert image.getpixel((0, 0))[0] < 10 and image.getpixel((63, 0))[0] > 245
    assert 110 <= image.getpixel((32, 0))[0] <= 145


def test_png_transparency_given_as_a_trns_colour_becomes_white():
    keyed = Image.new("RGB", (10, 10), (0, 0, 0))
    keyed.putpixel((0, 0), (200, 10, 10))
    data = encode(keyed, "PNG", transparency=(0, 0, 0))
    image = decode_image(data, LIMIT).image
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == (200, 10, 10)


def test_a_jpeg_header_claiming_more_pixels_than_its_data_is_refused(picture):
    """451x300 of data under a header that says 6000x6000: libjpeg would pad it with grey."""
    import struct

    data = bytearray(encode(picture, "JPEG", quality=90))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 6000, 6000)
    for min_size in (None, 224):
        with pytest.raises(CaptionError) as caught:
            decode_image(bytes(data), LIMIT, min_size)
        assert caught.value.status == 415 and caught.value.code == "unreadable_image"


def test_real_jpegs_of_every_kind_pass_the_length_check(picture):
    for options in ({"quality": 5}, {"quality": 95, "subsampling": 0}, {"progressive": True},
                    {"optimize": True, "quality": 1}):
        decode_image(encode(picture, "JPEG", **options), LIMIT)
    blank = Image.new("RGB", (4000, 3000), (255, 255, 255))
    decode_image(encode(blank, "JPEG", quality=1, optimize=True), LIMIT, 224)
    decode_image(encode(blank.convert("L"), "JPEG", quality=1, optimize=True), LIMIT, 224)


@pytest.mark.parametrize("size, colour", [((8000, 5000), (0, 0, 0, 0)),
                                          ((6324, 6324), (10, 200, 30, 128))])
def test_decoding_the_largest_allowed_png_stays_within_its_pixel_budget(tmp_path, size, colour):
    """A (half-)transparent 40-megapixel PNG is about 150 KB on disk; decoding it must cost
    about its RGBA pixels (160 MB), not several copies of them. Measured as the peak RSS of a
    fresh process."""
    import subprocess
    import sys

    from tests.conftest import REPO

    path = tmp_path / "clear.png"
    Image.new("RGBA", size, colour).save(path, optimize=True)
    script = (
        "import sys\n"
        "from caption.allocator import keep_freed_memory\n"
        "keep_freed_memory()  # as every entry point sets the allocator up\n"
        "from caption.images import decode_image\n"
        "def peak_kb():  # VmHWM: since this exec (ru_maxrss would start at the parent's)\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "    return int(status.split()[0])\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = peak_kb()\n"
        "decode_image(data, 40_000_000, 224)\n"
        "print((peak_kb() - before) // 1024)\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=120, cwd=REPO,
                            env={"PYTHONPATH": str(REPO / "functions"), "PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 300, f"decoding peaked at +{result.stdout.strip()} MB"


def test_transparency_flattened_strip_by_strip_is_what_the_whole_picture_gives():
    """Pictures with transparency are reduced and flattened in strips (no full-size copy): the
    result must be pixel for pixel what reducing and flattening the whole picture gives."""
    from caption.images import STRIP_ROWS, flatten_alpha

    rng = np.random.default_rng(0)
    factor = 3  # 3 * 224 <= 700 < 4 * 224
    rows = factor * STRIP_ROWS * 15 + 7  # several strips and a partial last one
    pixels = rng.integers(0, 256, (rows, 700, 4), dtype=np.uint8)
    rgba = Image.fromarray(pixels, "RGBA")
    decoded = decode_image(encode(rgba, "PNG"), LIMIT, min_size=224).image
    whole = flatten_alpha(rgba.reduce(factor))
    assert decoded.size == whole.size
    assert np.array_equal(np.asarray(decoded), np.asarray(whole))


@pytest.mark.parametrize("mode", ["P", "1", "I;16"])
def test_large_palette_bilevel_and_16_bit_pictures_are_reduced_too(mode):
    """Modes Pillow cannot reduce directly are converted strip by strip, then reduced."""
    decoded = decode_image(encode(Image.new(mode, (1000, 700)), "PNG"), LIMIT, min_size=224)
    assert decoded.image.mode == "RGB" and decoded.image.size == (334, 234)
    assert (decoded.width, decoded.height) == (1000, 700)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on the broken TIFF tags
def test_mutated_images_fail_only_with_caption_errors(picture):
    """Bytes flipped in the headers and bodies of every allowed format, and truncations: the
    decoder answers a CaptionError (a 4xx), never another exception (a 500)."""
    import random

    rng = random.Random(0)
    small = picture.resize((120, 80))
    seeds = [encode(small, fmt, **options) for fmt, options in (
        ("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}), ("BMP", {}),
        ("TIFF", {}), ("WEBP", {}))]
    for i in range(600):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 12)):
            data[rng.randrange(min(len(data), 400))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(1, len(data))]
        try:
            decode_image(bytes(data), LIMIT, 224 if i % 2 else None)
        except CaptionError as exc:
            assert 400 <= exc.status < 500
