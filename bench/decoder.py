"""The decoder's two serving paths, side by side in one process:

- pytorch_int8: the bundle's weights in PyTorch with dynamic int8 linear layers (what serves
  without onnxruntime, caption.model.quantization);
- onnx: the bundle's int8 ONNX graphs under ONNX Runtime (the default where onnxruntime is
  installed, caption.model.onnx_decoder).

For each: one decoder step on 6 rows (the guided search's two banks of 3 beams) and on 3 rows
(the plain beam search), and one whole search per photo as served (labels, guidance, beam 3) on
real photos' encoder features, the two paths alternating photo by photo.

    python -m bench.decoder          (make bench runs it; prints one JSON line)
"""

from __future__ import annotations

import json
import time

import torch

from bench.common import percentiles, photos, timed
from caption.images import decode_image
from caption.runtime import load_service
from caption.settings import Settings


def step_ms(decoder, features: torch.Tensor, rows: int, repeat: int) -> dict:
    with torch.inference_mode():
        state = decoder.start(features).select(torch.zeros(rows, dtype=torch.long))
        tokens = torch.arange(4, 4 + rows)
        decoder.log_probs(tokens, state)
        return percentiles(timed(lambda: decoder.log_probs(tokens, state), repeat))


def main(repeat: int = 200) -> None:
    service, _ = load_service(Settings.from_env())
    captioner = service.captioner
    if captioner._serving_decoder is None:
        print(json.dumps({"error": "the bundle has no ONNX decoder, or onnxruntime is missing"}))
        return
    paths = {"pytorch_int8": captioner.decoder, "onnx": captioner._serving_decoder}
    size = captioner.preprocess.size
    features = [captioner.encode(captioner.preprocess(decode_image(p, 10**8, size).image)[None])
                for p in photos()]
    figures: dict = {name: {"step_6_rows": step_ms(decoder, features[0], 6, repeat),
                            "step_3_rows": step_ms(decoder, features[0], 3, repeat)}
                     for name, decoder in paths.items()}
    searches: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(max(1, repeat // 20)):
        for one in features:
            for name, decoder in paths.items():
                captioner._serving_decoder = None if name == "pytorch_int8" else decoder
                started = time.perf_counter()
                captioner.describe_features(one)
                searches[name].append(time.perf_counter() - started)
    for name in paths:
        figures[name]["search_per_photo"] = percentiles(searches[name])
    print(json.dumps({"decoder": figures, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
