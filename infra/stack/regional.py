"""The regional stack: what exists once per account and region, whatever number of tenants live there.

- API Gateway's CloudWatch role (`AWS::ApiGateway::Account`, a per-region setting of the account): each tenant's
  stage writes execution logs through it. A tenant stack setting it would overwrite the role another stack
  (or another application) set, and deleting it would break their logging.
- The SES email identity of each sender address the region's tenants use: two tenants may send as one
  address, and SES has one identity per address and region.

`TimerackBridgeRegional-<account>-<region>`: infra/stack/assembly.py makes one per account and region of
infra/tenants.json, and makes every tenant stack there depend on it (`cdk deploy TimerackBridge-<tenant>`
deploys it first). Everything here is retained when the stack or a resource is removed: another
application's logging, or a verified sender, never depends on this stack staying.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ses as ses
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.nag import acknowledge


def regional_stack_name(account: str, region: str) -> str:
    return f"{constants.REGIONAL_STACK_PREFIX}-{account}-{region}"


def _identity_id(address: str) -> str:
    """A construct id for a sender address (stable: the address decides it)."""
    return "Sender" + "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", address) if part)


class RegionalStack(Stack):
    def __init__(self, scope: Construct, *, account: str, region: str, tenants: Sequence[TenantConfig]) -> None:
        others = [t.name for t in tenants if (t.account, t.region) != (account, region)]
        if others:
            raise ValueError(f"tenants {others} are not in {account}/{region}")
        super().__init__(
            scope,
            regional_stack_name(account, region),
            env=Environment(account=account, region=region),
            description="Timerack Bridge: what exists once per account and region (API Gateway's CloudWatch "
            "role, the tenants' SES sender identities)",
            termination_protection=True,
        )
        Tags.of(self).add("Application", constants.APPLICATION_TAG)
        self.api_gateway_role = iam.Role(
            self,
            "ApiGatewayCloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway writes the execution logs of this region's REST APIs with this role",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        self.api_gateway_role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            self.api_gateway_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role uses the AWS-maintained AmazonAPIGatewayPushToCloudWatchLogs "
            "policy, which AWS keeps in step with the service (it writes to log groups API Gateway names itself).",
        )
        self.api_gateway_account = apigw.CfnAccount(
            self, "ApiGatewayAccount", cloud_watch_role_arn=self.api_gateway_role.role_arn
        )
        self.api_gateway_account.apply_removal_policy(RemovalPolicy.RETAIN)
        self.sender_identities: dict[str, ses.EmailIdentity] = {}
        for address in sorted({tenant.sender_email for tenant in tenants}):
            identity = ses.EmailIdentity(self, _identity_id(address), identity=ses.Identity.email(address))
            identity.apply_removal_policy(RemovalPolicy.RETAIN)
            self.sender_identities[address] = identity
