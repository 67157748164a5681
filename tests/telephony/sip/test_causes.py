"""SIP status <-> Q.850 cause, checked row by row against RFC 3398's tables."""

from __future__ import annotations

import pytest

from callgate.calls.causes import Cause, normalize_cause
from callgate.telephony.sip import (
    cause_for_response,
    cause_for_status,
    q850_reason,
    status_for_cause,
)

from .factory import answer, our_request


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        # RFC 3398 §8.2.6.1, the rows an outbound call meets most
        (400, 41),
        (401, 21),
        (403, 21),
        (404, 1),
        (405, 63),
        (407, 21),
        (408, 102),
        (410, 22),
        (415, 79),
        (480, 18),
        (481, 41),
        (482, 25),
        (483, 25),
        (484, 28),
        (485, 1),
        (486, 17),
        (500, 41),
        (501, 79),
        (502, 38),
        (503, 41),
        (504, 102),
        (505, 127),
        (513, 127),
        (600, 17),
        (603, 21),
        (604, 1),
    ],
)
def test_sip_to_q850(status: int, cause: int) -> None:
    assert cause_for_status(status) == cause


def test_statuses_the_table_does_not_map() -> None:
    assert cause_for_status(487) is None  # our CANCEL worked: the domain knows it cancelled
    assert cause_for_status(180) is None
    assert cause_for_status(200) is None
    assert cause_for_status(302) is None
    assert cause_for_status(499) == 41  # unknown codes read as their class's x00
    assert cause_for_status(599) == 41
    assert cause_for_status(699) == 17
    assert cause_for_status(607) == 21  # Unwanted: callgate's reading, not busy


def test_488_and_606_map_by_their_warning() -> None:
    assert cause_for_status(488) == 31
    assert cause_for_status(606, (370,)) == 31
    assert cause_for_status(488, (399, 305)) == 65


def test_the_reason_header_wins() -> None:
    invite = our_request("INVITE", "z9hG4bKa")
    busy = answer(invite, 486)
    assert cause_for_response(busy) == 17
    declined = answer(invite, 603, extra=(("Reason", 'Q.850;cause=17;text="User busy"'),))
    assert cause_for_response(declined) == 17
    sip_reason = answer(invite, 480, extra=(("Reason", "SIP;cause=480"),))
    assert cause_for_response(sip_reason) == 18  # a SIP Reason is not a Q.850 cause
    warned = answer(invite, 488, extra=(("Warning", '304 sbc.example "Media type not available"'),))
    assert cause_for_response(warned) == 65


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        # RFC 3398 §7.2.4.1
        (1, 404),
        (2, 404),
        (3, 404),
        (17, 486),
        (18, 408),
        (19, 480),
        (20, 480),
        (21, 403),
        (22, 410),
        (23, 410),
        (26, 404),
        (27, 502),
        (28, 484),
        (29, 501),
        (31, 480),
        (34, 503),
        (38, 503),
        (41, 503),
        (42, 503),
        (47, 503),
        (55, 403),
        (57, 403),
        (58, 503),
        (65, 488),
        (70, 488),
        (79, 501),
        (87, 403),
        (88, 503),
        (102, 504),
        (111, 500),
        (127, 500),
    ],
)
def test_q850_to_sip(cause: int, status: int) -> None:
    assert status_for_cause(cause) == status


def test_causes_outside_the_table_take_their_class() -> None:
    assert status_for_cause(16) == 480
    assert status_for_cause(21, user_rejected=True) == 603
    assert status_for_cause(44) == 503
    assert status_for_cause(63) == 503
    assert status_for_cause(66) == 501
    assert status_for_cause(95) == 500


def test_every_mapped_cause_normalizes_onto_the_spec_table() -> None:
    for status in range(400, 700):
        cause = cause_for_status(status)
        if cause is not None:
            assert isinstance(normalize_cause(cause), Cause)


def test_reason_header_value() -> None:
    assert q850_reason(16) == "Q.850;cause=16"
    assert q850_reason(17, 'User "really" busy') == 'Q.850;cause=17;text="User \\"really\\" busy"'
    with pytest.raises(ValueError, match="0-127"):
        q850_reason(128)
