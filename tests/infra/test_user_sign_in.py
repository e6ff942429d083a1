"""Each TempWorks user signs in as themselves: the portal's code-grant app client (PKCE, managed login)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

MACHINE_CLIENTS = ("TimerackClient", "AdminClient")


def _clients(synthesized, stack):
    return synthesized.resources(stack, "AWS::Cognito::UserPoolClient")


def _portal_client(synthesized, stack):
    (portal,) = [c for logical_id, c in _clients(synthesized, stack).items() if "PortalClient" in logical_id]
    return portal["Properties"]


def _scope_names(synthesized, stack, scopes):
    """The scopes as Cognito sees them: a resource server's scope is `{Ref ResourceServer}/name` in the template."""
    servers = synthesized.resources(stack, "AWS::Cognito::UserPoolResourceServer")
    names = []
    for scope in scopes:
        if isinstance(scope, dict):
            parts = scope["Fn::Join"][1]
            scope = "".join(servers[p["Ref"]]["Properties"]["Identifier"] if isinstance(p, dict) else p for p in parts)
        names.append(scope)
    return sorted(names)


def test_the_portal_gets_a_public_code_grant_client_with_the_timecards_scope(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        portal = _portal_client(synthesized, stack)

        # A browser keeps no secret: PKCE stands in for it, so the client has none
        assert portal.get("GenerateSecret", False) is False
        assert portal["AllowedOAuthFlows"] == ["code"]
        assert portal["AllowedOAuthFlowsUserPoolClient"] is True
        assert portal["SupportedIdentityProviders"] == ["COGNITO"]
        assert _scope_names(synthesized, stack, portal["AllowedOAuthScopes"]) == ["openid", "timerack/timecards.write"]
        assert portal["CallbackURLs"] == list(tenant.portal_callback_urls)
        assert portal["LogoutURLs"] == list(tenant.portal_logout_urls)
        assert portal["EnableTokenRevocation"] is True
        assert portal["PreventUserExistenceErrors"] == "ENABLED"
        # No password flow for the portal's own code: users sign in on the managed login pages only
        assert "ALLOW_USER_PASSWORD_AUTH" not in portal.get("ExplicitAuthFlows", [])


def test_the_machine_clients_stay_as_they_were(synthesized):
    for stack in synthesized.templates:
        machine = {
            logical_id: client["Properties"]
            for logical_id, client in _clients(synthesized, stack).items()
            if any(name in logical_id for name in MACHINE_CLIENTS)
        }
        assert len(machine) == 2
        for client in machine.values():
            assert client["AllowedOAuthFlows"] == ["client_credentials"]
            assert client["GenerateSecret"] is True


def test_the_domain_serves_managed_login_branded_for_the_portal(synthesized):
    for stack, template in synthesized.assertions.items():
        template.has_resource_properties("AWS::Cognito::UserPoolDomain", {"ManagedLoginVersion": 2})
        (branding,) = synthesized.resources(stack, "AWS::Cognito::ManagedLoginBranding").values()
        assert branding["Properties"]["UseCognitoProvidedValues"] is True
        portal_id = next(i for i in _clients(synthesized, stack) if "PortalClient" in i)
        assert branding["Properties"]["ClientId"] == {"Ref": portal_id}


def test_people_in_the_pool_must_use_a_second_factor(synthesized):
    for stack in synthesized.templates:
        (pool,) = synthesized.resources(stack, "AWS::Cognito::UserPool").values()
        assert pool["Properties"]["MfaConfiguration"] == "ON"
        assert pool["Properties"]["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
        assert pool["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}


def test_the_portal_outputs_are_published(synthesized):
    for template in synthesized.templates.values():
        outputs = template["Outputs"]
        assert {"PortalClientId", "PortalAuthorizeUrl"} <= set(outputs)
        assert "/oauth2/authorize" in json.dumps(outputs["PortalAuthorizeUrl"]["Value"])


def _tenant(**portal):
    return {
        "name": "acme",
        "account": "111111111111",
        "region": "us-east-1",
        "senderEmail": "payroll@acme.example.com",
        "exportDestination": "https",
        "timerackApiUrl": "https://api.timerack.example.com",
        **portal,
    }


def _load(tmp_path, tenant):
    from infra.stack import load_tenants

    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"tenants": [tenant]}), encoding="utf-8")
    return load_tenants(path)


def test_portal_urls_are_read_from_the_tenant(tmp_path):
    (tenant,) = _load(
        tmp_path,
        _tenant(
            portalCallbackUrls=["https://portal.acme.example.com/callback"],
            portalLogoutUrls=["https://portal.acme.example.com/"],
        ),
    )
    assert tenant.portal_callback_urls == ("https://portal.acme.example.com/callback",)
    assert tenant.portal_logout_urls == ("https://portal.acme.example.com/",)


@pytest.mark.parametrize(
    ("portal", "complaint"),
    [
        ({"portalCallbackUrls": []}, "portalCallbackUrls"),
        ({"portalCallbackUrls": ["http://portal.acme.example.com/callback"]}, "https"),
        ({"portalCallbackUrls": ["https://portal.acme.example.com/cb#frag"]}, "fragment"),
        ({"portalCallbackUrls": ["https://a.example.com/cb", "https://a.example.com/cb"]}, "unique"),
        ({"portalLogoutUrls": ["https://portal.acme.example.com/"]}, "portalCallbackUrls"),
        (
            {"portalCallbackUrls": ["https://a.example.com/cb"], "portalLogoutUrls": ["javascript:alert(1)"]},
            "https",
        ),
    ],
)
def test_invalid_portal_urls_are_refused_with_the_reason(tmp_path, portal, complaint):
    from infra.stack import TenantConfigError

    with pytest.raises(TenantConfigError, match=complaint):
        _load(tmp_path, _tenant(**portal))


def test_a_tenant_without_a_portal_is_still_valid(tmp_path):
    # A tenant that has not set up its portal yet gets no portal client (and no unknown callback URL)
    (tenant,) = _load(tmp_path, _tenant())
    assert tenant.portal_callback_urls == () and tenant.portal_logout_urls == ()
