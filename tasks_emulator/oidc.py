"""The tokens the emulator puts in ``Authorization``, and the keys a worker checks them with.

Production signs ``oidc_token`` dispatches with Google's keys: an RS256 ID token with ``iss``
``https://accounts.google.com``, ``aud``, ``email``, ``email_verified``, ``sub`` and ``azp`` (the
account's numeric id), ``iat`` and ``exp`` (one hour). Ours has the same header and claims, signed
with a 2048-bit RSA key the emulator holds: generated at start, or kept in ``data_dir`` so tokens
survive a restart. The public key is published as Google publishes its own:

- ``JWKS_PATH`` (``/oauth2/v3/certs``): a JWK set, what ``jwks_uri`` of the discovery document
  points at (google-auth reads it only with PyJWT installed);
- ``CERTS_PATH`` (``/oauth2/v1/certs``): ``{kid: PEM certificate}``, which google-auth's
  ``id_token.verify_token(token, request, audience=..., certs_url=...)`` reads as it is.

``oauth_token`` dispatches carry a Google OAuth access token in production (``ya29.…``), which
only Google's tokeninfo endpoint can check. Ours is opaque and random with the same prefix: a
worker can see it is there, not verify it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME_S = 3600
# An ID token is reused for this long (production's last an hour): signing RS256 costs ~1 ms.
TOKEN_REUSE_S = 300.0
KEY_FILE = "oidc-signing-key.pem"
_KEY_BITS = 2048
_CERT_LIFETIME = datetime.timedelta(days=3650)


class Jwk(TypedDict):
    """An RSA public key as a JWK (RFC 7517), as Google publishes its own."""

    alg: str
    e: str
    kid: str
    kty: str
    n: str
    use: str


class JwkSet(TypedDict):
    keys: list[Jwk]


class Discovery(TypedDict):
    """The parts of Google's OpenID discovery document a verifier reads."""

    issuer: str
    jwks_uri: str
    response_types_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    claims_supported: list[str]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def account_id(email: str) -> str:
    """A stable 21-digit numeric id for a service account, shaped like Google's unique ids."""
    digest = int.from_bytes(hashlib.sha256(email.encode("utf-8")).digest(), "big")
    return "1" + f"{digest % 10**20:020d}"


class TokenIssuer:
    """Signs ID tokens with one RSA key and publishes its public half."""

    JWKS_PATH = "/oauth2/v3/certs"
    CERTS_PATH = "/oauth2/v1/certs"
    DISCOVERY_PATH = "/.well-known/openid-configuration"

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = private_key
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Google's key ids are 40 hex digits; ours is derived from the key, so it survives restarts.
        self.key_id = hashlib.sha1(public_der, usedforsecurity=False).hexdigest()
        self._cert_pem = self._self_signed_certificate()

    @classmethod
    def load_or_create(cls, data_dir: Path | None) -> TokenIssuer:
        """The key kept in ``data_dir`` (created there, mode 0600, if absent), or a fresh one."""
        if data_dir is None:
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS))
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
            _write_new_key(path, key)
        return cls(_read_key(path))

    def _self_signed_certificate(self) -> str:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.key_id)])
        # A fixed validity start keeps the certificate the same for the same key.
        not_before = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(int(self.key_id, 16) >> 1 | 1)  # positive, under 160 bits
            .not_valid_before(not_before)
            .not_valid_after(not_before + _CERT_LIFETIME * 2)
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def sign(self, claims: Mapping[str, object]) -> str:
        """A JWT of ``claims`` as given, signed with this key (``id_token`` builds production's)."""
        header = {"alg": "RS256", "kid": self.key_id, "typ": "JWT"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
            for part in (header, claims)
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"

    def id_token(self, *, audience: str, email: str, now_s: float) -> str:
        """The ID token production sends for ``oidc_token {service_account_email, audience}``."""
        issued_s = int(now_s)
        subject = account_id(email)
        return self.sign(
            {
                "aud": audience,
                "azp": subject,
                "email": email,
                "email_verified": True,
                "exp": issued_s + TOKEN_LIFETIME_S,
                "iat": issued_s,
                "iss": ISSUER,
                "sub": subject,
            }
        )

    def access_token(self, *, email: str, scope: str, now_s: float) -> str:
        """An opaque bearer token standing in for a Google OAuth access token (not verifiable).

        ``email``, ``scope`` and ``now_s`` are what production would mint it for; ours carries
        none of them.
        """
        del email, scope, now_s
        return "ya29.emulator." + secrets.token_urlsafe(48)

    def jwks(self) -> JwkSet:
        """The public key as a JWK set, as ``https://www.googleapis.com/oauth2/v3/certs``."""
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "alg": "RS256",
                    "e": _int_b64url(numbers.e),
                    "kid": self.key_id,
                    "kty": "RSA",
                    "n": _int_b64url(numbers.n),
                    "use": "sig",
                }
            ]
        }

    def pem_certs(self) -> dict[str, str]:
        """``{kid: PEM certificate}``, as ``https://www.googleapis.com/oauth2/v1/certs``."""
        return {self.key_id: self._cert_pem}

    def discovery(self, *, base_url: str) -> Discovery:
        """The OpenID discovery document; ``base_url`` is how the worker reached us."""
        base = base_url.rstrip("/")
        return {
            "issuer": ISSUER,
            "jwks_uri": base + self.JWKS_PATH,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": [
                "aud",
                "azp",
                "email",
                "email_verified",
                "exp",
                "iat",
                "iss",
                "sub",
            ],
        }


class IdTokenCache:
    """``TokenIssuer.id_token``, each (audience, email)'s token reused for ``reuse_s``.

    A reused token has at least ``TOKEN_LIFETIME_S - reuse_s`` left, as a worker sees it.
    """

    def __init__(self, issuer: TokenIssuer, *, reuse_s: float = TOKEN_REUSE_S) -> None:
        self._issuer = issuer
        self._reuse_s = reuse_s
        self._tokens: dict[tuple[str, str], tuple[float, str]] = {}  # -> (issued_s, jwt)
        self._lock = threading.Lock()

    def id_token(self, *, audience: str, email: str, now_s: float) -> str:
        key = (audience, email)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is None or cached[0] < now_s - self._reuse_s:
                cached = (now_s, self._issuer.id_token(audience=audience, email=email, now_s=now_s))
                self._tokens[key] = cached
            return cached[1]


def _write_new_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Write the key beside ``path`` (0600, synced), then link it in; a racing starter keeps its."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: load theirs
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as e:
        raise ValueError(f"{path} is not a PEM private key the emulator wrote: {e}") from e
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an RSA private key")
    return key
