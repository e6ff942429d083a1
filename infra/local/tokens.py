"""Bearer tokens of the local runtime: HS256 JWTs signed with a key kept under .local/.

The runtime checks signature, expiry, issuer and audience, then hands the claims to the handler
exactly where API Gateway's Cognito authorizer puts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path
from typing import Any

ISSUER = "timerack-bridge-local"
AUDIENCE = "timerack-bridge"
ADMIN_SCOPE = "timerack/admin"
TIMECARDS_SCOPE = "timerack/timecards.write"


class TokenError(ValueError):
    """The token is missing, malformed, badly signed, expired or not for this API."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(state_dir: Path) -> bytes:
    """The runtime's signing key, made on first use and kept private to the user."""
    path = state_dir / "signing-key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


def issue_token(
    key: bytes,
    principal: str,
    *,
    admin: bool = False,
    ttl_seconds: int = 12 * 3600,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    scopes = [TIMECARDS_SCOPE] + ([ADMIN_SCOPE] if admin else [])
    claims = {
        "sub": principal,
        "scope": " ".join(scopes),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "token_use": "access",
    }
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify_token(key: bytes, token: str, *, now: float | None = None) -> dict[str, Any]:
    """The token's claims, or TokenError."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        signature = _unb64(signature_b64)
    except (ValueError, UnicodeDecodeError):
        raise TokenError("the bearer token is not a JWT") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("the bearer token is not signed with HS256")
    expected = hmac.new(key, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise TokenError("the bearer token's signature is not valid")
    try:
        claims = json.loads(_unb64(payload_b64))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("the bearer token's claims are not JSON") from None
    if not isinstance(claims, dict):
        raise TokenError("the bearer token's claims are not an object")
    current = now if now is not None else time.time()
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= current:
        raise TokenError("the bearer token has expired")
    if claims.get("iss") != ISSUER:
        raise TokenError("the bearer token was issued by someone else")
    if claims.get("aud") != AUDIENCE:
        raise TokenError("the bearer token is for another audience")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenError("the bearer token names no principal")
    return claims
