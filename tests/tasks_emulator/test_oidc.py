"""ID tokens verified as a worker verifies them: google-auth against keys served over real HTTP."""

from __future__ import annotations

import base64
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import google.auth.transport.requests
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.oauth2 import id_token

from tasks_emulator.oidc import KEY_FILE, TOKEN_REUSE_S, IdTokenCache, Jwk, TokenIssuer, account_id
from tests.tasks_emulator.conftest import JsonServer

AUDIENCE = "https://worker-abc-uc.a.run.app/process"
EMAIL = "invoker@demo-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer.load_or_create(None)


def key_documents(issuer: TokenIssuer) -> JsonServer:
    """A server of ``issuer``'s certificates and JWK Set, as Google serves its own."""
    documents = {TokenIssuer.CERTS_PATH: issuer.pem_certs(), TokenIssuer.JWKS_PATH: issuer.jwks()}
    return JsonServer(documents.get)


@pytest.fixture(scope="module")
def key_server(issuer: TokenIssuer) -> Iterator[JsonServer]:
    with key_documents(issuer) as server:
        yield server


def _verify(token: str, *, certs_url: str, audience: str = AUDIENCE) -> Any:
    request = google.auth.transport.requests.Request()
    return id_token.verify_token(token, request, audience=audience, certs_url=certs_url)


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def test_a_worker_verifies_the_token_with_google_auth(
    issuer: TokenIssuer, key_server: JsonServer
) -> None:
    now_s = time.time()
    token = issuer.id_token(audience=AUDIENCE, email=EMAIL, now_s=now_s)
    claims = _verify(token, certs_url=key_server.base_url + TokenIssuer.CERTS_PATH)
    subject = account_id(EMAIL)
    assert claims == {
        "aud": AUDIENCE,
        "azp": subject,
        "email": EMAIL,
        "email_verified": True,
        "exp": int(now_s) + 3600,
        "iat": int(now_s),
        "iss": "https://accounts.google.com",
        "sub": subject,
    }


def test_the_header_names_the_key_and_rs256(issuer: TokenIssuer) -> None:
    header, _ = _segments(issuer.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time()))
    assert header == {"alg": "RS256", "kid": issuer.key_id, "typ": "JWT"}


def test_a_wrong_audience_fails(issuer: TokenIssuer, key_server: JsonServer) -> None:
    token = issuer.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time())
    with pytest.raises(ValueError, match="audience"):
        _verify(
            token,
            certs_url=key_server.base_url + TokenIssuer.CERTS_PATH,
            audience="https://other.example",
        )


def test_an_expired_token_fails(issuer: TokenIssuer, key_server: JsonServer) -> None:
    token = issuer.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time() - 7200)
    with pytest.raises(ValueError, match="expired"):
        _verify(token, certs_url=key_server.base_url + TokenIssuer.CERTS_PATH)


def test_a_token_signed_by_another_key_fails(key_server: JsonServer) -> None:
    stranger = TokenIssuer.load_or_create(None)
    token = stranger.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time())
    with pytest.raises(ValueError, match="key id"):
        _verify(token, certs_url=key_server.base_url + TokenIssuer.CERTS_PATH)


def test_another_key_claiming_our_key_id_fails(issuer: TokenIssuer, key_server: JsonServer) -> None:
    impostor = TokenIssuer.load_or_create(None)
    impostor.key_id = issuer.key_id
    token = impostor.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time())
    with pytest.raises(ValueError, match="signature"):
        _verify(token, certs_url=key_server.base_url + TokenIssuer.CERTS_PATH)


def _jwk_public_key(jwk: Jwk) -> rsa.RSAPublicKey:
    def number(field: Literal["e", "n"]) -> int:
        value = jwk[field]
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    return rsa.RSAPublicNumbers(e=number("e"), n=number("n")).public_key()


