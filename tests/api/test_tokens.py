"""Bearer tokens as a client's mistakes meet them: each refusal says what is wrong with the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from callgate.api.auth import CLOCK_SKEW_S
from tests.api.conftest import SECRET, Api


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: bytes, payload: bytes, secret: str = SECRET) -> str:
    """A token with exactly these header and payload bytes, signed with HS256 over them."""
    head = _b64(header) + "." + _b64(payload)
    mac = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + _b64(mac)


def claims(**values: object) -> bytes:
    return json.dumps(values).encode()


HS256 = b'{"alg":"HS256","typ":"JWT"}'


async def refusal(api: Api, token: str) -> str:
    response = await api.client.get("/v1/calls", headers=api.auth(token))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert (body["status"], body["data"]) == (401, None)
    message: str = body["errors"]
    return message


async def test_a_token_issued_within_the_clock_skew_is_accepted(api: Api) -> None:
    now = int(time.time())
    for ahead_s in (1, 5, CLOCK_SKEW_S - 2):
        token = signed(HS256, claims(sub="acme", iat=now + ahead_s))
        response = await api.client.get("/v1/calls", headers=api.auth(token))
        assert response.status_code == 200, (ahead_s, response.text)


async def test_a_token_issued_beyond_the_clock_skew_says_so(api: Api) -> None:
    token = signed(HS256, claims(sub="acme", iat=int(time.time()) + CLOCK_SKEW_S + 60))
    assert await refusal(api, token) == (
        f"Authentication token is issued in the future (iat), beyond the {CLOCK_SKEW_S} s "
        "of clock skew allowed; check the clock of the machine that made it"
    )


async def test_a_token_not_valid_yet_says_so(api: Api) -> None:
    now = int(time.time())
    token = signed(HS256, claims(sub="acme", iat=now, nbf=now + 3600))
    assert await refusal(api, token) == "Authentication token is not valid yet (nbf)"
    within = signed(HS256, claims(sub="acme", iat=now, nbf=now + 2))
    assert (await api.client.get("/v1/calls", headers=api.auth(within))).status_code == 200


async def test_expiry_has_no_skew(api: Api) -> None:
    now = int(time.time())
    token = signed(HS256, claims(sub="acme", iat=now - 100, exp=now - 2))
    assert await refusal(api, token) == "Authentication token has expired"


@pytest.mark.parametrize("algorithm", ["HS512", "HS384"])
async def test_another_algorithm_is_named(api: Api, algorithm: str) -> None:
    token = jwt.encode({"sub": "acme", "iat": int(time.time())}, SECRET * 2, algorithm=algorithm)
    assert await refusal(api, token) == (
        f"Authentication token is signed with {algorithm}; this server accepts HS256 only"
    )


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_an_unsigned_token_is_named(api: Api, alg: str) -> None:
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    token = head + "." + _b64(claims(sub="acme", iat=int(time.time()))) + "."
    assert await refusal(api, token) == (
        "Authentication token is unsigned (alg none); this server accepts HS256 only"
    )


@pytest.mark.parametrize(
    ("payload", "claim"),
    [
        (b'{"sub":"acme","iat":"yesterday"}', "iat"),
        (b'{"sub":"acme","iat":true}', "iat"),
        (b'{"sub":"acme","iat":Infinity}', "iat"),
        (b'{"sub":"acme","iat":NaN}', "iat"),
        (b'{"sub":"acme","iat":1e400}', "iat"),
        (b'{"sub":"acme","iat":' + b"9" * 400 + b"}", "iat"),
        (b'{"sub":"acme","iat":1,"exp":"never"}', "exp"),
        (b'{"sub":"acme","iat":1,"exp":NaN}', "exp"),
        (b'{"sub":"acme","iat":1,"nbf":[1]}', "nbf"),
    ],
)
async def test_a_time_claim_that_is_not_a_time_is_named(
    api: Api, payload: bytes, claim: str
) -> None:
    assert await refusal(api, signed(HS256, payload)) == (
        f"Authentication token's {claim!r} claim must be a time in seconds since 1970"
    )


@pytest.mark.parametrize(
    "token",
    [
        "not.a.jwt",
        _b64(b"[1]") + "." + _b64(b"{}") + ".x",
        _b64(b"[" * 2000 + b"]" * 2000) + "." + _b64(b"{}") + ".x",
        _b64(b'{"typ":"JWT"}') + "." + _b64(b"{}") + ".x",
    ],
    ids=["not base64 json", "header not an object", "nested header", "no alg"],
)
async def test_malformed_tokens_stay_malformed(api: Api, token: str) -> None:
    assert await refusal(api, token) == "Authentication token is malformed"


async def test_a_subject_that_is_not_an_account_is_named(api: Api) -> None:
    token = signed(HS256, claims(sub=5, iat=int(time.time())))
    assert await refusal(api, token) == "Authentication token names no valid account"
