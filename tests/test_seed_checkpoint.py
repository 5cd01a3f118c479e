"""The seed app's Show-and-Tell checkpoint format, with synthetic files in exactly that layout:
converted once into a bundle (`python -m caption.train.export seed`), then served like ours."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
from PIL import Image

from caption.model.bundle import BundleError
from caption.model.loader import load_model
from caption.train.export.bundle import main as export_main
from caption.train.export.seed_checkpoint import (
    CheckpointError,
    SeedDecoder,
    SeedEncoder,
    read_id_to_word,
)

WORDS = ["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "runs", "on", "grass"]


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    torch.manual_seed(1)
    directory = tmp_path_factory.mktemp("seed")
    # As the seed app saved them: plain state dicts and a pickled {id: word}.
    torch.save(SeedEncoder().state_dict(), directory / "encoder.pth")
    torch.save(SeedDecoder(len(WORDS)).state_dict(), directory / "decoder.pth")
    with open(directory / "id_to_word.pkl", "wb") as f:
        pickle.dump(dict(enumerate(WORDS)), f)
    return directory


def test_seed_layout_names_match_the_published_checkpoint(seed_dir):
    encoder_keys = torch.load(seed_dir / "encoder.pth", weights_only=True).keys()
    assert "resnet.0.weight" in encoder_keys  # conv1
    assert "resnet.4.0.conv1.weight" in encoder_keys  # layer1, first bottleneck
    assert "resnet.7.2.bn3.running_var" in encoder_keys  # layer4, last bottleneck
    assert {"linear.weight", "bn.running_mean"} <= set(encoder_keys)
    decoder_keys = set(torch.load(seed_dir / "decoder.pth", weights_only=True))
    assert {"embed.weight", "lstm.weight_ih_l1", "linear.bias"} <= decoder_keys


@pytest.fixture(scope="module")
def converted(seed_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("seed-bundle")
    assert export_main(["seed", str(seed_dir), str(out)]) == 0
    return out


def test_serving_a_seed_checkpoint_names_the_command_that_converts_it(seed_dir):
    with pytest.raises(BundleError, match=f"python -m caption.train.export seed {seed_dir}"):
        load_model(seed_dir)


def test_a_converted_seed_checkpoint_captions_an_image(converted):
    model = load_model(converted)
    assert model.runtime["encoder"] == "onnxruntime float32"  # no int8 graph for the seed
    captions = model.caption(Image.new("RGB", (300, 200), (10, 120, 30)), beam_size=3,
                             num_captions=3, max_length=5)
    assert captions
    assert all(set(c.text.split()) <= set(WORDS[4:]) for c in captions)
    assert model.info.architecture.startswith("resnet152")


def test_the_converted_graphs_search_as_the_seed_networks_do(seed_dir, converted):
    """The seed's ResNet-152 + LSTM exported (float32): the same captions and scores as its
    PyTorch networks give under the same search."""
    from caption.model.search import beam_search
    from caption.train.export.seed_checkpoint import load_seed_checkpoint
    from caption.train.networks.torch_parts import TorchDecoder

    seed, served = load_seed_checkpoint(seed_dir), load_model(converted)
    image = Image.new("RGB", (300, 200), (200, 60, 30))
    pixels = seed.preprocess(image)[None]
    with torch.inference_mode():
        reference_features = seed.encoder(torch.from_numpy(pixels)).numpy()
    features = served.encode(pixels).regions
    assert features.shape == (1, 256)
    assert float(abs(features - reference_features).max()) < 1e-3
    theirs = beam_search(TorchDecoder(seed.decoder), reference_features, seed.vocabulary, 3, 3, 6)
    ours = beam_search(served.decoder, features, served.vocabulary, 3, 3, 6)
    assert [h.tokens for h in ours] == [h.tokens for h in theirs]
    assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=1e-4)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/caption-pwned",))


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    data = pickle.dumps({0: "<pad>", 1: _Exploit()})
    with pytest.raises(CheckpointError, match="posix.system|os.system|refers to"):
        read_id_to_word(data)
    assert not os.path.exists("/tmp/caption-pwned")


@pytest.mark.parametrize("payload, message", [
    (["<pad>", "<start>"], "dict of ints to strings"),
    ({"0": "<pad>"}, "dict of ints to strings"),
    ({0: "<pad>", 2: "<start>"}, "without gaps"),
])
def test_pickle_must_be_a_plain_id_to_word_dict(payload, message):
    with pytest.raises(CheckpointError, match=message):
        read_id_to_word(pickle.dumps(payload))


def test_a_pth_holding_code_is_refused(seed_dir, tmp_path):
    for name in ("decoder.pth", "id_to_word.pkl"):
        (tmp_path / name).write_bytes((seed_dir / name).read_bytes())
    torch.save({"resnet.0.weight": _Exploit()}, tmp_path / "encoder.pth")
    assert export_main(["seed", str(tmp_path), str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out" / "model.json").exists()
    assert not os.path.exists("/tmp/caption-pwned")


def test_incomplete_checkpoint_names_the_missing_file(seed_dir, tmp_path, capsys):
    (tmp_path / "encoder.pth").write_bytes((seed_dir / "encoder.pth").read_bytes())
    assert export_main(["seed", str(tmp_path), str(tmp_path / "out")]) == 1
    assert "decoder.pth" in capsys.readouterr().err
