"""Operations beyond the function: the backfill job request, the docker-less invoke and the
AVX2 agreement check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import boto3
import pytest
from botocore.validate import ParamValidator

from infra.backfill import job_request
from infra.invoke import objects_named
from infra.local_lambda import find_rie
from tests.conftest import REPO, load_event

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:caption"
ROLE = "arn:aws:iam::123456789012:role/caption-batch"


@pytest.mark.parametrize("prefix", ["", "photos/2026/"])
def test_backfill_request_is_valid_for_the_s3control_api(prefix):
    request = job_request("123456789012", "my-bucket", FUNCTION, ROLE, prefix, confirm=False)
    model = boto3.client("s3control", region_name="us-east-1").meta.service_model
    report = ParamValidator().validate(request, model.operation_model("CreateJob").input_shape)
    assert not report.has_errors(), report.generate_report()
    generator = request["ManifestGenerator"]["S3JobManifestGenerator"]
    assert generator["SourceBucket"] == "arn:aws:s3:::my-bucket"
    assert ("Filter" in generator) == bool(prefix)
    assert request["Operation"]["LambdaInvoke"]["InvocationSchemaVersion"] == "2.0"


def test_backfill_dry_run_prints_the_request():
    result = subprocess.run(
        [sys.executable, "infra/backfill.py", "--bucket", "b", "--function-arn", FUNCTION,
         "--role-arn", ROLE, "--prefix", "p/", "--dry-run"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["RoleArn"] == ROLE


def test_invoke_seeds_the_objects_each_event_names():
    assert objects_named(load_event("s3-put")) == [
        ("caption-demo-bucket", "holiday photos/chelsea the cat.jpg")]
    assert objects_named(load_event("batch-task")) == objects_named(load_event("batch-task-v2"))
    assert objects_named(load_event("api-http-upload")) == []
    # the queue's S3 notification inside its message body; S3's test event names nothing
    assert objects_named(load_event("sqs-upload")) == objects_named(load_event("s3-put"))
    for name in ("eventbridge-object-created", "sns-s3-put", "sqs-eventbridge-upload"):
        assert objects_named(load_event(name)) == objects_named(load_event("s3-put")), name
    assert objects_named(load_event("eventbridge-object-deleted")) == []


@pytest.mark.skipif(find_rie() is None, reason="needs .venv-tools (make test installs it)")
def test_make_invoke_runs_the_s3_event_in_the_lambda_runtime():
    result = subprocess.run([sys.executable, "infra/invoke.py", "events/s3-put.json"], cwd=REPO,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"status": "captioned"' in result.stdout
    assert '"caption-model"' in result.stdout


def test_dockerfile_copies_only_what_exists_and_orders_layers():
    lines = [line.split() for line in (REPO / "Dockerfile.lambda").read_text().splitlines()
             if line.startswith("COPY ")]
    sources = [parts[1] for parts in lines]
    # slowest-changing first: dependencies, then the model, then the code; no PyTorch layer
    assert sources == ["layers/deps/requirements.lock", "layers/model/", "functions/caption/"]
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    for source in sources:
        assert (REPO / source).exists(), source
        assert f"!{source}" in ignore, f"{source} must be in the build context"
    assert (REPO / "layers/model/model.json").exists(), "the image needs the bundled model"
    # of the model only what serving reads: the training checkpoint stays out of the context
    assert "layers/model/model.safetensors" in ignore
    assert ignore.index("layers/model/model.safetensors") > ignore.index("!layers/model/")


def test_the_locks_pin_every_package_with_hashes_and_torch_for_both_pythons():
    """Hash-checking mode refuses a lock with an unpinned or unhashed entry; the image runs
    Python 3.12 and the tests 3.11, so torch's CPU wheel is hashed for both."""
    import re

    for name in ("torch.lock", "requirements.lock"):
        text = (REPO / "layers/deps" / name).read_text()
        entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)(?: ;[^\\\n]*)?"
                             r"((?: \\\n    --hash=sha256:\w+)+)", text, re.M)
        lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
        assert len(entries) == len(lines), f"{name}: an entry without a pin or a hash"
    torch = (REPO / "layers/deps/torch.lock").read_text()
    hashes = re.search(r"^torch==2\.13\.0\+cpu((?: \\\n    --hash=sha256:\w+)+)", torch, re.M)
    assert hashes and hashes.group(1).count("--hash") == 2
    pinned = {line.split("==")[0].lower() for line in
              (REPO / "layers/deps/requirements.txt").read_text().splitlines()
              if "==" in line}
    locked = (REPO / "layers/deps/requirements.lock").read_text().lower()
    assert all(f"\n{name}==" in locked for name in pinned)
    # what serving installs has no PyTorch, nor onnxruntime's offline-tools dependencies
    assert not re.search(r"^(torch|sympy|mpmath|safetensors)==", locked, re.M)


