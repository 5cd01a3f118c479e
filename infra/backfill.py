"""Caption what is already in a bucket: create an S3 Batch Operations job over a prefix.

    python infra/backfill.py --stack caption-lambda [--prefix photos/] [--dry-run] [--wait]
    python infra/backfill.py --bucket B --function-arn ARN --role-arn ARN [--prefix P]

With --stack, the bucket, function and role come from the stack's outputs. The job lists the
objects itself (an S3 manifest generator, no inventory needed), invokes the function with
invocation schema 2.0, and writes a completion report of failed tasks under
caption-backfill-reports/ in the stack's reports bucket (--report-bucket; default the source
bucket, where the notification then sees the report as one more object, skipped as not an
image). Objects already captioned by the deployed model
succeed without being rewritten, so re-running a backfill is safe. With --wait it follows the
job (status, tasks succeeded and failed, a progress bar on a terminal) until it ends, then says
where the failure report is; the exit status is 1 if any task failed or the job did not complete.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

REPORT_PREFIX = "caption-backfill-reports"
FINAL_STATES = ("Complete", "Failed", "Cancelled")


def job_request(account_id: str, bucket: str, function_arn: str, role_arn: str, prefix: str,
                confirm: bool, all_tasks_report: bool = False,
                report_bucket: str | None = None) -> dict:
    """The CreateJob request; a pure function so it can be checked against the API model."""
    source = f"arn:aws:s3:::{bucket}"
    key_filter = {"KeyNameConstraint": {"MatchAnyPrefix": [prefix]}} if prefix else {}
    generator = {"SourceBucket": source, "EnableManifestOutput": False}
    if key_filter:
        generator["Filter"] = key_filter
    return {
        "AccountId": account_id,
        "ConfirmationRequired": confirm,
        "Operation": {"LambdaInvoke": {"FunctionArn": function_arn,
                                       "InvocationSchemaVersion": "2.0"}},
        "Report": {"Bucket": f"arn:aws:s3:::{report_bucket or bucket}", "Prefix": REPORT_PREFIX,
                   "Format": "Report_CSV_20180820", "Enabled": True,
                   "ReportScope": "AllTasks" if all_tasks_report else "FailedTasksOnly"},
        "ClientRequestToken": str(uuid.uuid4()),
        "Description": f"caption backfill of s3://{bucket}/{prefix}"[:256],
        "Priority": 10,
        "RoleArn": role_arn,
        "ManifestGenerator": {"S3JobManifestGenerator": generator},
    }


def follow_job(s3control: Any, account: str, job_id: str, poll_s: float = 10.0,
               out=sys.stderr, max_polls: int | None = None) -> dict:
    """Poll DescribeJob until the job ends; returns its final description."""
    from tqdm import tqdm

    progress = tqdm(unit="task", file=out, disable=not out.isatty(), desc=job_id[:12])
    polls = 0
    try:
        while True:
            job = s3control.describe_job(AccountId=account, JobId=job_id)["Job"]
            summary = job.get("ProgressSummary", {})
            done = (summary.get("NumberOfTasksSucceeded", 0)
                    + summary.get("NumberOfTasksFailed", 0))
            progress.total = summary.get("TotalNumberOfTasks") or None
            progress.n = done
            progress.set_postfix(status=job["Status"],
                                 failed=summary.get("NumberOfTasksFailed", 0))
            if not out.isatty():
                print(f"{job['Status']}: {done} of {summary.get('TotalNumberOfTasks', '?')} tasks "
                      f"({summary.get('NumberOfTasksFailed', 0)} failed)", file=out, flush=True)
            polls += 1
            if job["Status"] in FINAL_STATES or (max_polls and polls >= max_polls):
                return job
            time.sleep(poll_s)
    finally:
        progress.close()


def report_location(job: dict) -> str:
    report = job.get("Report") or {}
    bucket = str(report.get("Bucket", "")).split(":::")[-1]
    return f"s3://{bucket}/{report.get('Prefix', REPORT_PREFIX)}/job-{job['JobId']}/"


class BackfillError(Exception):
    """What stops a backfill before or while it starts, in words a user can act on."""


def stack_outputs(stack: str) -> dict[str, str]:
    import boto3
    from botocore.exceptions import ClientError

    try:
        described = boto3.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as exc:  # "Stack with id NAME does not exist", access denied, ...
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise BackfillError(f"cannot read stack {stack!r}: {message} (check the name, "
                            "AWS_REGION and credentials; `aws cloudformation list-stacks`)"
                            ) from None
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in described["Stacks"][0].get("Outputs", [])}
    missing = [k for k in ("BucketName", "FunctionArn", "BatchOperationsRoleArn")
               if k not in outputs]
    if missing:
        raise BackfillError(f"stack {stack!r} has no output {', '.join(missing)}: is it a "
                            "caption-lambda stack (template.yaml), fully deployed?")
    return outputs


def _caller_account() -> str:
    import boto3

    return boto3.client("sts").get_caller_identity()["Account"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/backfill.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", help="read bucket, function and role from this stack")
    parser.add_argument("--bucket")
    parser.add_argument("--function-arn")
    parser.add_argument("--role-arn")
    parser.add_argument("--prefix", default="", help="only keys starting with this")
    parser.add_argument("--report-bucket", help="where the completion report goes "
                        "(with --stack: the stack's reports bucket; else the source bucket)")
    parser.add_argument("--account-id", help="default: the caller's account (STS)")
    parser.add_argument("--confirm", action="store_true",
                        help="create the job suspended until confirmed in the console")
    parser.add_argument("--report-all", action="store_true",
                        help="report every task, not only failures")
    parser.add_argument("--dry-run", action="store_true", help="print the request, create nothing")
    parser.add_argument("--wait", action="store_true", help="follow the job until it ends")
    args = parser.parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _backfill(args, parser)
    except BackfillError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (BotoCoreError, ClientError) as exc:  # no credentials or region, refused, offline
        print(f"error: {exc}", file=sys.stderr)
    return 1


def _backfill(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.stack:
        outputs = stack_outputs(args.stack)
        args.bucket = args.bucket or outputs["BucketName"]
        args.function_arn = args.function_arn or outputs["FunctionArn"]
        args.role_arn = args.role_arn or outputs["BatchOperationsRoleArn"]
        args.report_bucket = args.report_bucket or outputs.get("ReportsBucketName")
    missing = [n for n in ("bucket", "function_arn", "role_arn") if not getattr(args, n)]
    if missing:
        flags = ", ".join("--" + m.replace("_", "-") for m in missing)
        parser.error(f"give --stack or all of: {flags}")
    account = args.account_id
    if account is None:
        # A dry run needs no credentials; a placeholder account shows where it goes.
        account = "123456789012" if args.dry_run and not args.stack else _caller_account()
    request = job_request(account, args.bucket, args.function_arn, args.role_arn, args.prefix,
                          args.confirm, args.report_all, args.report_bucket)
    if args.dry_run:
        print(json.dumps(request, indent=2))
        return 0
    import boto3

    s3control = boto3.client("s3control")
    job = s3control.create_job(**request)
    print(f"created S3 Batch Operations job {job['JobId']}; follow it with:\n"
          f"  aws s3control describe-job --account-id {account} --job-id {job['JobId']}")
    if not args.wait:
        return 0
    final = follow_job(s3control, account, job["JobId"])
    summary = final.get("ProgressSummary", {})
    failed = summary.get("NumberOfTasksFailed", 0)
    print(f"job {final['JobId']} {final['Status']}: "
          f"{summary.get('NumberOfTasksSucceeded', 0)} succeeded, {failed} failed; "
          f"report: {report_location(final)}")
    return 0 if final["Status"] == "Complete" and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
