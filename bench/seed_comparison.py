"""Ours against the seed app's pipeline (bench/baseline.py), from image bytes to captions, in
alternating rounds of one process, on three kinds of photo:

- Flickr8k photos as ../shared/flickr8k holds them (224x224 JPEGs: the dataset's photos,
  resized), else scikit-image's photos re-encoded at that size;
- the same photos at Flickr8k's original size (500x375, upscaled and re-encoded: the originals
  are not here), which both pipelines must shrink;
- 12-megapixel phone-sized JPEGs (4032x3024): mosaics of 8x8 of those photos, so the content
  is real photography at a phone camera's resolution (nothing is downloaded).

Each round times every photo once through the seed pipeline and once through ours
(`CaptionService.caption_bytes`, as the API runs it, guidance on), alternating, so drift on a
shared machine hits both sides alike.

Where the ONNX encoder and decoder serve, each photo then goes once more through the seed and
once through our *runtime floor*: only the work no code around this model can skip (decoding
the JPEG, preprocessing, the encoder's run, the decoder's start and the very step runs our
search made for that photo, recorded and replayed), without the labels, the search's own code
or the service. The seed's time over the floor's is the most any plumbing could reach with
this model on this machine. Prints one JSON line.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from bench.baseline import SeedPipeline
from bench.common import REPO, peak_rss_mb, photos
from caption.runtime import load_service
from caption.service import CaptionOptions
from caption.settings import Settings

FLICKR_VAL = REPO.parent / "shared" / "flickr8k"
PHONE = (4032, 3024)


def flickr_sized(count: int) -> list[bytes]:
    split = FLICKR_VAL / "splits" / "val.txt"
    if split.exists():
        names = split.read_text().split()[:count]
        return [(FLICKR_VAL / "images" / name).read_bytes() for name in names]
    out = [_jpeg(Image.open(io.BytesIO(p)).convert("RGB").resize((224, 224)), 90)
           for p in photos()]
    return (out * count)[:count]


def original_sized(shipped: list[bytes]) -> list[bytes]:
    """Flickr8k's usual 500x375, made from the 224x224 photos (bicubic, JPEG quality 90)."""
    return [_jpeg(Image.open(io.BytesIO(p)).convert("RGB").resize(
        (500, 375), Image.Resampling.BICUBIC), 90) for p in shipped]


