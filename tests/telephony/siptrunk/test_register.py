"""REGISTER with refresh, sans-I/O: digest, the granted interval, retries, removal on stop."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import SipRequest

from .kit import TRUNK, Run, engine, reply
from .kit import requests as all_requests

CHALLENGE = (("WWW-Authenticate", 'Digest realm="carrier", nonce="r1", qop="auth"'),)


def requests(outputs: list, method: str) -> list:
    """The REGISTERs sent, one per transaction (Timer E retransmissions left out)."""
    firsts: dict[str | None, SipRequest] = {}
    for request in all_requests(outputs, method):
        assert request.top_via is not None
        firsts.setdefault(request.top_via.branch, request)
    return list(firsts.values())


def registering(**settings: object) -> Run:
    values: dict[str, object] = {"username": "gw", "password": "pw", "register": True}
    values.update(settings)
    run = Run(engine(**values))
    run.step(run.engine.start(run.now))
    return run


def test_start_registers_our_contact_at_the_trunk():
    run = registering(register_expires_s=600)
    (register,) = requests(run.outputs, "REGISTER")
    (send,) = [o for o in run.outputs if hasattr(o, "data")]
    assert send.target == TRUNK
    assert str(register.uri) == "sip:192.0.2.1"
    assert str(register.to.uri) == "sip:gw@192.0.2.1"
    assert str(register.contacts[0].uri) == "sip:gw@192.0.2.10:5060"
    assert register.get("Expires") == "600"


def test_challenge_then_200_registers_and_refreshes_before_expiry():
    run = registering()
    (first,) = requests(run.outputs, "REGISTER")
    (retry,) = requests(run.feed(reply(first, 401, headers=CHALLENGE)), "REGISTER")
    assert retry.get("Authorization")
    assert retry.call_id == first.call_id
    assert retry.cseq.number == first.cseq.number + 1
    granted = reply(retry, 200, headers=(("Contact", "<sip:gw@192.0.2.10:5060>;expires=300"),))
    run.feed(granted)
    assert run.engine.registration.registered
    # 300 s granted: refresh 60 s early, not before.
    assert requests(run.advance(239.0), "REGISTER") == []
    (refresh,) = requests(run.advance(2.0), "REGISTER")
    assert refresh.call_id == first.call_id
    assert refresh.cseq.number > retry.cseq.number


def test_short_intervals_refresh_halfway():
    run = registering()
    (first,) = requests(run.outputs, "REGISTER")
    run.feed(reply(first, 200, headers=(("Expires", "60"),)))
    assert requests(run.advance(29.0), "REGISTER") == []
    assert len(requests(run.advance(2.0), "REGISTER")) == 1


def test_a_refusal_is_retried_later():
    run = registering(register_retry_s=20.0)
    (first,) = requests(run.outputs, "REGISTER")
    run.feed(reply(first, 403))
    assert not run.engine.registration.registered
    assert requests(run.advance(19.0), "REGISTER") == []
    assert len(requests(run.advance(2.0), "REGISTER")) == 1


def test_interval_too_brief_asks_again_with_min_expires():
    run = registering(register_expires_s=60)
    (first,) = requests(run.outputs, "REGISTER")
    run.feed(reply(first, 423, headers=(("Min-Expires", "1800"),)))
    (again,) = requests(run.advance(0.0), "REGISTER")
    assert again.get("Expires") == "1800"


def test_stop_removes_the_binding():
    run = registering()
    (first,) = requests(run.outputs, "REGISTER")
    run.feed(reply(first, 200, headers=(("Expires", "3600"),)))
    (removal,) = requests(run.step(run.engine.stop(run.now)), "REGISTER")
    assert removal.get("Expires") == "0"
    assert not run.engine.idle
    run.feed(reply(removal, 200))
    assert run.engine.idle


@pytest.mark.parametrize("settings", [{"register": True}, {"register": True, "username": ""}])
def test_registering_needs_a_username(settings):
    with pytest.raises(ValueError, match="username"):
        engine(**settings)
