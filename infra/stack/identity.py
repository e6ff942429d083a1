"""Cognito: who may call the API. Machine clients only (client credentials), no human sign-in."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.stack import constants
from infra.stack.config import TenantConfig
from infra.stack.nag import acknowledge


class Identity(Construct):
    """A user pool with the `timerack` resource server, a hosted domain and two app clients."""

    def __init__(self, scope: Construct, construct_id: str, *, tenant: TenantConfig) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            account_recovery=cognito.AccountRecovery.NONE,
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OFF,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        no_users = (
            "The pool has no users: callers are machine clients with the client-credentials flow, "
            "and self sign-up is disabled, so there is no password to protect with {}."
        )
        acknowledge(self.user_pool, "AwsSolutions-COG2", no_users.format("MFA"))
        acknowledge(self.user_pool, "AwsSolutions-COG3", no_users.format("threat protection"))
        acknowledge(self.user_pool, "AwsSolutions-COG8", no_users.format("the Plus plan's threat protection"))

        self.timecards_write = cognito.ResourceServerScope(
            scope_name=constants.SCOPE_TIMECARDS_WRITE,
            scope_description="Send timecards and read Payroll History (Timerack)",
        )
        self.admin = cognito.ResourceServerScope(
            scope_name=constants.SCOPE_ADMIN, scope_description="Maintain TempWorks admin data"
        )
        self.resource_server = self.user_pool.add_resource_server(
            "ResourceServer",
            identifier=constants.RESOURCE_SERVER_ID,
            scopes=[self.timecards_write, self.admin],
        )
        self.domain = self.user_pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=tenant.domain_prefix)
        )
        self.timerack_client = self._machine_client("TimerackClient", self.timecards_write)
        self.admin_client = self._machine_client("AdminClient", self.admin)

    def _machine_client(self, construct_id: str, scope: cognito.ResourceServerScope) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            construct_id,
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(self.resource_server, scope)],
            ),
            access_token_validity=constants.ACCESS_TOKEN_VALIDITY,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
        )

    @property
    def scopes(self) -> list[str]:
        """The method authorization scopes: a token with either one passes the gateway."""
        return [
            f"{constants.RESOURCE_SERVER_ID}/{constants.SCOPE_TIMECARDS_WRITE}",
            f"{constants.RESOURCE_SERVER_ID}/{constants.SCOPE_ADMIN}",
        ]

    @property
    def token_url(self) -> str:
        return f"{self.domain.base_url()}/oauth2/token"
