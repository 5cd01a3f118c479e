"""Decode untrusted image bytes safely: format allow-list, pixel cap, EXIF orientation.

Everything that can go wrong with the bytes becomes a `CaptionError`, never an exception from
deep inside Pillow.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from caption.errors import CaptionError, too_large, unsupported_image

# Pillow's names. GIFs are captioned from their first frame.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
SUPPORTED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp",
                         "image/tiff")


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, upright
    width: int
    height: int
    format: str  # lower-case: jpeg, png, ...


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparency onto white: dropping alpha would expose arbitrary hidden colours."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes, max_pixels: int) -> DecodedImage:
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
    except (OSError, ValueError, SyntaxError) as exc:
        raise unsupported_image(f"the image could not be read: {exc}", "unreadable_image") from None
    image_format = (image.format or "unknown").lower()
    width, height = image.size
    if width * height > max_pixels:
        raise too_large(f"the image is {width}x{height} pixels; the limit is {max_pixels:,} pixels",
                        "image_too_large")
    try:
        image.seek(0)  # animated GIF/WebP/TIFF: the first frame
        image.load()
        image = ImageOps.exif_transpose(image)
        rgb = _flatten_alpha(image)
    except CaptionError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data; all mean the same here
        raise unsupported_image(f"the image could not be decoded ({type(exc).__name__}: {exc})",
                                "unreadable_image") from None
    return DecodedImage(rgb, rgb.width, rgb.height, image_format)
