"""A stand-in OIDC issuer for the worker's own tests: RSA keys, a JWK Set served on loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

CALLER = "caller@local-bridge.iam.gserviceaccount.com"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Issuer:
    """Signs tokens with its current key; ``rotate`` replaces the key (and the JWK Set)."""

    def __init__(self) -> None:
        self.requests = 0
        self._generation = 0
        self.rotate()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests += 1
                body = json.dumps(issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def certs_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks"

    def rotate(self) -> None:
        self._generation += 1
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"key-{self._generation}"

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid}
        return {"keys": [{**key, "n": _b64(numbers.n), "e": _b64(numbers.e)}]}

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
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        signer = crypt.RSASigner.from_string(pem, key_id=self.kid)
        token: bytes = jwt.encode(signer, claims)
        return token.decode("ascii")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
