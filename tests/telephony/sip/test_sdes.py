"""RFC 4568 a=crypto values: read as peers write them, written as they read them, keys never shown."""

from __future__ import annotations

import base64

import pytest

from callgate.telephony.sip.sdes import (
    KEY_SALT_BYTES,
    CryptoAttribute,
    CryptoSuite,
    CryptoUnusable,
    SrtpKeys,
)

# baresip 1.0's offer (srtp module), captured on loopback.
BARESIP_KEY = "BAlQg36tY5gQTBgY2WjU5PKqSStUWl/Pvu2j4fxK"
BARESIP = f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY}"
# RFC 4568 §4's example, with a lifetime and an MKI.
RFC_EXAMPLE = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"


def test_baresips_line_is_read_whole():
    attribute = CryptoAttribute.parse(BARESIP)
    assert attribute.tag == 1
    assert attribute.suite is CryptoSuite.AES_CM_128_HMAC_SHA1_80
    assert attribute.key_salt == base64.b64decode(BARESIP_KEY)
    assert attribute.attribute_value() == BARESIP


@pytest.mark.parametrize(
    "value",
    [
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{BARESIP_KEY}",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{BARESIP_KEY}|2^31",  # a lifetime: accepted
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{BARESIP_KEY}|1048576",
        f"2\tAES_CM_128_HMAC_SHA1_32  inline:{BARESIP_KEY} WSH=128",  # a hint: ignored
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{BARESIP_KEY} KDR=0",
    ],
)
def test_usable_variants(value):
    attribute = CryptoAttribute.parse(value)
    assert (attribute.tag, attribute.suite) == (2, CryptoSuite.AES_CM_128_HMAC_SHA1_32)
    assert len(attribute.key_salt) == KEY_SALT_BYTES


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (RFC_EXAMPLE, "MKI"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY}|1:4", "MKI"),
        (f"1 AEAD_AES_256_GCM inline:{BARESIP_KEY}", "suite 'AEAD_AES_256_GCM' not supported"),
        (f"1 F8_128_HMAC_SHA1_80 inline:{BARESIP_KEY}", "not supported"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY};inline:{BARESIP_KEY}", "more than one"),
        (f"1 AES_CM_128_HMAC_SHA1_80 uri:{BARESIP_KEY}", "only inline"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY} UNENCRYPTED_SRTP", "UNENCRYPTED_SRTP"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY} UNAUTHENTICATED_SRTP", "UNAUTH"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY} KDR=24", "KDR"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY}|2^x", "lifetime"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64*at*all*****************", "base64"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY[:-8]}", "not 30 bytes"),
        (f"x AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY}", "tag"),
        (f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{BARESIP_KEY}", "tag"),
        ("1 AES_CM_128_HMAC_SHA1_80", "needs a tag"),
        ("", "needs a tag"),
    ],
)
def test_unusable_lines_say_why_and_never_quote_the_key(value, reason):
    with pytest.raises(CryptoUnusable, match=reason.replace("^", r"\^")) as raised:
        CryptoAttribute.parse(value)
    text = str(raised.value)
    assert BARESIP_KEY[:12] not in text
    assert "PS1uQCVeeCFC" not in text
    assert "inline" not in text or "only inline" in text


def test_generated_keys_are_fresh_and_round_trip():
    first = CryptoAttribute.generate(1, CryptoSuite.AES_CM_128_HMAC_SHA1_80)
    second = CryptoAttribute.generate(1, CryptoSuite.AES_CM_128_HMAC_SHA1_80)
    assert len(first.key_salt) == KEY_SALT_BYTES
    assert first.key_salt != second.key_salt
    assert CryptoAttribute.parse(first.attribute_value()) == first


def test_reprs_hold_no_key():
    attribute = CryptoAttribute.parse(BARESIP)
    keys = SrtpKeys(attribute.suite, b"\x01" * 30, attribute.key_salt)
    for shown in (repr(attribute), str(attribute), repr(keys), str(keys), f"{keys!r} {attribute}"):
        assert BARESIP_KEY not in shown
        assert BARESIP_KEY[:8] not in shown
        assert repr(attribute.key_salt) not in shown
        assert repr(b"\x01" * 30) not in shown
        assert "AES_CM_128_HMAC_SHA1_80" in shown
