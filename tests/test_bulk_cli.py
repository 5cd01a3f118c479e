"""Bulk captioning from the command line: folders, S3 prefixes, output files, resume, in-place
metadata and interruption, through real processes and a moto server."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from infra.local_lambda import MotoServer
from tests.conftest import REPO
from tests.test_cli import run_cli


@pytest.fixture
def folder(tmp_path, photos):
    """Nested photos, one with a misleading name, beside files that are not images."""
    root = tmp_path / "album"
    (root / "2025" / "summer").mkdir(parents=True)
    (root / "b.jpg").write_bytes(photos["chelsea"])
    (root / "2025" / "a.jpg").write_bytes(photos["coffee"])
    (root / "2025" / "summer" / "scan.dat").write_bytes(photos["sample"])  # a JPEG by content
    (root / "2025" / "notes.txt").write_text("not a photo")
    (root / "2025" / "summer" / "fake.jpg").write_text("a text file with an image's name")
    return root


def test_folders_are_searched_recursively_for_images_by_content(folder):
    result = run_cli("--json", str(folder))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    files = [line["file"] for line in lines]
    assert files == [str(folder / "b.jpg"), str(folder / "2025" / "a.jpg"),
                     str(folder / "2025" / "summer" / "scan.dat")]  # files, then folders
    assert all(line["captions"] and "labels" in line for line in lines)


def test_s3_prefixes_are_listed(photos):
    with MotoServer() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket="listed")
        for key in ("pets/cat.jpg", "pets/more/coffee.png", "pets/readme.txt", "other/x.jpg"):
            s3.put_object(Bucket="listed", Key=key, Body=photos["chelsea"])
        result = run_cli("--json", "s3://listed/pets/", env=_aws(moto))
    assert result.returncode == 0, result.stderr
    files = [json.loads(line)["file"] for line in result.stdout.splitlines()]
    assert files == ["s3://listed/pets/cat.jpg", "s3://listed/pets/more/coffee.png"]


def test_output_files_and_resume_after_an_interrupted_run(folder, tmp_path):
    out = tmp_path / "captions.jsonl"
    first = run_cli("--output", str(out), str(folder))
    assert first.returncode == 0, first.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 3
    # As if the run had been killed while writing its third record.
    out.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:25])
    resumed = run_cli("--json", "--output", str(out), "--resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert [json.loads(x)["file"] for x in resumed.stdout.splitlines()] == [
        json.loads(lines[2])["file"]]
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(r["file"] for r in records) == sorted(json.loads(x)["file"] for x in lines)
    again = run_cli("--json", "--output", str(out), "--resume", str(folder))
    assert again.stdout == "" and again.returncode == 0


def test_csv_output(folder, tmp_path):
    out = tmp_path / "captions.csv"
    result = run_cli("--output", str(out), str(folder), str(tmp_path / "missing.jpg"))
    assert result.returncode == 1
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4
    assert all(row["caption"] and float(row["score"]) > 0 for row in rows[:3])
    assert rows[3]["error_code"] == "file_not_found"


def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path, photos):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:03d}.jpg").write_bytes(photos["chelsea" if i % 2 else "coffee"])
    out = tmp_path / "out.jsonl"
    # A user's shell delivers Ctrl-C to a process that takes it, whatever ran these tests: a
    # background job or nohup ignores SIGINT, and a child would inherit that. Python turns
    # SIGINT into KeyboardInterrupt only if it is not ignored when the interpreter starts.
    process = subprocess.Popen([sys.executable, "-m", "caption", "--output", str(out),
                                str(folder)], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO / "functions")},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr
    partial = [json.loads(line) for line in out.read_text().splitlines()]  # all whole lines
    assert 0 < len(partial) < 40
    finished = run_cli("--output", str(out), "--resume", str(folder))
    assert finished.returncode == 0, finished.stderr
    files = [json.loads(line)["file"] for line in out.read_text().splitlines()]
    assert sorted(files) == sorted(str(p) for p in folder.iterdir())


def test_write_metadata_captions_objects_in_place_like_the_s3_handler(photos):
    with MotoServer() as moto:
        s3 = moto.client()
        s3.create_bucket(Bucket="in-place")
        s3.put_object(Bucket="in-place", Key="pets/cat.jpg", Body=photos["chelsea"],
                      ContentType="image/jpeg", CacheControl="max-age=60",
                      Metadata={"owner": "alice"}, Tagging="keep=yes")
        s3.put_object(Bucket="in-place", Key="pets/coffee.jpg", Body=photos["coffee"])
        before = s3.head_object(Bucket="in-place", Key="pets/cat.jpg")
        dry = run_cli("--json", "--write-metadata", "--dry-run", "s3://in-place/pets/",
                      env=_aws(moto))
        assert [json.loads(x)["would"] for x in dry.stdout.splitlines()] == [
            "write metadata", "write metadata"], dry.stderr
        assert "caption" not in s3.head_object(Bucket="in-place", Key="pets/cat.jpg")["Metadata"]

        done = run_cli("--json", "--write-metadata", "s3://in-place/pets/", env=_aws(moto))
        assert done.returncode == 0, done.stderr
        assert [json.loads(x)["status"] for x in done.stdout.splitlines()] == [
            "captioned", "captioned"]
        after = s3.head_object(Bucket="in-place", Key="pets/cat.jpg")
        assert after["Metadata"]["owner"] == "alice" and "cat" in after["Metadata"]["caption"]
        assert after["Metadata"]["caption-labels"].split(" (")[1].startswith("cat")
        for header in ("ContentType", "CacheControl", "ContentLength"):
            assert after[header] == before[header]
        body = s3.get_object(Bucket="in-place", Key="pets/cat.jpg")["Body"].read()
        assert body == photos["chelsea"]
        tags = s3.get_object_tagging(Bucket="in-place", Key="pets/cat.jpg")["TagSet"]
        assert tags == [{"Key": "keep", "Value": "yes"}]

        again = run_cli("--json", "--write-metadata", "s3://in-place/pets/cat.jpg",
                        env=_aws(moto))
        [record] = [json.loads(x) for x in again.stdout.splitlines()]
        assert record["status"] == "skipped" and record["reason"].startswith("already captioned")
        dry_again = run_cli("--write-metadata", "--dry-run", "s3://in-place/pets/cat.jpg",
                            env=_aws(moto))
        assert "already captioned" in dry_again.stdout
        text_again = run_cli("--write-metadata", "s3://in-place/pets/cat.jpg", env=_aws(moto))
        assert text_again.stdout.startswith("s3://in-place/pets/cat.jpg: skipped (already "
                                            "captioned"), text_again.stdout
        assert text_again.stdout.rstrip().endswith(after["Metadata"]["caption"])


def test_a_reader_that_stops_early_ends_the_cli_quietly(tmp_path, photos):
    """`python -m caption DIR | head -2`: no BrokenPipeError traceback, the pipe's status."""
    for i in range(12):
        (tmp_path / f"{i:02d}.jpg").write_bytes(photos["coffee"])
    process = subprocess.Popen([sys.executable, "-m", "caption", str(tmp_path)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO / "functions")})
    first = process.stdout.readline()
    process.stdout.close()  # what `head` does once it has its lines
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr
    assert first.decode().strip() == str(tmp_path / "00.jpg")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_memory_stays_flat_over_a_long_input_list(tmp_path, monkeypatch):
    """100,000 inputs stream through in bounded batches: Python's peak allocation is about the
    same as for 1,000."""
    import tracemalloc

    import caption.cli as cli
    import caption.runtime as runtime

    service = runtime.load_service(cli.Settings.from_env(), warm_up=False)[0]
    monkeypatch.setattr(runtime, "load_service", lambda *a, **k: (service, {}))

    def peak(count: int) -> int:
        base = str(tmp_path)  # joined as text: pathlib would intern every name itself
        inputs = (os.path.join(base, f"missing-{i}.jpg") for i in range(count))
        monkeypatch.setattr(cli, "expand", lambda sources, s3: inputs)
        out = tmp_path / f"out-{count}.jsonl"
        tracemalloc.start()
        with open(os.devnull, "w") as sink:
            assert cli.run(["--json", "--output", str(out), "placeholder"], out=sink) == 1
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert sum(1 for _ in out.open()) == count
        return top

    small, large = peak(1_000), peak(100_000)
    assert large < 2 * small + 1_000_000, (small, large)


def _aws(moto) -> dict:
    return {"AWS_ENDPOINT_URL_S3": moto.url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
