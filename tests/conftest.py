"""Shared fixtures: real photos from packages, AWS-shaped events, S3 through moto."""

from __future__ import annotations

import copy
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"
SHIPPED = REPO / "layers" / "model"  # the bundle the image serves

# Before anything imports caption.app: no real AWS account is ever reachable from tests.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "CAPTION_ALLOWED_BUCKETS": "caption-demo-bucket",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
})
os.environ.pop("AWS_ENDPOINT_URL_S3", None)
os.environ.pop("AWS_ENDPOINT_URL", None)


def load_event(name: str) -> dict:
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))


def jpeg_bytes(array, quality: int = 90) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Real photos with known content, as JPEG bytes."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    return {
        "chelsea": jpeg_bytes(data.chelsea()),  # a tabby cat
        "coffee": jpeg_bytes(data.coffee()),  # a cup of coffee
        "astronaut": jpeg_bytes(data.astronaut()),
        "motorcycle": jpeg_bytes(data.stereo_motorcycle()[0]),
        "hubble": jpeg_bytes(data.hubble_deep_field()),  # galaxies: nothing COCO names
        "china": jpeg_bytes(load_sample_image("china.jpg")),  # a temple
        "sample": (EVENTS / "sample.jpg").read_bytes(),  # the image in events/*.json
    }


@pytest.fixture(scope="session")
def shipped():
    """The shipped bundle, loaded once for every test that reads it (nothing may change it)."""
    from caption.model.loader import load_model

    return load_model(SHIPPED, threads=2)


@pytest.fixture
def s3():
    """An S3 client on moto, with the handler's lazily created client pointed at it too."""
    import boto3
    from moto import mock_aws

    import caption.app as app
    from tests.s3_helpers import enforce_copy_source_if_match

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        enforce_copy_source_if_match(client)
        app.use_s3(client)
        yield client
        app.use_s3(None)


@pytest.fixture
def context():
    """A Lambda context object with the attributes Powertools reads."""

    class Context:
        function_name = "caption"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:caption"
        memory_limit_in_mb = 3008
        aws_request_id = "3b1c8e2e-0000-4000-8000-000000000000"
        log_group_name = "/aws/lambda/caption"
        log_stream_name = "2026/11/25/[$LATEST]0123456789abcdef"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 60_000

    return Context()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A small, randomly initialised captioner written and exported by the real export path
    (checkpoint, model.json, the decoder's graphs), reading photos with the shipped detector
    graph (copied with its section)."""
    import shutil

    import torch

    from caption.model.bundle import read_config, write_config
    from caption.model.vocabulary import SPECIALS
    from caption.train.export.captioner import write_bundle
    from caption.train.networks.attention_decoder import DecoderConfig
    from caption.train.networks.concept_decoder import ConceptConfig, ConceptDecoder

    torch.manual_seed(0)
    words = [*SPECIALS, "a", "cat", "dog", "on", "the", "grass", "sits", "two"]
    shipped = read_config(SHIPPED)
    decoder = ConceptDecoder(ConceptConfig(
        DecoderConfig(len(words), shipped.decoder["decoder"]["feature_dim"], embed_dim=16,
                      hidden_dim=32, attention_dim=16), 81)).eval()
    directory = tmp_path_factory.mktemp("bundle")
    write_config(directory, shipped.with_changes(labels=None, graphs=replace(
        shipped.graphs, labels=None, decoder_start=None, decoder_step=None)))
    shutil.copy(SHIPPED / shipped.graphs.detector, directory / shipped.graphs.detector)
    write_bundle(directory, decoder, words, "0", name="tiny")
    return directory


def copy_bundle(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def resave_bundle(directory: Path):
    """New weights for a bundle, as training leaves them (the graphs beside them are then
    stale); returns model.json."""
    import torch

    from caption.train.export.captioner import save_weights
    from caption.train.networks.weights import load_decoder

    decoder = load_decoder(directory)
    with torch.no_grad():
        decoder.out.bias.add_(1e-2)  # new weights, as a training step would leave them
    return save_weights(directory, decoder)
