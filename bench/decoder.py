"""The served decoder (its int8 ONNX graphs under ONNX Runtime): one step on 3 rows (the beam
search's 3 beams), and one whole search per photo as served (the photo's bag and rules, beam
3) on real photos' regions.

    python -m bench.decoder          (make bench runs it; prints one JSON line)
"""

from __future__ import annotations

import json

from bench.common import percentiles, photos, timed
from caption.images import decode_image
from caption.runtime import load_service
from caption.settings import Settings


def step_ms(decoder, features, rows: int, repeat: int) -> dict:
    state = decoder.start(features).select([0] * rows)
    tokens = list(range(4, 4 + rows))
    decoder.log_probs(tokens, state)
    return percentiles(timed(lambda: decoder.log_probs(tokens, state), repeat))


def main(repeat: int = 200) -> None:
    service, timings = load_service(Settings.from_env())
    captioner = service.captioner
    decoding = captioner.decoding
    plans = []
    for data in photos():
        reading = captioner.read([decode_image(data, 10**8, captioner.decode_size).image])
        evidence = decoding.evidence(reading.detections[0], None, True, 0)
        plans.append(decoding.plan(evidence, reading.regions[:1], True, 20))
    figures = {"step_3_rows": step_ms(captioner.decoder, plans[0].features, 3, repeat)}
    searches = []
    for _ in range(max(1, repeat // 20)):
        for plan in plans:
            searches += timed(lambda plan=plan: plan.search(3, 3, 20), 1)
    figures["search_per_photo"] = percentiles(searches)
    print(json.dumps({"decoder": {"onnx": figures}, "threads": timings["threads"]}))


if __name__ == "__main__":
    main()
