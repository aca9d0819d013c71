"""Checks a worker request as Cloud Run's IAM would: a valid OIDC token, the right audience, the
right caller.

    no or malformed ``Authorization``, bad signature, expired   -> 401
    a valid token for another audience                          -> 401
    a valid token for another account than ``CALLER_SA``        -> 403

The token is verified with google-auth (``id_token.verify_token``) against ``certs_url``. The
certs are fetched once and cached (google-auth would fetch them on every call); a token signed
with a key the cache does not hold refreshes it once (the issuer restarted with a new key).
A JWK Set is handed to google-auth as ``{kid: PEM public key}``, the form of Google's v1 certs
endpoint, which google-auth verifies with ``cryptography`` alone (its JWK path needs PyJWT).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.oauth2 import id_token


class CertsUnavailable(RuntimeError):
    """Raised if the certs URL cannot be read (the issuer is down or answers nonsense)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the check concluded: 200 with the verified claims, or 401/403 with the reason."""

    status: int
    reason: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class _Response:
    """The part of ``google.auth.transport.Response`` that ``verify_token`` reads."""

    status: int
    data: bytes
    headers: Mapping[str, str]


def _b64_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def pem_certs(document: Mapping[str, Any]) -> dict[str, str]:
    """A certs document as ``{kid: PEM}``: a JWK Set's RSA keys converted, else as it is."""
    if "keys" not in document:
        return {str(kid): str(pem) for kid, pem in document.items()}
    certs: dict[str, str] = {}
    for key in document["keys"]:
        if key.get("kty") != "RSA" or key.get("use", "sig") != "sig":
            continue
        public = RSAPublicNumbers(e=_b64_int(key["e"]), n=_b64_int(key["n"])).public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        certs[str(key.get("kid", ""))] = pem.decode("ascii")
    return certs


class CertsCache(transport.Request):
    """A ``google.auth.transport.Request`` that answers ``certs_url`` from memory."""

    def __init__(self, certs_url: str, *, timeout_s: float = 5.0) -> None:
        self.certs_url = certs_url
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self.fetches = 0  # how many times the certs were fetched (tests assert the caching)

    def refresh(self) -> None:
        try:
            with urllib.request.urlopen(self.certs_url, timeout=self._timeout_s) as answer:  # noqa: S310 - loopback
                document = json.loads(answer.read().decode("utf-8"))
        except (OSError, ValueError) as err:
            raise CertsUnavailable(f"cannot fetch the certs at {self.certs_url}: {err}") from err
        with self._lock:
            self._body = json.dumps(pem_certs(document)).encode("utf-8")
            self.fetches += 1

    def __call__(
        self,
        url: Any,
        method: Any = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        if url != self.certs_url or method != "GET":
            raise CertsUnavailable(f"only {self.certs_url} is served here, not {url}")
        if self._body is None:
            self.refresh()
        with self._lock:
            body = self._body or b"{}"
        return _Response(status=200, data=body, headers={"content-type": "application/json"})


class CallerCheck:
    """Verifies ``Authorization: Bearer <OIDC token>`` for ``caller_sa`` and an audience."""

    def __init__(self, *, certs_url: str, caller_sa: str) -> None:
        self.certs = CertsCache(certs_url)
        self.caller_sa = caller_sa

    def check(self, authorization: str | None, *, audiences: frozenset[str]) -> Verdict:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Verdict(401, "no Authorization: Bearer token")
        try:
            claims = self._verify(token.strip())
        except (ValueError, auth_exceptions.GoogleAuthError, CertsUnavailable) as err:
            return Verdict(401, f"invalid token: {err}")
        audience = claims.get("aud")
        if audience not in audiences:
            return Verdict(
                401, f"wrong audience {audience!r}, accepted {sorted(audiences)}", claims
            )
        if claims.get("email") != self.caller_sa or claims.get("email_verified") is not True:
            return Verdict(
                403, f"{claims.get('email')!r} is not the invoker {self.caller_sa!r}", claims
            )
        return Verdict(200, "", claims)

    def _verify(self, token: str) -> Mapping[str, Any]:
        try:
            return self._verify_once(token)
        except auth_exceptions.MalformedError:
            pass  # an unknown key id or a signature no cached key checks: maybe a new key
        self.certs.refresh()
        return self._verify_once(token)

    def _verify_once(self, token: str) -> Mapping[str, Any]:
        # audience=None: we compare it ourselves, to tell a wrong audience from a bad token
        claims: Mapping[str, Any] = id_token.verify_token(
            token, self.certs, audience=None, certs_url=self.certs.certs_url
        )
        return claims
