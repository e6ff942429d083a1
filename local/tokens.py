"""Bearer tokens of the local runtime: HS256 JWTs (joserfc) signed with a key kept under the state directory.

The runtime checks signature, expiry, issuer and audience, then hands the claims to the handler
exactly where API Gateway's Cognito authorizer puts them.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ISSUER = "timerack-bridge-local"
AUDIENCE = "timerack-bridge"
ADMIN_SCOPE = "timerack/admin"
TIMECARDS_SCOPE = "timerack/timecards.write"
ALGORITHM = "HS256"


class TokenError(ValueError):
    """The token is missing, malformed, badly signed, expired or not for this API."""


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
    return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, OctKey.import_key(key), algorithms=[ALGORITHM])


def verify_token(key: bytes, token: str, *, now: float | None = None) -> dict[str, Any]:
    """The token's claims, or TokenError."""
    try:
        decoded = jwt.decode(token, OctKey.import_key(key), algorithms=[ALGORITHM])
    except (JoseError, ValueError):
        # joserfc raises BadSignatureError, DecodeError, UnsupportedAlgorithmError...: all mean "not ours".
        raise TokenError("the bearer token is not a JWT signed by this runtime") from None
    registry = jwt.JWTClaimsRegistry(
        now=int(now if now is not None else time.time()),
        exp={"essential": True},
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise TokenError(f"the bearer token is refused: {exc.description or exc.error}") from None
    return dict(decoded.claims)
