"""Shared fixtures: real photos from packages, AWS-shaped events, S3 through moto."""

from __future__ import annotations

import copy
import io
import json
import os
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
def tiny_bundle(tmp_path_factory, photos) -> Path:
    """A small, randomly initialised bundle written and exported by the real training and
    export paths: checkpoint, model.json, and every graph serving reads (the int8 encoder
    calibrated on the real photos)."""
    import torch
    from PIL import Image

    from caption.model.bundle import ModelInfo
    from caption.model.preprocess import Preprocessing
    from caption.model.vocabulary import SPECIALS, Vocabulary
    from caption.train.export.bundle import export_bundle
    from caption.train.networks.attention_decoder import AttentionDecoder, DecoderConfig
    from caption.train.networks.efficientnet_lite import EfficientNetLite
    from caption.train.networks.weights import save_bundle

    torch.manual_seed(0)
    vocab = Vocabulary([*SPECIALS, "a", "cat", "dog", "on", "the", "grass", "sits"])
    decoder = AttentionDecoder(DecoderConfig(len(vocab), embed_dim=16, hidden_dim=32,
                                             attention_dim=16))
    directory = tmp_path_factory.mktemp("bundle")
    save_bundle(directory, "efficientnet-lite0", EfficientNetLite("efficientnet-lite0").eval(),
                decoder.eval(), vocab, Preprocessing(size=64),
                ModelInfo("tiny", "0", "efficientnet-lite+attention-lstm"))
    export_bundle(directory, [Image.open(io.BytesIO(p)) for p in photos.values()])
    return directory


def copy_bundle(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def resave_bundle(directory: Path):
    """Save a bundle's own weights again, as training does after it changes them (the float16
    round trip changes nothing, but the checkpoint is written anew); returns model.json."""
    from caption.train.networks.weights import load_torch_model, save_bundle

    model = load_torch_model(directory)
    decoder = model.decoder
    with __import__("torch").no_grad():
        decoder.out.bias.add_(1e-2)  # new weights, as a training step would leave them
    return save_bundle(directory, model.config.encoder["variant"], model.encoder, decoder,
                       model.vocabulary, model.preprocess, model.info, model.config.labels,
                       model.classifier)
