"""A stand-in OIDC issuer for the worker's own tests: the emulator's signer, its JWK Set served on
loopback, and tokens with any claims (expired, misaddressed, another caller) on demand."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tasks_emulator.oidc import JwkSet, TokenIssuer

CALLER = "caller@local-bridge.iam.gserviceaccount.com"


class Issuer:
    """Signs tokens with its current key; ``rotate`` replaces the key (and the JWK Set)."""

    def __init__(self) -> None:
        self.requests = 0
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
        self._server.shutdown()
        self._server.server_close()
