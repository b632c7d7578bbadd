"""Signed acknowledgement links: a page carries a URL that acknowledges its incident.

The token is ``base64url(json) . base64url(HMAC-SHA256(secret, json))`` with the incident,
the person and an expiry; the route needs no API token (a phone at 3 a.m. has none), the
signature is the credential. The secret comes only from HOTLINE_OPS_SECRET_<routing.ack_secret>.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hotline_ops.errors import BadRequest


@dataclass(frozen=True)
class AckClaim:
    incident_id: int
    person: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_claims(secret: str, claims: dict[str, Any]) -> str:
    """``base64url(json) . base64url(HMAC-SHA256(secret, json))``; claims carry their expiry
    as ``e`` (epoch seconds). Also signs the ticket survey links (tickets/survey_sms.py)."""
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_claims(secret: str, token: str, now: datetime) -> dict[str, Any]:
    """The claims in ``token``; BadRequest when forged, malformed or expired."""
    try:
        body, _, mac = token.partition(".")
        payload = _unb64(body)
        expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
        if not mac or not hmac.compare_digest(expected, _unb64(mac)):
            raise BadRequest("token: bad signature")
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        expires_at = datetime.fromtimestamp(data["e"], UTC)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("token: malformed") from exc
    if now >= expires_at:
        raise BadRequest("token: expired")
    return data


def sign(secret: str, incident_id: int, person: str, expires_at: datetime) -> str:
    claims = {"i": incident_id, "p": person, "e": int(expires_at.timestamp())}
    return sign_claims(secret, claims)


def verify(secret: str, token: str, now: datetime) -> AckClaim:
    """The claim in ``token``; BadRequest when forged, malformed or expired."""
    data = verify_claims(secret, token, now)
    try:
        return AckClaim(int(data["i"]), str(data["p"]), datetime.fromtimestamp(data["e"], UTC))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("token: malformed") from exc


def secret_of(app: Any) -> str | None:
    return app.settings.secret(app.settings.routing.ack_secret)


def link(app: Any, incident_id: int, person: str, now: datetime) -> str | None:
    """The ack URL for ``person`` on ``incident_id``; None when no secret is configured."""
    secret = secret_of(app)
    if not secret:
        return None
    routing = app.settings.routing
    expires = now + timedelta(seconds=routing.ack_ttl_s)
    base = (routing.public_url or f"http://{app.settings.listen}").rstrip("/")
    return f"{base}/api/ack/{sign(secret, incident_id, person, expires)}"


def acknowledge(app: Any, token: str) -> tuple[Any, AckClaim]:
    """Acknowledge the incident a valid token names, as the person it was sent to."""
    from hotline_ops.services import incidents  # the incidents service calls into routing

    secret = secret_of(app)
    if not secret:
        raise BadRequest("token: acknowledgement links are not configured")
    claim = verify(secret, token, app.clock.now())
    incident = incidents.acknowledge(
        app,
        incident_id=claim.incident_id,
        actor=claim.person,
        reason="通过短信/消息中的确认链接确认",
    )
    return incident, claim


def peek(app: Any, token: str) -> AckClaim:
    secret = secret_of(app)
    if not secret:
        raise BadRequest("token: acknowledgement links are not configured")
    return verify(secret, token, app.clock.now())
