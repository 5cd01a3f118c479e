"""The served decoder (its int8 ONNX graphs under ONNX Runtime): one step on 6 rows (the guided
search's two banks of 3 beams) and on 3 rows (the plain beam search), and one whole search per
photo as served (labels, guidance, beam 3) on real photos' encoder output.

    python -m bench.decoder          (make bench runs it; prints one JSON line)
"""

from __future__ import annotations

import json

from bench.common import percentiles, photos, timed
from caption.images import decode_image
from caption.runtime import load_service
from caption.settings import Settings


def step_ms(decoder, regions, rows: int, repeat: int) -> dict:
    state = decoder.start(regions).select([0] * rows)
    tokens = list(range(4, 4 + rows))
    decoder.log_probs(tokens, state)
    return percentiles(timed(lambda: decoder.log_probs(tokens, state), repeat))


def main(repeat: int = 200) -> None:
    service, timings = load_service(Settings.from_env())
    captioner = service.captioner
    size = captioner.preprocess.size
    encoded = [captioner.encode(captioner.preprocess(decode_image(p, 10**8, size).image)[None])
               for p in photos()]
    figures = {"step_6_rows": step_ms(captioner.decoder, encoded[0].regions, 6, repeat),
               "step_3_rows": step_ms(captioner.decoder, encoded[0].regions, 3, repeat)}
    searches = []
    for _ in range(max(1, repeat // 20)):
        for one in encoded:
            searches += timed(lambda one=one: captioner.describe_features(
                one.regions, one.probabilities[0]), 1)
    figures["search_per_photo"] = percentiles(searches)
    print(json.dumps({"decoder": {"onnx": figures}, "threads": timings["threads"]}))


if __name__ == "__main__":
    main()
