"""refer.py, sans-I/O: sipfrag and header parsing, Refer-To URIs, one transfer's progress."""

from __future__ import annotations

import pytest

from callgate.telephony.siptrunk.refer import (
    Transfer,
    TransferProgress,
    is_refer_event,
    parse_sipfrag,
    refer_to_uri,
    subscription_terminated,
)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"SIP/2.0 100 Trying\r\n", 100),
        (b"SIP/2.0 180 Ringing", 180),
        (b"SIP/2.0 200 OK\r\nContact: <sip:x@y>\r\n\r\n", 200),
        (b"  SIP/2.0 486 Busy Here\n", 486),
        (b"SIP/2.0 603\r\n", 603),
        (b"INVITE sip:x@y SIP/2.0\r\n", None),
        (b"SIP/2.0 99 Low\r\n", None),
        (b"SIP/2.0 1800 Long\r\n", None),
        (b"", None),
    ],
)
def test_sipfrag_status_line(body: bytes, status: int | None) -> None:
    assert parse_sipfrag(body) == status


def test_event_and_subscription_state() -> None:
    assert is_refer_event("refer")
    assert is_refer_event("Refer;id=93809824")
    assert not is_refer_event("presence")
    assert not is_refer_event(None)
    assert subscription_terminated("terminated;reason=noresource")
    assert subscription_terminated("TERMINATED")
    assert not subscription_terminated("active;expires=60")
    assert not subscription_terminated(None)


def uri(target: str) -> str:
    return str(refer_to_uri(target, domain="carrier.example", port=5080, params=(), scheme="sip"))


def test_refer_to_a_number_is_at_the_trunks_domain_and_a_uri_is_kept() -> None:
    assert uri("0215550100") == "sip:0215550100@carrier.example:5080"
    assert uri("+62215550100") == "sip:+62215550100@carrier.example:5080"
    assert uri(" sip:agent@pbx.example;transport=tcp ") == "sip:agent@pbx.example;transport=tcp"
    assert uri("sips:agent@pbx.example") == "sips:agent@pbx.example"


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("bob", "neither"),
        ("12 34", "neither"),
        ("", "neither"),
        ("sip:", "not a valid SIP URI"),
        ("sip:a@b?Replaces=x", r"without \?headers"),
        ("tel:+1555", "neither"),
    ],
)
def test_bad_targets_say_what_is_wrong(target: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        uri(target)


def run(transfer: Transfer, *steps: tuple[str, object]) -> list[TransferProgress | None]:
    out: list[TransferProgress | None] = []
    for kind, value in steps:
        if kind == "refer":
            assert isinstance(value, int)
            out.append(transfer.on_refer_response(value))
        elif kind == "notify":
            assert isinstance(value, tuple)
            out.append(transfer.on_notify(*value))
        elif kind == "expire":
            assert isinstance(value, float)
            out.append(transfer.expire(value))
    return out


def P(state: str, status: int | None) -> TransferProgress:
    return TransferProgress(state, status)  # type: ignore[arg-type]


def test_accepted_then_notified_to_success() -> None:
    t = Transfer("s", "sip:x@y", deadline=30.0)
    assert run(
        t,
        ("refer", 100),
        ("refer", 202),
        ("notify", (100, False)),
        ("notify", (100, False)),  # a repeat: nothing new
        ("notify", (183, False)),
        ("notify", (180, False)),
        ("notify", (200, True)),
        ("notify", (200, True)),  # after the end: nothing
    ) == [
        None,
        P("trying", 202),
        P("trying", 100),
        None,
        P("ringing", 183),
        P("ringing", 180),
        P("succeeded", 200),
        None,
    ]
    assert t.done


@pytest.mark.parametrize("status", [403, 405, 481, 500, 603])
def test_a_refused_refer_fails_with_its_status(status: int) -> None:
    t = Transfer("s", "sip:x@y", deadline=30.0)
    assert run(t, ("refer", status), ("expire", 31.0)) == [P("failed", status), None]


def test_a_notify_before_the_202_accepts_and_the_202_then_says_nothing() -> None:
    t = Transfer("s", "sip:x@y", deadline=30.0)
    assert run(t, ("notify", (100, False)), ("refer", 202)) == [P("trying", 100), None]


def test_terminated_without_a_final_status_fails_with_the_last_seen() -> None:
    t = Transfer("s", "sip:x@y", deadline=30.0)
    assert run(t, ("refer", 202), ("notify", (180, False)), ("notify", (None, True))) == [
        P("trying", 202),
        P("ringing", 180),
        P("failed", 180),
    ]
    bare = Transfer("s", "sip:x@y", deadline=30.0)
    assert bare.on_notify(None, True) == P("failed", None)


def test_a_final_failure_and_the_deadline() -> None:
    t = Transfer("s", "sip:x@y", deadline=30.0)
    assert run(t, ("refer", 202), ("notify", (486, True))) == [P("trying", 202), P("failed", 486)]
    late = Transfer("s", "sip:x@y", deadline=30.0)
    assert run(late, ("refer", 202), ("expire", 29.9), ("expire", 30.0)) == [
        P("trying", 202),
        None,
        P("failed", 408),
    ]


def test_no_answer_to_the_refer() -> None:
    assert Transfer("s", "t", 1.0).on_failure(transport=False) == P("failed", 408)
    assert Transfer("s", "t", 1.0).on_failure(transport=True) == P("failed", 503)
