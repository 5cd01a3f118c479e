"""Decode untrusted image bytes safely: format allow-list, pixel cap, EXIF orientation.

Everything that can go wrong with the bytes becomes a `CaptionError`, never an exception from
deep inside Pillow.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from caption.errors import CaptionError, too_large, unsupported_image

# Pillow's names. GIFs are captioned from their first frame.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
SUPPORTED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp",
                         "image/tiff")
# Names clients send for the same formats (old browsers, Windows, hand-written curl commands).
MEDIA_TYPE_ALIASES = ("image/jpg", "image/pjpeg", "image/x-png", "image/x-ms-bmp", "image/tif")


# EXIF orientations that turn the picture a quarter: the upright width is the stored height.
_QUARTER_TURNS = (5, 6, 7, 8)


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, upright; smaller than the original when min_size allowed it
    width: int  # the original's upright size
    height: int
    format: str  # lower-case: jpeg, png, ...


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale as 8-bit "L". Pillow's own convert clips them (a
    16-bit photo turns white); scale instead: 16-bit by 257, floats in 0..1 by 255, anything
    else by its own maximum."""
    values = np.asarray(image, dtype=np.float32)
    peak = float(np.nanmax(values)) if values.size else 0.0
    if image.mode.startswith("I;16"):
        values = values / 257.0
    elif image.mode == "F" and peak <= 1.0:
        values = values * 255.0
    elif peak > 255.0:
        values = values * (255.0 / peak)
    return Image.fromarray(np.nan_to_num(values).clip(0, 255).astype(np.uint8), "L")


def flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparency onto white: dropping alpha would expose arbitrary hidden colours.
    Transparency may be an alpha channel, a palette entry or a tRNS colour (RGB and L PNGs)."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _to_8_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _jpeg_too_short(image: Image.Image, size: int) -> bool:
    """A baseline JPEG needs at least 2 bits per 8x8 block (a DC code and an end-of-block code,
    each at least one bit in any Huffman table). Fewer bytes than that mean the header claims
    more pixels than the data holds; libjpeg would pad the rest with grey and no error, and we
    would caption the padding. Progressive JPEGs can code many empty blocks in one symbol, so
    this lower bound holds only for baseline ones."""
    if image.format != "JPEG" or image.info.get("progressive") or image.info.get("progression"):
        return False
    layers = getattr(image, "layer", None) or []
    if not layers:
        return False
    h_max = max(layer[1] for layer in layers)
    v_max = max(layer[2] for layer in layers)
    width, height = image.size
    blocks = sum(math.ceil(math.ceil(width * h / h_max) / 8)
                 * math.ceil(math.ceil(height * v / v_max) / 8) for _, h, v, _ in layers)
    return size * 8 < 2 * blocks


def _shrink_while_decoding(image: Image.Image, min_size: int) -> None:
    """Decode no more pixels than the model needs: a 12-megapixel JPEG decodes at 1/8 scale in
    the DCT (Image.draft) for a fraction of the time, as long as both sides stay at least
    `min_size`. Other formats are decoded whole and reduced after (see _reduce)."""
    if image.format == "JPEG":
        image.draft(image.mode if image.mode in ("RGB", "L") else None, (min_size, min_size))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


# The modes Image.reduce takes (not P, 1 or I;16, which are converted first).
_REDUCIBLE = ("L", "LA", "PA", "RGB", "RGBA", "I", "F", "CMYK", "YCbCr")
# Rows of the full-size picture handled at a time (times the reduction factor), so that a
# picture with transparency or a palette never has a second full-size copy: a 40-megapixel
# RGBA PNG decodes to 160 MB, and converting or flattening it whole would add as much again.
STRIP_ROWS = 16


def _flatten_and_reduce(image: Image.Image, min_size: int | None) -> Image.Image:
    """RGB, box-reduced by the largest whole factor that keeps both sides at least `min_size`
    (none without it), transparency composited onto white after reducing. Pictures that need
    converting go strip by strip; the strips start at multiples of the factor, so the result is
    the one the whole picture would give."""
    factor = max(1, min(image.width // min_size, image.height // min_size)) if min_size else 1
    if image.mode in _REDUCIBLE and not _has_alpha(image):
        return flatten_alpha(image.reduce(factor) if factor >= 2 else image)
    out = Image.new("RGB", (math.ceil(image.width / factor), math.ceil(image.height / factor)))
    step = factor * STRIP_ROWS
    for top in range(0, image.height, step):
        strip = image.crop((0, top, image.width, min(top + step, image.height)))
        if strip.mode not in _REDUCIBLE:  # to a mode reduce takes, keeping the transparency
            strip = strip.convert("RGBA") if _has_alpha(strip) else flatten_alpha(strip)
        if factor >= 2:
            strip = strip.reduce(factor)
        out.paste(flatten_alpha(strip), (0, top // factor))
    return out


# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose
# does; applied here from the tag read at load, since the reduced copy carries no EXIF).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def decode_image(data: bytes, max_pixels: int, min_size: int | None = None) -> DecodedImage:
    """min_size: the model's input side. When given, large images are decoded and reduced only
    down to that (both sides at least min_size), since the model squashes them to it anyway."""
    if not data:
        raise unsupported_image("the image is empty", "empty_image")
    try:
        with warnings.catch_warnings():
            # Our own pixel cap below is the check; Pillow's bomb warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError:
        raise unsupported_image(
            f"not a supported image; send one of {', '.join(SUPPORTED_FORMATS)}") from None
    except Image.DecompressionBombError:
        raise too_large("the image has too many pixels", "image_too_large") from None
    except Exception as exc:  # OSError, ValueError, SyntaxError, struct.error... from a bad header
        raise unsupported_image(f"the image could not be read ({type(exc).__name__}: {exc})",
                                "unreadable_image") from None
    image_format = (image.format or "unknown").lower()
    width, height = image.size
    if width * height > max_pixels:
        raise too_large(f"the image is {width}x{height} pixels; the limit is {max_pixels:,} pixels",
                        "image_too_large")
    try:
        if _jpeg_too_short(image, len(data)):
            raise unsupported_image(f"the JPEG claims {width}x{height} pixels but holds too "
                                    "little data for them (a damaged or forged header)",
                                    "unreadable_image")
        image.seek(0)  # animated GIF/WebP/TIFF: the first frame
        if min_size:
            _shrink_while_decoding(image, min_size)
        image.load()
        # Read once loaded: Pillow's TIFF reader turns the picture upright as it loads it and
        # then drops the tag, while JPEG, PNG and WebP keep it for the transpose below.
        orientation = image.getexif().get(0x0112, 1)
        rgb = _flatten_and_reduce(image, min_size)
        if orientation in _UPRIGHT:
            rgb = rgb.transpose(_UPRIGHT[orientation])
    except CaptionError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data; all mean the same here
        raise unsupported_image(f"the image could not be decoded ({type(exc).__name__}: {exc})",
                                "unreadable_image") from None
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    return DecodedImage(rgb, width, height, image_format)
