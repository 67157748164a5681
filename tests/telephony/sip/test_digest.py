"""Digest authentication: the RFCs' own vectors, real challenges, retries and when to stop."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from callgate.telephony.sip import (
    Challenge,
    DigestClient,
    DigestError,
    SipResponse,
    digest_response,
    parse_challenges,
)
from callgate.telephony.sip.digest import challenges_in

from . import captured
from .factory import answer, our_request, resp

# RFC 2617 §3.5 and RFC 7616 §3.9.1 (whose password differs in the case of "of").
RFC2617 = Challenge(
    realm="testrealm@host.com",
    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    qop=("auth", "auth-int"),
    opaque="5ccc069c403ebaf9f0171e9517f40e41",
)
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc_2617_example() -> None:
    response = digest_response(
        RFC2617,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
        nc=1,
        qop="auth",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_examples(algorithm: str, expected: str) -> None:
    challenge = Challenge(
        realm="http-auth@example.org",
        nonce=RFC7616_NONCE,
        algorithm=algorithm,
        qop=("auth", "auth-int"),
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    )
    client = DigestClient("Mufasa", "Circle of Life", cnonce=lambda: RFC7616_CNONCE)
    name, value = client.credentials(challenge, method="GET", uri="/dir/index.html")
    assert name == "Authorization"
    assert f'response="{expected}"' in value
    assert "qop=auth, nc=00000001" in value
    assert f"algorithm={algorithm}" in value


def _h(text: str, algorithm: str = "md5") -> str:
    return hashlib.new(algorithm, text.encode()).hexdigest()


def test_session_variants_auth_int_and_rfc_2069_follow_their_formulas() -> None:
    for name, hash_name in (("MD5-sess", "md5"), ("SHA-512-256-sess", "sha512_256")):
        challenge = Challenge(realm="r", nonce="n", algorithm=name, qop=("auth",))
        ha1 = _h(f"{_h('u:r:p', hash_name)}:n:c", hash_name)
        expected = _h(f"{ha1}:n:00000002:c:auth:{_h('BYE:sip:x', hash_name)}", hash_name)
        got = digest_response(
            challenge,
            username="u",
            password="p",
            method="BYE",
            uri="sip:x",
            cnonce="c",
            nc=2,
            qop="auth",
        )
        assert got == expected
    body_hash = _h("", "md5")
    got = digest_response(
        Challenge(realm="r", nonce="n", qop=("auth-int",)),
        username="u",
        password="p",
        method="INVITE",
        uri="sip:x",
        cnonce="c",
        nc=1,
        qop="auth-int",
    )
    assert got == _h(f"{_h('u:r:p')}:n:00000001:c:auth-int:{_h(f'INVITE:sip:x:{body_hash}')}")
    no_qop = digest_response(
        Challenge(realm="r", nonce="n"),
        username="u",
        password="p",
        method="REGISTER",
        uri="sip:x",
        cnonce="c",
        nc=1,
        qop=None,
    )
    assert no_qop == _h(f"{_h('u:r:p')}:n:{_h('REGISTER:sip:x')}")


def test_asterisk_challenge_parses() -> None:
    (challenge,) = challenges_in(resp(captured.ASTERISK_401))
    assert challenge == Challenge(
        realm="asterisk",
        nonce="1700000000/0a1b2c3d4e5f",
        algorithm="MD5",
        opaque="5a6b7c8d",
        qop=("auth",),
    )


def test_several_challenges_in_one_value_and_other_schemes_skipped() -> None:
    value = (
        'Basic realm="legacy", Digest realm="a", nonce="1", algorithm=SHA-256, '
        'qop="auth,auth-int", stale=TRUE, Digest realm="a", nonce="2"'
    )
    first, second = parse_challenges(value, proxy=True)
    assert (first.nonce, first.algorithm, first.qop, first.stale, first.proxy) == (
        "1",
        "SHA-256",
        ("auth", "auth-int"),
        True,
        True,
    )
    assert (second.nonce, second.algorithm, second.header_name) == (
        "2",
        None,
        "Proxy-Authorization",
    )


@pytest.mark.parametrize(
    "value",
    ["Digest", 'Digest realm="a"', 'Digest realm="a" nonce="b"', 'Digest nonce="n", realm'],
)
def test_malformed_challenges(value: str) -> None:
    with pytest.raises(DigestError):
        parse_challenges(value)


def _challenge_response(request_status: int, *challenges: str, proxy: bool = False) -> SipResponse:
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    return answer(
        our_request("INVITE", "z9hG4bKfirst"),
        request_status,
        extra=tuple((name, c) for c in challenges),
    )


def test_authorize_retries_with_credentials_a_new_branch_and_the_next_cseq() -> None:
    counter = itertools.count(1)
    client = DigestClient("gateway", "s3cret", cnonce=lambda: f"cn{next(counter)}")
    invite = our_request("INVITE", "z9hG4bKfirst")
    challenge = 'Digest realm="asterisk", nonce="abc", qop="auth", opaque="op"'
    retry = client.authorize(invite, _challenge_response(401, challenge), branch="z9hG4bKsecond")
    assert retry is not None
    assert retry.cseq is not None
    assert (retry.cseq.number, retry.cseq.method) == (2, "INVITE")
    assert retry.top_via is not None
    assert retry.top_via.branch == "z9hG4bKsecond"
    assert retry.call_id == invite.call_id
    assert retry.from_tag == invite.from_tag
    (authorization,) = retry.get_all("Authorization")
    expected = digest_response(
        Challenge(realm="asterisk", nonce="abc", qop=("auth",)),
        username="gateway",
        password="s3cret",
        method="INVITE",
        uri="sip:1000@198.51.100.10",
        cnonce="cn1",
        nc=1,
        qop="auth",
    )
    assert authorization == (
        'Digest username="gateway", realm="asterisk", nonce="abc", '
        f'uri="sip:1000@198.51.100.10", response="{expected}", cnonce="cn1", '
        'opaque="op", qop=auth, nc=00000001'
    )
    # The same challenge refused again, not stale: the password is wrong; stop.
    assert client.authorize(retry, _challenge_response(401, challenge), branch="z9hG4bK3") is None
    # stale=true: a new nonce, the same password; retry, replacing the old header.
    stale = 'Digest realm="asterisk", nonce="def", qop="auth", stale=true'
    again = client.authorize(retry, _challenge_response(401, stale), branch="z9hG4bK4")
    assert again is not None
    (authorization,) = again.get_all("Authorization")
    assert 'nonce="def"' in authorization
    assert "nc=00000001" in authorization
    assert again.cseq is not None
    assert again.cseq.number == 3


def test_nonce_count_counts_uses_of_each_nonce() -> None:
    client = DigestClient("u", "p", cnonce=lambda: "c")
    challenge = Challenge(realm="r", nonce="n", qop=("auth",))
    counts = [client.credentials(challenge, method="BYE", uri="sip:x")[1] for _ in range(3)]
    assert [v.split("nc=")[1] for v in counts] == ["00000001", "00000002", "00000003"]


def test_407_is_answered_with_proxy_authorization() -> None:
    client = DigestClient("u", "p")
    challenged = _challenge_response(407, 'Digest realm="proxy", nonce="n"', proxy=True)
    retry = client.authorize(our_request("INVITE", "z9hG4bKa"), challenged, branch="z9hG4bKb")
    assert retry is not None
    assert retry.get("Authorization") is None
    (value,) = retry.get_all("Proxy-Authorization")
    assert "qop=" not in value  # RFC 2069 style: the challenge offered no qop
    assert "cnonce" not in value


def test_the_topmost_supported_challenge_wins() -> None:
    client = DigestClient("u", "p")
    challenged = _challenge_response(
        401,
        'Digest realm="r", nonce="a", algorithm=AKAv1-MD5',
        'Digest realm="r", nonce="b", algorithm=SHA-256, qop="auth"',
        'Digest realm="r", nonce="c", algorithm=MD5, qop="auth"',
    )
    retry = client.authorize(our_request("REGISTER", "z9hG4bKa"), challenged, branch="z9hG4bKb")
    assert retry is not None
    (value,) = retry.get_all("Authorization")
    assert 'nonce="b"' in value
    assert "algorithm=SHA-256" in value


def test_nothing_to_answer_means_no_retry() -> None:
    client = DigestClient("u", "p", realm="ours")
    request = our_request("INVITE", "z9hG4bKa")
    for challenges in (
        ('Digest realm="theirs", nonce="n"',),  # another realm
        ('Digest realm="ours", nonce="n", algorithm=SHA-512',),  # unknown algorithm
        ('Digest realm="ours", nonce="n", qop="auth-conf"',),  # unknown qop
        ("Basic realm=ours",),
    ):
        assert (
            client.authorize(request, _challenge_response(401, *challenges), branch="z9hG4bKb")
            is None
        )


def test_userhash_hides_the_username() -> None:
    client = DigestClient("J\u00e4s\u00f8n Doe", "p", cnonce=lambda: "c")
    challenge = Challenge(realm="r", nonce="n", algorithm="SHA-256", qop=("auth",), userhash=True)
    _, value = client.credentials(challenge, method="INVITE", uri="sip:x")
    hashed = _h("J\u00e4s\u00f8n Doe:r", "sha256")
    assert f'username="{hashed}"' in value
    assert value.endswith("userhash=true")


def test_credentials_refuse_an_unsupported_challenge() -> None:
    with pytest.raises(DigestError):
        DigestClient("u", "p").credentials(
            Challenge(realm="r", nonce="n", algorithm="SHA-1"), method="INVITE", uri="sip:x"
        )
