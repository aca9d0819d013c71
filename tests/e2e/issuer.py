"""A stand-in OIDC issuer for the worker's own tests: the emulator's signer, its JWK Set served on
loopback, and tokens with any claims (expired, misaddressed, another caller) on demand."""

from __future__ import annotations

import time
from typing import Any

from tasks_emulator.oidc import JwkSet, TokenIssuer
from tests.tasks_emulator.conftest import JsonServer

CALLER = "caller@local-bridge.iam.gserviceaccount.com"


class Issuer:
    """Signs tokens with its current key; ``rotate`` replaces the key (and the JWK Set)."""

    def __init__(self) -> None:
        self.rotate()
        self._server = JsonServer(lambda path: self.jwks())  # the JWK Set at any path

    @property
    def requests(self) -> int:
        """How many times the keys were fetched."""
        return self._server.requests

    @property
    def certs_url(self) -> str:
        return f"{self._server.base_url}/jwks"

    def rotate(self) -> None:
        self._signer = TokenIssuer.load_or_create(None)  # a fresh key, a new key id

    @property
    def kid(self) -> str:
        return self._signer.key_id

    def jwks(self) -> JwkSet:
        return self._signer.jwks()

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": "http://127.0.0.1:1",
            "email": CALLER,
            "email_verified": True,
            "sub": "1234567890",
            "azp": "1234567890",
            "iat": now,
            "exp": now + 3600,
            **overrides,
        }
        return self._signer.sign(claims)

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> Issuer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