def test_the_jwks_holds_the_signing_key(issuer: TokenIssuer) -> None:
    jwks = issuer.jwks()
    (jwk,) = jwks["keys"]
    assert {k: jwk[k] for k in ("kty", "alg", "use", "kid", "e")} == {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": issuer.key_id,
        "e": "AQAB",
    }
    public_key = _jwk_public_key(jwk)
    assert public_key.key_size == 2048
    token = issuer.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time())
    signing_input, _, signature = token.rpartition(".")
    raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    public_key.verify(raw_signature, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public_key.verify(
            raw_signature, signing_input.encode() + b"x", padding.PKCS1v15(), hashes.SHA256()
        )


def test_discovery_points_at_the_jwks_on_the_same_host(issuer: TokenIssuer) -> None:
    document = issuer.discovery(base_url="http://127.0.0.1:8124/")
    assert document["issuer"] == "https://accounts.google.com"
    assert document["jwks_uri"] == "http://127.0.0.1:8124/oauth2/v3/certs"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_key_persists_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    first = TokenIssuer.load_or_create(data_dir)
    key_file = data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]
    second = TokenIssuer.load_or_create(data_dir)
    assert second.key_id == first.key_id
    assert second.jwks() == first.jwks()
    assert second.pem_certs() == first.pem_certs()
    assert TokenIssuer.load_or_create(tmp_path / "elsewhere").key_id != first.key_id


def test_a_token_from_before_a_restart_verifies_after_it(tmp_path: Path) -> None:
    before = TokenIssuer.load_or_create(tmp_path)
    token = before.id_token(audience=AUDIENCE, email=EMAIL, now_s=time.time())
    with key_documents(TokenIssuer.load_or_create(tmp_path)) as server:
        claims = _verify(token, certs_url=server.base_url + TokenIssuer.CERTS_PATH)
    assert claims["email"] == EMAIL


def test_a_corrupt_key_file_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not a key")
    with pytest.raises(ValueError, match=KEY_FILE):
        TokenIssuer.load_or_create(tmp_path)


def test_account_ids_are_stable_21_digit_numbers() -> None:
    first = account_id(EMAIL)
    assert first == account_id(EMAIL)
    assert len(first) == 21
    assert first.isdigit()
    assert account_id("other@demo-project.iam.gserviceaccount.com") != first


def test_access_tokens_are_opaque_bearer_tokens(issuer: TokenIssuer) -> None:
    scope = "https://www.googleapis.com/auth/cloud-platform"
    first = issuer.access_token(email=EMAIL, scope=scope, now_s=time.time())
    second = issuer.access_token(email=EMAIL, scope=scope, now_s=time.time())
    assert first.startswith("ya29.")
    assert first != second
    assert first.isascii()
    assert " " not in first


def test_the_cache_reuses_a_token_for_its_reuse_window_then_mints_anew(
    issuer: TokenIssuer,
) -> None:
    cache = IdTokenCache(issuer)
    issued_s = 1_900_000_000.0
    first = cache.id_token(audience=AUDIENCE, email=EMAIL, now_s=issued_s)
    assert _segments(first)[1]["iat"] == int(issued_s)
    later = cache.id_token(audience=AUDIENCE, email=EMAIL, now_s=issued_s + TOKEN_REUSE_S)
    assert later == first
    renewed = cache.id_token(audience=AUDIENCE, email=EMAIL, now_s=issued_s + TOKEN_REUSE_S + 1)
    assert _segments(renewed)[1]["iat"] == int(issued_s + TOKEN_REUSE_S + 1)
    # The renewed token is the one reused from then on.
    assert cache.id_token(audience=AUDIENCE, email=EMAIL, now_s=issued_s + 400) == renewed


def test_the_cache_keeps_one_token_per_audience_and_account(issuer: TokenIssuer) -> None:
    cache = IdTokenCache(issuer)
    now_s = 1_900_000_000.0
    other_email = "other@demo-project.iam.gserviceaccount.com"
    mine = cache.id_token(audience=AUDIENCE, email=EMAIL, now_s=now_s)
    other_audience = cache.id_token(audience=AUDIENCE + "/other", email=EMAIL, now_s=now_s)
    other_account = cache.id_token(audience=AUDIENCE, email=other_email, now_s=now_s)
    assert _segments(other_audience)[1]["aud"] == AUDIENCE + "/other"
    assert _segments(other_account)[1]["email"] == other_email
    assert cache.id_token(audience=AUDIENCE, email=EMAIL, now_s=now_s + 1) == mine
