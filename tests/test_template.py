"""The SAM template: what an operator relies on is declared (and SAM turns it into what we
mean). `make lint` runs cfn-lint and `sam validate --lint` on the same file."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from infra.local_lambda import REPO
from tests.s3_helpers import BUCKET

TOOLS_PYTHON = REPO / ".venv-tools/bin/python"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !If...) as their long JSON forms."""


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load((REPO / "template.yaml").read_text(), Loader=_CloudFormationLoader)


def resources_of(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_the_api_is_declared_as_sam_events_with_iam_auth_by_default(template):
    assert not [r for r in template["Resources"].values()
                if r["Type"].startswith("AWS::ApiGatewayV2::")]
    events = template["Resources"]["CaptionFunction"]["Properties"]["Events"]
    routes = {(e["Properties"]["Path"], e["Properties"]["Method"])
              for e in events.values() if e["Type"] == "HttpApi"}
    assert routes == {("/", "GET"), ("/{proxy+}", "ANY")}
    api = template["Resources"]["CaptionApi"]["Properties"]
    assert template["Parameters"]["ApiAuth"]["Default"] == "AWS_IAM"
    for path in api["DefinitionBody"]["paths"].values():
        (method,) = path.values()
        assert method["security"] == {"Fn::If": ["IsPublic", [], [{"AWS_IAM": []}]]}
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    assert '"status":"$context.status"' in api["AccessLogSettings"]["Format"]


def test_uploads_go_through_a_queue_with_bounded_concurrency(template):
    events = template["Resources"]["CaptionFunction"]["Properties"]["Events"]
    (queue_event,) = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert queue_event["Queue"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    assert queue_event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "UploadConcurrency"}
    assert queue_event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = template["Resources"]["UploadQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["UploadDeadLetters", "Arn"]}
    # Lambda asks for a visibility timeout of at least six times the function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * template["Globals"]["Function"]["Timeout"]
    deployed = resolved(template, {})
    bucket_notifications = deployed["Resources"]["ImageBucket"]["Properties"][
        "NotificationConfiguration"]
    (notification,) = bucket_notifications["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"  # copies too
    assert set(bucket_notifications) == {"QueueConfigurations"}
    assert "UploadsRule" not in deployed["Resources"]
    (statement,) = deployed["Resources"]["UploadQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}


STACK_BUCKET = "caption-123456789012-us-east-1"  # what the template names the stack's bucket


def resolved(template: dict, parameters: dict, stack: str = "caption") -> dict:
    """The template as CloudFormation deploys it with these parameters (the rest at their
    defaults): conditions decided, `!If` and `!Sub` of parameters and pseudo-parameters
    resolved, AWS::NoValue dropped. Other intrinsics stay as they are."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(parameters)
    values.update({"AWS::StackName": stack, "AWS::AccountId": "123456789012",
                   "AWS::Region": "us-east-1"})
    conditions: dict[str, bool] = {}

    def condition(expr) -> bool:
        if "Condition" in expr or "Fn::Condition" in expr:  # a named condition
            name = expr.get("Condition") or expr["Fn::Condition"]
            if name not in conditions:
                conditions[name] = condition(template["Conditions"][name])
            return conditions[name]
        (function, args), = expr.items()
        if function == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if function == "Fn::Not":
            return not condition(args[0])
        if function == "Fn::And":
            return all(condition(a) for a in args)
        if function == "Fn::Or":
            return any(condition(a) for a in args)
        raise AssertionError(f"condition function {function}")

    def value(item):
        if isinstance(item, list):
            return [v for v in (value(i) for i in item) if v is not _DROP]
        if not isinstance(item, dict):
            return item
        if set(item) == {"Ref"} and item["Ref"] == "AWS::NoValue":
            return _DROP
        if set(item) == {"Ref"} and item["Ref"] in values:
            return values[item["Ref"]]
        if set(item) == {"Fn::If"}:
            name, yes, no = item["Fn::If"]
            return value(yes if condition({"Condition": name}) else no)
        if set(item) == {"Fn::Sub"} and isinstance(item["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m[1], m[0]), item["Fn::Sub"])
        return {k: v for k, v in ((k, value(v)) for k, v in item.items()) if v is not _DROP}

    resources = {name: spec for name, spec in template["Resources"].items()
                 if "Condition" not in spec or condition({"Condition": spec["Condition"]})}
    return {**template, "Resources": value(resources)}


_DROP = object()


def test_eventbridge_routing_is_a_parameter_that_keeps_the_bounded_queue(template):
    deployed = resolved(template, {"UploadEvents": "EventBridge"})["Resources"]
    assert deployed["ImageBucket"]["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    rule = deployed["UploadsRule"]["Properties"]
    assert rule["Targets"] == [{"Id": "upload-queue",
                                "Arn": {"Fn::GetAtt": ["UploadQueue", "Arn"]}}]
    assert rule["EventPattern"] == {"source": ["aws.s3"], "detail-type": ["Object Created"],
                                    "detail": {"bucket": {"name": [STACK_BUCKET]}}}
    (statement,) = deployed["UploadQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["UploadsRule", "Arn"]}


@pytest.mark.parametrize(("prefix", "suffix", "pattern"), [
    ("", "", None), ("photos/", "", "photos/*"), ("", ".jpg", "*.jpg"),
    ("photos/", ".jpg", "photos/*.jpg")])
def test_the_rule_filters_keys_as_the_bucket_notification_would(template, prefix, suffix,
                                                                 pattern):
    deployed = resolved(template, {"UploadEvents": "EventBridge", "UploadPrefix": prefix,
                                   "UploadSuffix": suffix})["Resources"]
    detail = deployed["UploadsRule"]["Properties"]["EventPattern"]["detail"]
    assert detail.get("object") == (None if pattern is None else {"key": [{"wildcard": pattern}]})


def test_an_upload_routed_by_the_templates_rule_is_captioned(template, s3, photos, context):
    """The stack's EventBridge route, on moto: the bucket sends its events to EventBridge,
    the template's rule (with a prefix and suffix) sends the uploads it matches to the queue,
    and the handler captions what the queue delivers, as Lambda's poller hands it over."""
    import boto3

    import caption.app as app
    from tests.conftest import load_event

    parameters = {"UploadEvents": "EventBridge", "UploadPrefix": "photos/", "UploadSuffix": ".jpg"}
    rule = resolved(template, parameters, stack=BUCKET.removesuffix("-123456789012-us-east-1")
                    )["Resources"]["UploadsRule"]["Properties"]
    rule["EventPattern"]["detail"]["bucket"]["name"] = [BUCKET]  # the tests' bucket
    events, sqs = (boto3.client(name, region_name="us-east-1") for name in ("events", "sqs"))
    queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    events.put_rule(Name="uploads", EventPattern=json.dumps(rule["EventPattern"]))
    events.put_targets(Rule="uploads", Targets=[{"Id": "upload-queue", "Arn": queue_arn}])
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}})
    for key in ("photos/cat.jpg", "photos/cat.png", "elsewhere/cat.jpg"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=photos["sample"])

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    record = load_event("sqs-eventbridge-upload")["Records"][0]
    event = {"Records": [{**record, "messageId": m["MessageId"], "body": m["Body"]}
                         for m in messages]}
    assert len(event["Records"]) == 1  # the rule's filter let one upload through
    assert app.handler(event, context) == {"batchItemFailures": []}
    assert s3.head_object(Bucket=BUCKET, Key="photos/cat.jpg")["Metadata"]["caption"]
    for key in ("photos/cat.png", "elsewhere/cat.jpg"):
        assert "caption" not in s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]


