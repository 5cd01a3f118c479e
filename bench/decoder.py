"""The served decoder (its int8 ONNX graphs under ONNX Runtime): one step on 6 rows (the guided
search's two banks of 3 beams) and on 3 rows (the plain beam search), and one whole search per
photo as served (labels, guidance, the detector's bag, beam 3) on real photos' encoder and
detector output.

    python -m bench.decoder          (make bench runs it; prints one JSON line)
"""

from __future__ import annotations

import json

from bench.common import percentiles, photos, timed
from caption.images import decode_image
from caption.model.bag import bag_inputs, photo_bag
from caption.runtime import load_service
from caption.settings import Settings


def step_ms(decoder, start_input, rows: int, repeat: int) -> dict:
    state = decoder.start(start_input).select([0] * rows)
    tokens = list(range(4, 4 + rows))
    decoder.log_probs(tokens, state)
    return percentiles(timed(lambda: decoder.log_probs(tokens, state), repeat))


def main(repeat: int = 200) -> None:
    service, timings = load_service(Settings.from_env())
    captioner = service.captioner
    images = [decode_image(p, 10**8, captioner.decode_size).image for p in photos()]
    encoded = [captioner.encode(captioner.preprocess(image)[None]) for image in images]
    # What the decoder reads of each photo as served: its regions, and the detector's bag.
    detected = [captioner.detector.detect(image) if captioner.detector else None
                for image in images]
    start_input = encoded[0].regions
    if captioner.decoding.reads_bag:
        start_input = {"features": start_input,
                       **bag_inputs(photo_bag(detected[0]) if detected[0] else ())}
    figures = {"step_6_rows": step_ms(captioner.decoder, start_input, 6, repeat),
               "step_3_rows": step_ms(captioner.decoder, start_input, 3, repeat)}
    searches = []
    for _ in range(max(1, repeat // 20)):
        for one, detections in zip(encoded, detected, strict=True):
            searches += timed(lambda one=one, detections=detections:
                              captioner.describe_features(one.regions, one.probabilities[0],
                                                          detections=detections), 1)
    figures["search_per_photo"] = percentiles(searches)
    print(json.dumps({"decoder": {"onnx": figures}, "threads": timings["threads"]}))


if __name__ == "__main__":
    main()
