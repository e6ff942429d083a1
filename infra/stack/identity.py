"""Cognito: who may call the API. Machine clients (client credentials) and, for a tenant with a portal,
each TempWorks user signing in as themselves (authorization code with PKCE on Cognito's managed login)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.nag import acknowledge


class Identity(Construct):
    """A user pool with the `timerack` resource server, a managed-login domain, two machine app clients
    and, when the tenant has a portal, the portal's public app client."""

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
            # People sign in here: a payroll password alone is not enough (authenticator app, no SMS to pay for).
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        few_known_users = (
            "Users are a handful of payroll staff an admin creates (self sign-up is disabled); each signs in "
            "with a 14-character password and a required authenticator-app code, so {} is not bought."
        )
        acknowledge(self.user_pool, "AwsSolutions-COG3", few_known_users.format("threat protection"))
        acknowledge(self.user_pool, "AwsSolutions-COG8", few_known_users.format("the Plus plan"))

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
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=tenant.domain_prefix),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
        )
        self.timerack_client = self._machine_client("TimerackClient", self.timecards_write)
        self.admin_client = self._machine_client("AdminClient", self.admin)
        self.portal_client = self._portal_client(tenant) if tenant.has_portal else None

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

    def _portal_client(self, tenant: TenantConfig) -> cognito.UserPoolClient:
        """The portal's public client: code grant, no secret (a browser keeps none; PKCE stands in)."""
        client = self.user_pool.add_client(
            "PortalClient",
            generate_secret=False,
            # SRP and refresh only (no plain-password or custom flow): the portal itself never handles a password.
            auth_flows=cognito.AuthFlow(user_srp=True),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.resource_server(self.resource_server, self.timecards_write),
                ],
                callback_urls=list(tenant.portal_callback_urls),
                logout_urls=list(tenant.portal_logout_urls) or None,
            ),
            access_token_validity=constants.ACCESS_TOKEN_VALIDITY,
            id_token_validity=constants.ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=constants.PORTAL_SESSION_VALIDITY,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
        )
        # Managed login (version 2) shows its pages only for a client with a branding style: Cognito's own.
        cognito.CfnManagedLoginBranding(
            self,
            "PortalLoginBranding",
            user_pool_id=self.user_pool.user_pool_id,
            client_id=client.user_pool_client_id,
            use_cognito_provided_values=True,
        )
        return client

    @property
    def portal_outputs(self) -> dict[str, tuple[str, str]]:
        """The stack outputs the portal is configured with; none for a tenant without a portal."""
        if self.portal_client is None:
            return {}
        return {
            "PortalClientId": (
                self.portal_client.user_pool_client_id,
                "Public app client of the TempWorks users' portal (code grant with PKCE, no secret)",
            ),
            "PortalAuthorizeUrl": (
                f"{self.domain.base_url()}/oauth2/authorize",
                "Managed login: the portal sends each user here to sign in as themselves",
            ),
        }

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
