"""RFC 4028 session timer negotiation and deadlines, sans-I/O: header values in, decisions out."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import make_request, parse_uri, response_for
from callgate.telephony.sip.address import parse_address
from callgate.telephony.sip.session_timer import (
    Refresher,
    SessionExpires,
    SessionTimer,
    Settled,
    TimerAnswer,
    TooSmall,
    answer_request,
    parse_min_se,
    parse_session_expires,
    retry_interval,
    settled_by_response,
)


def invite(*headers: tuple[str, str]):
    return make_request(
        "INVITE",
        parse_uri("sip:100@192.0.2.10"),
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-st",
        from_=parse_address("<sip:a@192.0.2.1>;tag=a"),
        to=parse_address("<sip:100@192.0.2.10>"),
        call_id="st@192.0.2.1",
        cseq=1,
        headers=headers,
    )


def test_session_expires_is_read_in_full_and_compact_form():
    assert parse_session_expires(invite(("Session-Expires", "1800;refresher=uas"))) == (
        SessionExpires(1800, Refresher.UAS)
    )
    assert parse_session_expires(invite(("x", "600"))) == SessionExpires(600)
    assert parse_session_expires(invite(("Session-Expires", "soon"))) is None
    assert parse_min_se(invite(("Min-SE", "120;x=y"))) == 120
    assert str(SessionExpires(90, Refresher.UAC)) == "90;refresher=uac"


def test_a_uas_refuses_a_short_interval_with_422_only_when_the_uac_can_retry():
    short = invite(("Supported", "timer"), ("Session-Expires", "60"))
    assert answer_request(short, 1800, 90) == TooSmall((("Min-SE", "90"),))
    # Inserted by a proxy for a UAC that knows nothing of timers: raised, and we refresh.
    inserted = answer_request(invite(("Session-Expires", "60")), 1800, 90)
    assert inserted == TimerAnswer(
        (("Session-Expires", "90;refresher=uas"),), Settled(90, we_refresh=True)
    )


def test_the_uac_refreshes_when_it_supports_timers_and_says_so_by_require():
    answer = answer_request(invite(("Supported", "timer"), ("Session-Expires", "1200")), 1800, 90)
    assert isinstance(answer, TimerAnswer)
    assert answer.headers == (("Session-Expires", "1200;refresher=uac"), ("Require", "timer"))
    assert answer.settled == Settled(1200, we_refresh=False)


def test_the_requests_refresher_choice_wins_and_a_longer_interval_is_shortened_to_ours():
    asked = invite(("Supported", "timer"), ("Session-Expires", "7200;refresher=uas"))
    answer = answer_request(asked, 1800, 90)
    assert isinstance(answer, TimerAnswer)
    assert answer.headers == (("Session-Expires", "1800;refresher=uas"),)
    assert answer.settled == Settled(1800, we_refresh=True)


def test_a_request_without_session_expires_gets_ours_unless_we_want_none():
    answer = answer_request(invite(), 1800, 90)
    assert isinstance(answer, TimerAnswer)
    assert answer.headers == (("Session-Expires", "1800;refresher=uas"),)
    assert answer_request(invite(), 0, 90) == TimerAnswer((), None)


def test_what_a_2xx_settles_for_the_uac_and_the_retry_a_422_asks_for():
    request = invite()
    ok = response_for(request, 200, to_tag="b", headers=(("Session-Expires", "900;refresher=uas"),))
    assert settled_by_response(ok) == Settled(900, we_refresh=False)
    ours = response_for(
        request, 200, to_tag="b", headers=(("Session-Expires", "900;refresher=uac"),)
    )
    assert settled_by_response(ours) == Settled(900, we_refresh=True)
    assert settled_by_response(response_for(request, 200, to_tag="b")) is None
    too_small = response_for(request, 422, to_tag="b", headers=(("Min-SE", "3600"),))
    assert retry_interval(too_small, 1800) == 3600
    assert retry_interval(too_small, 3600) is None  # asking again would change nothing


@pytest.mark.parametrize(("interval", "expiry"), [(1800, 1768.0), (90, 60.0)])
def test_refresh_at_half_the_interval_and_expiry_before_its_end(interval, expiry):
    timer = SessionTimer(Settled(interval, we_refresh=True), now=100.0)
    assert timer.refresh_at == 100.0 + interval / 2
    assert timer.expire_at == 100.0 + expiry  # interval - min(32, interval / 3)
    assert not timer.refresh_due(100.0 + interval / 2 - 0.1)
    assert timer.refresh_due(100.0 + interval / 2)
    timer.refresh_sent()
    assert timer.next_deadline == timer.expire_at
    timer.restart(Settled(interval, we_refresh=False), now=200.0)
    assert timer.refresh_at is None
    assert timer.expired(200.0 + expiry)