def test_tracing_metrics_and_a_local_s3_endpoint_are_declared(template):
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    variables = template["Resources"]["CaptionFunction"]["Properties"]["Environment"][
        "Variables"]
    assert variables["AWS_ENDPOINT_URL_S3"] == ""  # `sam local invoke --env-vars` can set it


def test_alarms_watch_the_dead_letter_queues_errors_throttles_5xx_and_duration(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for a in alarms}
    assert watched == {("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
                       ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
                       ("AWS/Lambda", "Duration"), ("AWS/ApiGateway", "5xx")}
    queues = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms
              if a["Properties"]["Namespace"] == "AWS/SQS"}
    assert queues == {"UploadDeadLetters", "CaptionFailures"}
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic"


def test_kms_grant_is_exactly_what_the_copy_needs_and_only_with_a_key(template):
    statements = template["Resources"]["CaptionFunction"]["Properties"]["Policies"][0][
        "Statement"]
    (conditional,) = [s for s in statements if "Fn::If" in s]
    condition, grant, otherwise = conditional["Fn::If"]
    assert condition == "HasKmsKey" and otherwise == {"Ref": "AWS::NoValue"}
    assert sorted(grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert grant["Resource"] == {"Ref": "BucketKmsKeyArn"}


def test_backfill_reports_go_to_their_own_bucket(template):
    statements = template["Resources"]["BatchOperationsRole"]["Properties"]["Policies"][0][
        "PolicyDocument"]["Statement"]
    (writes,) = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert {"Fn::GetAtt": ["ReportsBucket", "Arn"]} in writes["Resource"]
    assert "ImageBucket" not in json.dumps(writes) and "StackName" not in json.dumps(writes)


def test_the_lifecycle_rule_expires_the_version_each_caption_leaves_behind(template, s3, photos,
                                                                          context):
    """The caption's in-place copy makes the upload a noncurrent version; the template's rule
    (applied through S3's own API, which validates it) is what removes it."""
    import caption.app as app
    from tests.s3_helpers import s3_event

    rules = template["Resources"]["ImageBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == {
        "Ref": "NoncurrentVersionDays"}
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="v/cat.jpg", Body=photos["chelsea"])
    app.handler(s3_event("v/cat.jpg"), context)
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="v/")["Versions"]
    assert sorted(v["IsLatest"] for v in versions) == [False, True]  # stored twice until...
    # CloudFormation's rule, in the S3 API's names (ExpiredObjectDeleteMarker nests there).
    applied = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": ""},
               "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
               "Expiration": {"ExpiredObjectDeleteMarker": rule["ExpiredObjectDeleteMarker"]},
               "AbortIncompleteMultipartUpload": rule["AbortIncompleteMultipartUpload"]}
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET,
                                          LifecycleConfiguration={"Rules": [applied]})
    stored = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"][0]
    assert stored["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1


@pytest.mark.skipif(not TOOLS_PYTHON.exists(), reason="needs .venv-tools (make test installs it)")
@pytest.mark.parametrize("auth", ["AWS_IAM", "NONE"])
def test_sam_turns_the_events_into_routes_integrations_and_a_bounded_queue(auth):
    """SAM's own translator (as `sam deploy` runs it) on the template."""
    script = (
        "import json, sys\n"
        "from samtranslator.translator.transform import transform\n"
        "from samtranslator.yaml_helper import yaml_parse\n"
        "class Policies:\n"
        "    def load(self): return {'AWSXrayWriteOnlyAccess': 'arn:aws:iam::aws:policy/x',"
        " 'AWSLambdaSQSQueueExecutionRole': 'arn:aws:iam::aws:policy/y'}\n"
        "template = yaml_parse(open('template.yaml').read())\n"
        "# what `sam build` fills in after building the image\n"
        "template['Resources']['CaptionFunction']['Properties']['ImageUri'] = "
        "'123456789012.dkr.ecr.us-east-1.amazonaws.com/caption:1'\n"
        "out = transform(template, json.loads(sys.argv[1]), Policies())\n"
        "print(json.dumps(out))\n")
    result = subprocess.run(
        [str(TOOLS_PYTHON), "-c", script, json.dumps({"ApiAuth": auth})], cwd=REPO,
        capture_output=True, text=True, timeout=120,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    resources = json.loads(result.stdout)["Resources"]
    body = resources["CaptionApi"]["Properties"]["Body"]
    for path in ("/", "/{proxy+}"):
        (method,) = body["paths"][path].values()
        assert method["x-amazon-apigateway-integration"]["payloadFormatVersion"] == "2.0"
        assert method["security"]["Fn::If"][0] == "IsPublic"
    (mapping,) = [r["Properties"] for r in resources.values()
                  if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "UploadConcurrency"}}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    function = resources["CaptionFunction"]["Properties"]
    assert function["TracingConfig"] == {"Mode": "Active"}


def test_sam_build_and_docker_build_start_from_the_same_pinned_base(template):
    dockerfile = (REPO / "Dockerfile.lambda").read_text()
    (pinned,) = [line.split("=", 1)[1] for line in dockerfile.splitlines()
                 if line.startswith("ARG BASE_IMAGE=")]
    assert "@sha256:" in pinned
    assert template["Parameters"]["BaseImage"]["Default"] == pinned
    build_args = template["Resources"]["CaptionFunction"]["Metadata"]["DockerBuildArgs"]
    assert build_args == {"BASE_IMAGE": {"Ref": "BaseImage"}}


def test_the_architecture_is_a_parameter_x86_by_default(template):
    parameter = template["Parameters"]["Architecture"]
    assert parameter["Default"] == "x86_64" and parameter["AllowedValues"] == ["x86_64", "arm64"]
    assert template["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]