def phone_sized(tiles: list[bytes], count: int) -> list[bytes]:
    """4032x3024 mosaics of 8x8 real photos, JPEG quality 92 as phone cameras write them."""
    tile_w, tile_h = PHONE[0] // 8, PHONE[1] // 8
    photos = [Image.open(io.BytesIO(t)).convert("RGB").resize((tile_w, tile_h)) for t in tiles]
    out = []
    for n in range(count):
        mosaic = Image.new("RGB", PHONE)
        for i in range(64):
            mosaic.paste(photos[(n * 7 + i) % len(photos)], ((i % 8) * tile_w, (i // 8) * tile_h))
        out.append(_jpeg(mosaic, 92))
    return out


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _ms(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn(*args)
    return 1000 * (time.perf_counter() - started), out


def alternate(seed: SeedPipeline, ours, photos: list[bytes], rounds: int,
              floors: list | None = None) -> dict:
    """Also where our time goes: decoding (with the shrink) and the model (preprocessing,
    encoder, labels, search), as CaptionResult reports them. floors: each photo's runtime
    floor (runtime_floor), timed after a seed run of its own."""
    seed_ms, ours_ms, decode_ms, model_ms, floor_seed_ms, floor_ms = [], [], [], [], [], []
    for _ in range(rounds):
        for i, data in enumerate(photos):
            seed_ms.append(_ms(seed, data)[0])
            elapsed, result = _ms(ours, data)
            ours_ms.append(elapsed)
            decode_ms.append(result.decode_ms)
            model_ms.append(result.inference_ms)
            if floors:
                floor_seed_ms.append(_ms(seed, data)[0])
                floor_ms.append(_ms(floors[i])[0])
    seed_p50, ours_p50 = statistics.median(seed_ms), statistics.median(ours_ms)
    figures = {"seed_p50_ms": round(seed_p50, 1), "ours_p50_ms": round(ours_p50, 1),
               "speedup": round(seed_p50 / ours_p50, 1), "samples": len(ours_ms),
               "ours_decode_p50_ms": round(statistics.median(decode_ms), 1),
               "ours_model_p50_ms": round(statistics.median(model_ms), 1)}
    if floors:
        floor_seed, floor = statistics.median(floor_seed_ms), statistics.median(floor_ms)
        figures |= {"floor_seed_p50_ms": round(floor_seed, 1), "floor_p50_ms": round(floor, 1),
                    "floor_speedup": round(floor_seed / floor, 1)}
    return figures


class RuntimeFloor:
    """For one photo, only the runtime work ours cannot skip, as a callable: decoding,
    preprocessing, the encoder's and the detector's runs (the detector's bag is the decoder's
    input), the decoder's start and the step runs our search made for the photo (`steps`,
    recorded with the inputs the search gave them)."""

    def __init__(self, service, data: bytes):
        captioner = service.captioner
        self.service, self.data, self.captioner = service, data, captioner
        self.decoder = captioner.decoder
        self.session = self.decoder.step_session
        self.start_session = self.decoder.start_session
        self.steps: list[tuple[list[str], dict]] = []
        self.start_feeds: dict = {}
        self.beside = ThreadPoolExecutor(1, thread_name_prefix="floor-detector")
        self.decoder.step_session = self  # record the search's runs through run() below
        self.decoder.start_session = _Recorder(self.start_session, self.start_feeds)
        try:
            service.caption_bytes(data, CaptionOptions())
        finally:
            self.decoder.step_session = self.session
            self.decoder.start_session = self.start_session

    def run(self, outputs: list[str], feeds: dict):
        self.steps.append((outputs, {name: value.copy() for name, value in feeds.items()}))
        return self.session.run(outputs, feeds)

    def __call__(self) -> None:
        from caption.images import decode_image

        captioner = self.captioner
        image = decode_image(self.data, self.service.max_pixels, captioner.decode_size).image
        # The detector beside the encoder, each on its share of the threads, as served.
        found = (self.beside.submit(captioner.detector.detect, image)
                 if captioner.detector is not None else None)
        regions = captioner.encode(captioner.preprocess(image)[None]).regions
        if found is not None:
            found.result()
        self.start_session.run(None, {**self.start_feeds, "features": regions})
        for outputs, feeds in self.steps:
            self.session.run(outputs, feeds)


class _Recorder:
    """A session that notes the feeds of its (last) run."""

    def __init__(self, session, feeds: dict):
        self.session, self.feeds = session, feeds

    def run(self, outputs, feeds: dict):
        self.feeds.update({name: value.copy() for name, value in feeds.items()})
        return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def runtime_floor(service, data: bytes) -> RuntimeFloor:
    """The photo's RuntimeFloor."""
    return RuntimeFloor(service, data)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    service, timings = load_service(Settings.from_env())
    seed = SeedPipeline()
    options = CaptionOptions()

    def ours(data: bytes):
        return service.caption_bytes(data, options)

    small = flickr_sized(8)
    large = phone_sized(flickr_sized(64), 4)
    for data in (small[0], large[0]):  # warm both pipelines' kernels before timing
        seed(data)
        ours(data)
    original = original_sized(small)

    def compare(photos: list[bytes]) -> dict:
        return alternate(seed, ours, photos, rounds,
                         [runtime_floor(service, data) for data in photos])

    print(json.dumps({
        "flickr_sized": {"size": list(Image.open(io.BytesIO(small[0])).size),
                         **compare(small)},
        "flickr_original_size": {"size": [500, 375], **compare(original)},
        "phone_12mp": {"size": list(PHONE), "jpeg_kb": round(len(large[0]) / 1024),
                       **compare(large)},
        "threads": timings["threads"],
        "ours_encoder": timings["encoder"],
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
