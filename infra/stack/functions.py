"""The two Lambda layers and one function construct: its own role, its own encrypted log group, JSON logs,
arm64, X-Ray, its environment encrypted with the tenant's key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import CfnElement, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.encryption import DECRYPT, ENCRYPT, TenantKey
from infra.stack.nag import acknowledge

# The newest Python runtime aws-cdk-lib offers; cdk-nag's L1/LambdaLatestVersion rules check it stays so.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

_RETENTION = {
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
}


def log_retention(tenant: TenantConfig) -> logs.RetentionDays:
    return _RETENTION[tenant.log_retention_days]


def log_group(
    scope: Construct, construct_id: str, *, tenant: TenantConfig, key: TenantKey, name: str | None = None
) -> logs.LogGroup:
    """A log group with the tenant's retention, encrypted with its key, kept when the stack is deleted."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=log_retention(tenant),
        encryption_key=key.key,
        removal_policy=RemovalPolicy.RETAIN,
    )


@jsii.implements(lambda_.IDestination)
class QueueOnFailure:
    """An async invocation's on-failure destination: the queue's ARN, without the grant CDK's SqsDestination adds
    (`kms:ReEncrypt*`, `kms:GenerateDataKey*`, GetQueueAttributes...): BridgeFunction grants what Lambda uses."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(self, scope: Construct, fn: lambda_.IFunction, *, type: Any = None) -> lambda_.DestinationConfig:
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


def _sources(layer: Path) -> dict[Path, bytes]:
    return {
        path.relative_to(layer): path.read_bytes()
        for path in (layer / "python").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def shared_layer_code(
    build: Path = constants.SHARED_LAYER_BUILD_DIR, source: Path = constants.SHARED_LAYER_DIR
) -> tuple[Path, list[str]]:
    """The shared layer's directory and excludes: the build (with the runtime's bytecode) while its sources are
    layers/shared's byte for byte; else the sources themselves (a stale or missing build is never shipped)."""
    if build.is_dir() and _sources(build) == _sources(source):
        return build, constants.DEPENDENCY_LAYER_EXCLUDES
    return source, constants.ASSET_EXCLUDES


class Layers(Construct):
    """`shared` (layers/shared: the timerack_bridge package) and `dependencies` (arm64 wheels)."""

    def __init__(self, scope: Construct, construct_id: str, *, dependencies_layer_dir: Path) -> None:
        super().__init__(scope, construct_id)
        shared_dir, shared_excludes = shared_layer_code()
        self.shared = lambda_.LayerVersion(
            self,
            "Shared",
            code=lambda_.Code.from_asset(str(shared_dir), exclude=shared_excludes),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="timerack_bridge: the domain rules and adapters shared by the functions",
        )
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(dependencies_layer_dir), exclude=constants.DEPENDENCY_LAYER_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Runtime dependencies (Powertools, pydantic, boto3) as arm64 wheels",
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.shared, self.dependencies]


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the functions."""

    folder: str
    handler: str
    memory_mb: int
    timeout: Duration
    description: str


class BridgeFunction(Construct):
    """One function with its own least-privilege role (no managed policies) and its own log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        spec: FunctionSpec,
        layers: Layers,
        key: TenantKey,
        environment: Mapping[str, str],
        on_failure: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
        max_event_age: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self._key_statement: iam.PolicyStatement | None = None
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Timerack Bridge {spec.folder} function ({tenant.name})",
        )
        self.log_group = log_group(self, "LogGroup", tenant=tenant, key=key)
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            code=lambda_.Code.from_asset(str(constants.FUNCTIONS_DIR / spec.folder), exclude=constants.ASSET_EXCLUDES),
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            role=self.role,
            log_group=self.log_group,
            # One JSON object per line (Powertools' lines as they are; Lambda's own START/END/REPORT as JSON
            # too), filtered at the tenant's level by Lambda before it is stored.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel(tenant.application_log_level),
            system_log_level_v2=lambda_.SystemLogLevel.INFO,
            layers=layers.all,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                # Per tenant and function: the `service` dimension of every metric the function publishes.
                "POWERTOOLS_SERVICE_NAME": tenant.service_name(spec.folder),
                "POWERTOOLS_METRICS_NAMESPACE": tenant.metrics_namespace,
                "POWERTOOLS_LOG_LEVEL": tenant.log_level,
                # Responses carry payroll data; keep them out of X-Ray.
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                # No pydantic plugin is used: without this, building the first model scans every installed
                # distribution's entry points, ~25 ms of the API's import (docs/decisions.md).
                "PYDANTIC_DISABLE_PLUGINS": "__all__",
                **environment,
            },
            environment_encryption=key.key,
            on_failure=QueueOnFailure(on_failure) if on_failure else None,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )
        # The environment is encrypted with the tenant key, which Lambda decrypts for the role at cold start.
        self.allow_key(DECRYPT)
        if on_failure is not None:
            # Lambda sends a failed async invocation's record to the queue with the function's role.
            self.allow_send_to(on_failure)
        self._depend_on_policy_only()
        # Active tracing adds X-Ray's write actions on "*" to the role.
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
            "permissions; every other statement of this role names its resources.",
        )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            f"The {spec.folder} function's async failures go to an on-failure destination (SQS), which "
            "AWS recommends over a DLQ because it also records the error."
            if on_failure
            else f"The {spec.folder} function is only invoked synchronously (API Gateway, or an event source "
            "mapping: a stream with its own on-failure destination, or queues with their own dead-letter "
            "queues); a function DLQ only serves async invokes.",
        )

    def _depend_on_policy_only(self) -> None:
        """Keep the function's DependsOn on its role policy (so grants exist before first use) but
        drop the one on the role itself, which the Role GetAtt already implies (cfn-lint W3005)."""
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        function = self.function.node.default_child
        assert isinstance(policy, CfnElement) and isinstance(function, CfnResource)
        function.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])

    def allow(self, actions: Sequence[str], resources: Sequence[str]) -> None:
        """Add one statement with named actions on named resources to this function's role."""
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=list(resources)))

    def allow_key(self, actions: Sequence[str]) -> None:
        """Let this function's role use the tenant's key (the actions accumulate in one statement)."""
        if self._key_statement is None:
            self._key_statement = iam.PolicyStatement(actions=[], resources=[self.key.key_arn])
            self.role.add_to_principal_policy(self._key_statement)
        self._key_statement.add_actions(*sorted(set(actions) - set(self._key_statement.actions)))

    def allow_send_to(self, *queues: sqs.IQueue) -> None:
        """Let this function (or Lambda on its behalf) put messages on queues encrypted with the tenant's key
        (SendMessageBatch is authorised by sqs:SendMessage)."""
        self.allow(["sqs:SendMessage"], [queue.queue_arn for queue in queues])
        self.allow_key(ENCRYPT)