def test_backfill_wait_follows_the_job_to_its_end_and_names_the_report(capsys):
    """DescribeJob answers in the API's own shapes (botocore's Stubber checks them)."""
    import io

    import boto3
    from botocore.stub import Stubber

    from infra.backfill import follow_job, report_location

    client = boto3.client("s3control", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    job_id = "11111111-2222-3333-4444-555555555555"
    for status, succeeded, failed in (("Active", 10, 0), ("Active", 60, 2), ("Complete", 98, 2)):
        stub.add_response("describe_job", {"Job": {
            "JobId": job_id, "Status": status,
            "ProgressSummary": {"TotalNumberOfTasks": 100, "NumberOfTasksSucceeded": succeeded,
                                "NumberOfTasksFailed": failed},
            "Report": {"Bucket": "arn:aws:s3:::pics", "Prefix": "caption-backfill-reports",
                       "Format": "Report_CSV_20180820", "Enabled": True,
                       "ReportScope": "FailedTasksOnly"}}},
            {"AccountId": "123456789012", "JobId": job_id})
    log = io.StringIO()
    with stub:
        final = follow_job(client, "123456789012", job_id, poll_s=0, out=log)
    stub.assert_no_pending_responses()
    assert final["Status"] == "Complete"
    assert log.getvalue().splitlines() == ["Active: 10 of 100 tasks (0 failed)",
                                           "Active: 62 of 100 tasks (2 failed)",
                                           "Complete: 100 of 100 tasks (2 failed)"]
    assert report_location(final) == f"s3://pics/caption-backfill-reports/job-{job_id}/"


def test_backfill_for_a_stack_that_is_not_there_says_so_without_a_traceback(capsys):
    from moto import mock_aws

    from infra.backfill import main

    with mock_aws():
        assert main(["--stack", "no-such-stack"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read stack 'no-such-stack'") and "does not exist" in err
    assert "Traceback" not in err


@pytest.mark.skipif(shutil.which("qemu-x86_64-static") is None,
                    reason="needs qemu-user-static to emulate an AVX2 CPU")
def test_an_emulated_avx2_cpu_writes_the_captions_this_one_does(photos, tmp_path):
    """`make avx2-check` on two photos: the same best captions on this CPU and on QEMU's
    Haswell (AVX2, no AVX-512, no VNNI), whose flags the report records as each run saw them."""
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    lines = []
    for name in ("chelsea", "astronaut"):
        (data / "images" / f"{name}.jpg").write_bytes(photos[name])
        lines.append(f"{name}.jpg#0\ta photo of {name}")
    (data / "captions.tsv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "avx2.json"
    done = subprocess.run([sys.executable, "infra/avx2_check.py", "--data", str(data),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    emulated = report["runs"]["QEMU Haswell"]["cpu_features"]
    assert emulated["AVX2"] and not emulated["AVX512F"] and not emulated["AVX512VNNI"]
    assert report["photos"] == 2 and report["captions_differ"] == 0, report["differing"]
