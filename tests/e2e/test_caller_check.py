"""The worker's IAM stand-in: 401 for a missing, bad or misaddressed token, 403 for another
caller, the claims when all is well; certs fetched once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bridge.stack.caller_check import CallerCheck
from tests.e2e.issuer import CALLER, Issuer

AUDIENCE = "http://127.0.0.1:1"
AUDIENCES = frozenset({AUDIENCE})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture
def check(issuer: Issuer) -> CallerCheck:
    return CallerCheck(certs_url=issuer.certs_url, caller_sa=CALLER)


def test_a_valid_token_passes_with_its_claims(issuer: Issuer, check: CallerCheck) -> None:
    verdict = check.check(f"Bearer {issuer.token()}", audiences=AUDIENCES)
    assert verdict.status == 200, verdict.reason
    assert verdict.claims["email"] == CALLER
    assert verdict.claims["aud"] == AUDIENCE


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt"],
    ids=["absent", "empty", "no_token", "blank_token", "basic", "garbage"],
)
def test_no_usable_token_is_401(check: CallerCheck, authorization: str | None) -> None:
    verdict = check.check(authorization, audiences=AUDIENCES)
    assert verdict.status == 401
    assert verdict.reason


def test_wrong_audience_is_401_naming_it(issuer: Issuer, check: CallerCheck) -> None:
    verdict = check.check(f"Bearer {issuer.token(aud='https://elsewhere')}", audiences=AUDIENCES)
    assert verdict.status == 401
    assert "https://elsewhere" in verdict.reason


def test_another_caller_is_403(issuer: Issuer, check: CallerCheck) -> None:
    token = issuer.token(email="intruder@example.iam.gserviceaccount.com")
    verdict = check.check(f"Bearer {token}", audiences=AUDIENCES)
    assert verdict.status == 403
    assert "intruder@" in verdict.reason


def test_unverified_email_is_403(issuer: Issuer, check: CallerCheck) -> None:
    verdict = check.check(f"Bearer {issuer.token(email_verified=False)}", audiences=AUDIENCES)
    assert verdict.status == 403


def test_expired_token_is_401(issuer: Issuer, check: CallerCheck) -> None:
    past = int(time.time()) - 7200
    verdict = check.check(f"Bearer {issuer.token(iat=past, exp=past + 3600)}", audiences=AUDIENCES)
    assert verdict.status == 401
    assert "expired" in verdict.reason.lower()


def test_token_signed_by_another_key_is_401(issuer: Issuer, check: CallerCheck) -> None:
    with Issuer() as other:
        forged = other.token()
    verdict = check.check(f"Bearer {forged}", audiences=AUDIENCES)
    assert verdict.status == 401


def test_certs_are_fetched_once(issuer: Issuer, check: CallerCheck) -> None:
    for _ in range(5):
        assert check.check(f"Bearer {issuer.token()}", audiences=AUDIENCES).allowed
    assert issuer.requests == 1


def test_a_new_key_refreshes_the_cache(issuer: Issuer, check: CallerCheck) -> None:
    assert check.check(f"Bearer {issuer.token()}", audiences=AUDIENCES).allowed
    issuer.rotate()  # the emulator restarted without its data dir: a new key
    assert check.check(f"Bearer {issuer.token()}", audiences=AUDIENCES).allowed
    assert issuer.requests == 2
