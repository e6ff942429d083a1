"""The local runtime's bearer tokens: signature, expiry, issuer and audience are checked."""

from __future__ import annotations

import base64
import json

import pytest

from local.tokens import AUDIENCE, ISSUER, TokenError, issue_token, verify_token

KEY = bytes(range(32))


def test_a_token_it_issued_verifies_with_its_claims() -> None:
    claims = verify_token(KEY, issue_token(KEY, "timerack-portal", admin=True))
    assert claims["sub"] == "timerack-portal" and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["scope"] == "timerack/timecards.write timerack/admin"


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "agency-admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


BAD_TOKENS = {
    "expired": lambda: issue_token(KEY, "p", ttl_seconds=-60),
    "wrong audience": lambda: issue_token(KEY, "p", audience="another-api"),
    "wrong issuer": lambda: issue_token(KEY, "p", issuer="someone-else"),
    "another key": lambda: issue_token(bytes(32), "p"),
    "tampered": lambda: _tampered(issue_token(KEY, "p")),
    "not a JWT": lambda: "not.a.jwt",
    "empty": lambda: "",
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_refused(case: str) -> None:
    with pytest.raises(TokenError):
        verify_token(KEY, BAD_TOKENS[case]())
