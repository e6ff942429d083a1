"""The two Lambda layers and one function construct: its own role, its own log group, arm64, X-Ray."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnElement, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
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


class Layers(Construct):
    """`shared` (layers/shared: the timerack_bridge package) and `dependencies` (arm64 wheels)."""

    def __init__(self, scope: Construct, construct_id: str, *, dependencies_layer_dir: Path) -> None:
        super().__init__(scope, construct_id)
        self.shared = lambda_.LayerVersion(
            self,
            "Shared",
            code=lambda_.Code.from_asset(str(constants.SHARED_LAYER_DIR), exclude=constants.ASSET_EXCLUDES),
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
    """What differs between the three functions."""

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
        environment: Mapping[str, str],
        on_failure: sqs.IQueue | None = None,
        retry_attempts: int | None = None,
        max_event_age: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Timerack Bridge {spec.folder} function ({tenant.name})",
        )
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention(tenant),
            removal_policy=RemovalPolicy.RETAIN,
        )
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
            layers=layers.all,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"timerack-{spec.folder}",
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": tenant.log_level,
                # Responses carry payroll data; keep them out of X-Ray.
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                **environment,
            },
            on_failure=destinations.SqsDestination(on_failure) if on_failure else None,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )
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
            else f"The {spec.folder} function is only invoked synchronously (API Gateway, or a stream "
            "mapping with its own on-failure destination); a function DLQ only serves async invokes.",
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
