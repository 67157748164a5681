import uuid

from callgate.calls.causes import (
    CAUSE_TEXT,
    Cause,
    Disposition,
    cause_text,
    disposition_for,
    normalize_cause,
)
from callgate.calls.ids import is_session_id, new_session_id


def test_cause_table_is_the_specs() -> None:
    assert sorted(CAUSE_TEXT) == [0, 1, 16, 17, 18, 19, 21, 27, 28, 29, 34, 38, 44, 58, 102, 127]
    assert cause_text(16) == "Call completed successfully"
    assert cause_text(17) == "Destination busy"
    assert cause_text(102) == "Connection timeout"
    assert cause_text(9999) == "Call terminated - unknown reason"


def test_codes_outside_the_table_map_to_their_class() -> None:
    assert normalize_cause(16) is Cause.NORMAL_CLEARING
    assert normalize_cause(31) is Cause.NORMAL_CLEARING
    assert normalize_cause(41) is Cause.CHANNEL_UNAVAILABLE
    assert normalize_cause(111) is Cause.RECOVERY_ON_TIMER_EXPIRY
    assert normalize_cause(200) is Cause.INTERWORKING
    for code in range(0, 128):
        assert int(normalize_cause(code)) in CAUSE_TEXT


def test_dispositions() -> None:
    assert disposition_for(True, Cause.USER_BUSY, cancelled=False) is Disposition.ANSWERED
    assert disposition_for(False, Cause.NORMAL_CLEARING, cancelled=True) is Disposition.CANCEL
    assert disposition_for(False, Cause.USER_BUSY, cancelled=False) is Disposition.BUSY
    assert disposition_for(False, Cause.CALL_REJECTED, cancelled=False) is Disposition.BUSY
    assert disposition_for(False, Cause.NO_ANSWER, cancelled=False) is Disposition.NO_ANSWER
    assert disposition_for(False, Cause.NO_CIRCUIT_AVAILABLE, cancelled=False) is Disposition.FAILED
    assert Disposition.NO_ANSWER.value == "NO ANSWER"


def test_session_ids_are_uuid7_and_time_ordered() -> None:
    ids = [new_session_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for text in ids[:50]:
        value = uuid.UUID(text)
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert is_session_id(text)


def test_is_session_id_rejects_non_canonical() -> None:
    assert not is_session_id("not-a-uuid")
    assert not is_session_id("0198355B-F324-718B-95A4-625C43C654BC")  # upper case
    assert not is_session_id("0198355bf324718b95a4625c43c654bc")
    assert is_session_id("0198355b-f324-718b-95a4-625c43c654bc")
