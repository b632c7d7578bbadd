"""API tokens and roles: who may call which HTTP route.

``settings.api.tokens`` names each token, its role and the secret holding its value
(``HOTLINE_OPS_SECRET_<NAME>`` or ``…_FILE``), so no token is ever written in YAML. A request
presents ``Authorization: Bearer <token>``; it is compared with every configured token in
constant time (``hmac.compare_digest``). Token values are never logged or put in a message:
only the token's name is.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from hotline_ops.errors import ConfigError

READ, INGEST, SILENCE, ADMIN = "read", "ingest", "silence", "admin"
ACK = "ack"  # acknowledge an incident (stops its escalation)
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({READ}),
    "ingest": frozenset({INGEST}),
    "operator": frozenset({READ, INGEST, SILENCE, ACK}),
    "admin": frozenset({READ, INGEST, SILENCE, ADMIN, ACK}),
}


@dataclass(frozen=True)
class Token:
    name: str
    role: str
    value: bytes = field(repr=False)


class Denied(Exception):
    """401: no or unknown token; 403: a known token whose role lacks the permission."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Tokens:
    tokens: tuple[Token, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.tokens)

    def identify(self, presented: str) -> Token | None:
        """The token whose value equals ``presented``. Every token is compared, so the time
        taken says nothing about which one (or how much of one) matched."""
        given = presented.encode("utf-8")
        found = None
        for token in self.tokens:
            if hmac.compare_digest(given, token.value) and found is None:
                found = token
        return found


def load_tokens(settings: Any) -> Tokens:
    """Resolve each token's secret; a missing or shared secret is a config error."""
    tokens: list[Token] = []
    for i, spec in enumerate(settings.api.tokens):
        value = settings.secret(spec.secret.lower())
        if not value:
            env = f"HOTLINE_OPS_SECRET_{spec.secret.upper()}"
            raise ConfigError(
                f"api.tokens.{i}.secret: secret '{spec.secret}' is not set (set {env} "
                f"or {env}_FILE)"
            )
        if any(hmac.compare_digest(value.encode("utf-8"), t.value) for t in tokens):
            raise ConfigError(f"api.tokens.{i}.secret: the same value as another token")
        tokens.append(Token(spec.name, spec.role, value.encode("utf-8")))
    return Tokens(tuple(tokens))


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def authorize(
    tokens: Tokens, header: str | None, permission: str, *, open_when_unconfigured: bool = False
) -> Token | None:
    """The caller's token, or Denied. ``open_when_unconfigured``: with no tokens configured
    at all the route is public (only the demo webhook sink uses it)."""
    if open_when_unconfigured and not tokens.configured:
        return None
    presented = bearer(header)
    if presented is None:
        raise Denied(401, "a bearer token is required (Authorization: Bearer <token>)")
    token = tokens.identify(presented)
    if token is None:
        raise Denied(401, "unknown token")
    if permission not in ROLES[token.role]:
        raise Denied(403, f"token '{token.name}' (role {token.role}) may not {permission}")
    return token
