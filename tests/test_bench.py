"""The benchmark's own parts that its figures rest on."""

from __future__ import annotations

from bench.seed_comparison import runtime_floor
from caption.runtime import load_service
from caption.service import CaptionOptions
from caption.settings import Settings


def test_the_runtime_floor_replays_the_step_runs_the_search_made(photos):
    # The astronaut: a person, in the detector's bag the decoder reads.
    service, _ = load_service(Settings(), warm_up=False)
    decoder = service.captioner.decoder
    session = decoder.step_session
    floor = runtime_floor(service, photos["astronaut"])
    assert decoder.step_session is session  # put back
    recorded = [feeds["tokens"].tolist() for _, feeds in floor.steps]
    assert recorded[0] == [service.captioner.vocabulary.start] and len(recorded) >= 3

    searched = []

    class Counting:
        def run(self, outputs, feeds):
            searched.append(feeds["tokens"].tolist())
            return session.run(outputs, feeds)

    decoder.step_session = Counting()
    try:
        service.caption_bytes(photos["astronaut"], CaptionOptions())
    finally:
        decoder.step_session = session
    assert recorded == searched
    floor()

