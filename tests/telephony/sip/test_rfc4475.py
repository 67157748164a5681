"""Every RFC 4475 torture message, classified as the RFC's section 3 says, with its semantics.

Stages: "accept" (parses, and the gateway's UAS checks pass), "validate" (parses; the UAS
answers `status`), "parse" (refused by the parser with `status`), "discard" (a response the
UAC drops). `respond` says whether an answer can be formed: RFC 4475 asks for a 400 to several
broken requests. Where the broken or missing field is From, To, Call-ID or CSeq the answer
carries a well-formed stand-in (the client matches it by Via branch and CSeq method alone);
where it is Via, no response can reach the client, and we never send what our own parser would
refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from callgate.telephony.sip import (
    DEFAULT_POLICY,
    AbsoluteUri,
    Policy,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    error_response,
    parse,
    rejection_response,
    validate_request,
    validate_response,
)

from .corpus import rfc4475, rfc4475_names


@dataclass(frozen=True)
class Verdict:
    section: str
    stage: str  # accept | validate | parse | discard
    status: int | None = None
    respond: bool = True


# fmt: off
VERDICTS: dict[str, Verdict] = {
    # 3.1.1 Valid messages: a parser must accept them.
    "wsinv":      Verdict("3.1.1.1", "accept"),
    "intmeth":    Verdict("3.1.1.2", "validate", 501),   # "Endpoints will generate a 501"
    "esc01":      Verdict("3.1.1.3", "accept"),
    "escnull":    Verdict("3.1.1.4", "validate", 405),   # a REGISTER; the gateway is no registrar
    "esc02":      Verdict("3.1.1.5", "validate", 501),   # "An endpoint would reject ... 501"
    "lwsdisp":    Verdict("3.1.1.6", "accept"),
    "longreq":    Verdict("3.1.1.7", "accept"),
    "dblreq":     Verdict("3.1.1.8", "validate", 405),   # the REGISTER; the INVITE is noise
    "semiuri":    Verdict("3.1.1.9", "accept"),
    "transports": Verdict("3.1.1.10", "accept"),
    "mpart01":    Verdict("3.1.1.11", "validate", 405),  # MESSAGE is not a gateway method
    "unreason":   Verdict("3.1.1.12", "accept"),
    "noreason":   Verdict("3.1.1.13", "accept"),
    # 3.1.2 Invalid messages: 400 (505 for the version); bad responses are dropped.
    "badinv01":   Verdict("3.1.2.1", "parse", 400, respond=False),  # the broken field is Via
    "clerr":      Verdict("3.1.2.2", "parse", 400),
    "ncl":        Verdict("3.1.2.3", "parse", 400),
    "scalar02":   Verdict("3.1.2.4", "parse", 400),  # CSeq 0 REGISTER stands in
    "scalarlg":   Verdict("3.1.2.5", "parse", 400, respond=False),  # a response: discard
    "quotbal":    Verdict("3.1.2.6", "parse", 400),  # the Request-URI stands in for To
    "ltgtruri":   Verdict("3.1.2.7", "parse", 400),
    "lwsruri":    Verdict("3.1.2.8", "parse", 400),
    "lwsstart":   Verdict("3.1.2.9", "parse", 400),
    "trws":       Verdict("3.1.2.10", "parse", 400),
    "escruri":    Verdict("3.1.2.11", "parse", 400),
    "baddate":    Verdict("3.1.2.12", "parse", 400),
    "regbadct":   Verdict("3.1.2.13", "parse", 400),
    "badaspec":   Verdict("3.1.2.14", "parse", 400),  # the Request-URI stands in for To
    "baddn":      Verdict("3.1.2.15", "parse", 400),  # "reasonable always to reject ... 400"
    "badvers":    Verdict("3.1.2.16", "parse", 505),
    "mismatch01": Verdict("3.1.2.17", "validate", 400),
    "mismatch02": Verdict("3.1.2.18", "validate", 501),  # "should respond with a 501"
    "bigcode":    Verdict("3.1.2.19", "parse", 400, respond=False),  # a response: discard
    # 3.2 Transaction layer: RFC 2543 matching instead of a missing branch identifier.
    "badbranch":  Verdict("3.2.1", "accept"),
    # 3.3 Application layer: well formed; the element answers as the RFC says.
    "insuf":      Verdict("3.3.1", "validate", 400),  # stand-ins for From, To, Call-ID
    "unkscm":     Verdict("3.3.2", "validate", 416),
    "novelsc":    Verdict("3.3.3", "validate", 416),
    "unksm2":     Verdict("3.3.4", "validate", 405),     # 400 from a registrar, below
    "bext01":     Verdict("3.3.5", "validate", 420),
    "invut":      Verdict("3.3.6", "validate", 415),
    "regaut01":   Verdict("3.3.7", "validate", 405),     # "Endpoints ... will simply reject"
    "multi01":    Verdict("3.3.8", "validate", 400),
    "mcl01":      Verdict("3.3.9", "parse", 400),        # framing: the body's end is unknowable
    "bcast":      Verdict("3.3.10", "discard"),
    "zeromf":     Verdict("3.3.11", "accept"),           # endpoints carry on; proxies 483, below
    "cparam01":   Verdict("3.3.12", "validate", 405),    # registrar behaviour below
    "cparam02":   Verdict("3.3.13", "validate", 405),
    "regescrt":   Verdict("3.3.14", "validate", 405),
    "sdp01":      Verdict("3.3.15", "validate", 406),
    # 3.4 Backward compatibility.
    "inv2543":    Verdict("3.4.1", "accept"),
}
# fmt: on

REGISTRAR = Policy(methods=DEFAULT_POLICY.methods | {"REGISTER"})
PROXY = Policy(role="proxy")


def test_the_table_covers_exactly_the_corpus() -> None:
    names = rfc4475_names()
    if names:  # absent corpus: the per-file tests report it
        assert sorted(VERDICTS) == names
    assert len(VERDICTS) == 49


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_classified_as_rfc_4475_says(name: str) -> None:
    verdict = VERDICTS[name]
    data = rfc4475(name)
    if verdict.stage == "parse":
        with pytest.raises(SipParseError) as caught:
            parse(data)
        assert caught.value.status == verdict.status
        assert caught.value.can_respond is verdict.respond
        response = error_response(caught.value, to_tag="t1")
        assert (response is not None) is verdict.respond
        if response is not None:
            assert response.status == verdict.status
            assert isinstance(parse(bytes(response)), SipResponse)
        return

    message = parse(data)
    if isinstance(message, SipResponse):
        problem = validate_response(message)
        assert (problem is None) is (verdict.stage == "accept"), problem
        return

    rejection = validate_request(message)
    if verdict.stage == "accept":
        assert rejection is None
        return
    assert rejection is not None
    assert (rejection.status, rejection.respond) == (verdict.status, verdict.respond)
    response = rejection_response(message, rejection, to_tag="t1")
    assert (response is not None) is verdict.respond
    if response is not None:
        again = parse(bytes(response))
        assert isinstance(again, SipResponse)
        assert again.status == verdict.status
        assert again.call_id == (message.call_id or "unusable-call-id@anonymous.invalid")
        assert again.to_tag == (message.to_tag or "t1")
        assert again.top_via == message.top_via


def request(name: str) -> SipRequest:
    message = parse(rfc4475(name))
    assert isinstance(message, SipRequest)
    return message


# --- 3.1.1 valid messages: the semantics the RFC points out -----------------------------------


def test_wsinv_short_tortuous_invite() -> None:
    m = request("wsinv")
    assert m.method == "INVITE"
    assert m.cseq is not None
    assert (m.cseq.number, m.cseq.method) == (9, "INVITE")
    assert m.max_forwards == 68  # "0068"
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert isinstance(m.uri, SipUri)
    assert m.uri.param("unknownparam") == ""
    assert m.to is not None
    assert m.to.tag == "1918181833n"
    assert m.to.display_name is None
    # quoted-pairs resolved: the wire form is "J Rosenberg \\\""
    assert m.from_ is not None
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    assert str(m.from_.uri) == "sip:jdrosen@example.com"
    assert m.get("Subject") == ""
    assert m.get("s") == ""
    # folded, unknown, and "would be invalid if it were generic-param": one opaque value
    assert m.get("newfangledheader") == "newfangled value continued newfangled value"
    assert m.get_all("UnknownHeaderWithUnusualValue") == (";;,,;;,;",)
    # three Via values from "Via" and "v", comma-separated and folded, LWS around "/"
    vias = m.via
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert not vias[0].rfc3261_branch
    assert vias[1].rfc3261_branch
    (route,) = m.route
    assert isinstance(route.uri, SipUri)
    assert route.uri.lr
    assert route.uri.param("unknownwith") == "value"
    assert route.uri.param("unknown-no-value") == ""
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.get("newparam") == "newvalue"
    assert contact.params.get("secondparam") == ""
    assert contact.params.get("q") == "0.33"
    assert m.content_type is not None
    assert m.content_type.mime == "application/sdp"
    assert m.content_length == 150
    assert len(m.body) == 150


def test_intmeth_wide_range_of_valid_characters() -> None:
    m = request("intmeth")
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method
    assert m.cseq is not None
    assert m.cseq.method == method
    assert isinstance(m.uri, SipUri)
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.uri.host == "example.com"
    assert m.top_via is not None
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to is not None
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_ is not None
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.from_.params.get("fromParam''~+*_!.-%") == "работающий"
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert m.max_forwards == 255
    rejection = validate_request(m)
    assert rejection is not None
    assert rejection.status == 501
    assert ("Allow", "ACK, BYE, CANCEL, INVITE, OPTIONS") in rejection.headers


def test_esc01_escapes_mean_the_character_but_only_once() -> None:
    m = request("esc01")
    assert isinstance(m.uri, SipUri)
    assert m.uri.user == "sips%3Auser%40example.com"  # the wire form is kept
    assert m.uri.user_text == "sips:user@example.com"
    assert m.uri.host == "example.net"
    assert m.to is not None
    assert isinstance(m.to.uri, SipUri)
    assert m.to.uri.user_text == "user"
    assert m.from_ is not None
    assert isinstance(m.from_.uri, SipUri)
    assert m.from_.uri.user_text == "I have spaces"
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.user_text == "caller"
    assert contact.uri.param("lr") == ""  # ;%6C%72 is ;lr
    assert contact.uri.param("name") == "value%41"  # not "valueA": no recursive unescaping
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"


def test_escnull_nulls_do_not_shorten_users() -> None:
    m = request("escnull")
    for address in (m.to, m.from_):
        assert address is not None
        assert isinstance(address.uri, SipUri)
        assert address.uri.user_text == "null-\x00-null"
    users = [c.uri.user_text for c in m.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]  # two distinct bindings
    assert validate_request(m, REGISTRAR) is None


def test_esc02_percent_is_not_an_escape_outside_uris() -> None:
    m = request("esc02")
    assert m.method == "RE%47IST%45R"
    assert m.method != "REGISTER"
    assert m.to is not None
    assert m.to.display_name == "%Z%45"
    assert m.from_ is not None
    assert m.from_.display_name == "%Z%45"
    assert [str(c.uri) for c in m.contacts] == [
        "sip:alias1@host1.example.com",
        "sip:alias3@host3.example.com",
    ]
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"  # its own, unknown field
    assert m.top_via is not None
    assert m.top_via.branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp_token_display_name_right_before_the_bracket() -> None:
    m = request("lwsdisp")
    assert m.from_ is not None
    assert m.from_.display_name == "caller"
    assert m.from_.tag == "323"


def test_longreq_long_values_and_34_vias() -> None:
    m = request("longreq")
    assert m.to is not None
    assert m.to.display_name is not None
    assert m.to.display_name.startswith("I have a user name of extremeextreme")
    assert isinstance(m.to.uri, SipUri)
    assert m.to.uri.port == 6000
    assert m.to.uri.param(
        "unknownparam1",
    ).startswith("verylonglong")  # type: ignore[union-attr]
    assert m.from_ is not None
    assert m.from_.tag is not None
    assert len(m.from_.tag) > 150
    assert (
        m.from_.params.get(
            "unknownValuelessparamnameparamnameparamnameparamnameparamname"
            "paramnameparamnameparamnameparamnameparamname"
        )
        == ""
    )
    vias = m.via
    assert len(vias) == 34
    assert [v.host for v in vias[:33]] == [f"sip{i}.example.com" for i in range(33, 0, -1)]
    assert vias[33].received == "192.0.2.5"
    assert vias[33].branch is not None
    assert vias[33].branch.endswith("longbranchvalue")
    assert m.call_id is not None
    assert m.call_id.endswith("reallylongcallid")
    assert m.content_length == 150


def test_dblreq_the_trailing_invite_is_ignored() -> None:
    m = request("dblreq")
    assert m.method == "REGISTER"
    assert m.body == b""
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"  # from the compact "I:"
    assert b"INVITE" not in bytes(m)  # a forwarded copy would not carry the noise
    assert validate_request(m, REGISTRAR) is None


def test_semiuri_user_part_holds_a_parameter() -> None:
    m = request("semiuri")
    assert isinstance(m.uri, SipUri)
    assert m.uri.user_text == "user;par=u@example.net"
    assert m.uri.host == "example.com"
    assert m.uri.params == ()
    assert m.get_all("Accept") == (
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    )


def test_transports_every_known_and_an_unknown_transport() -> None:
    m = request("transports")
    assert [v.transport for v in m.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01_binary_body_with_nulls_is_framed_by_content_length() -> None:
    m = request("mpart01")
    assert len(m.body) == 553
    assert b"\x00" in m.body
    assert m.content_type is not None
    assert m.content_type.mime == "multipart/mixed"
    assert m.content_type.params.get("boundary") == "7a9cbec02ceef655"
    assert m.top_via is not None
    assert m.top_via.rport_requested
    assert m.top_via.rport is None
    assert (
        m.get(
            "Identity",
        )
        is not None
    )
    assert m.get("User-Agent") == "SIPimp.org/0.2.5 (curses)"


def test_unreason_and_noreason_reason_phrases() -> None:
    unreason = parse(rfc4475("unreason"))
    assert isinstance(unreason, SipResponse)
    assert unreason.status == 200
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    noreason = parse(rfc4475("noreason"))
    assert isinstance(noreason, SipResponse)
    assert (noreason.status, noreason.reason) == (100, "")


# --- 3.1.2 invalid messages: the reasons given ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("badinv01", "Via"),
        ("clerr", "Content-Length 9999"),
        ("ncl", "Content-Length"),
        ("scalar02", "CSeq"),
        ("quotbal", "To"),
        ("ltgtruri", "Request-URI"),
        ("lwsruri", "Request-Line"),
        ("lwsstart", "Request-Line"),
        ("trws", "Request-Line"),
        ("escruri", "embedded headers"),
        ("baddate", "Date"),
        ("regbadct", "Contact"),
        ("badaspec", "To"),
        ("badvers", "SIP/7.0"),
        ("mcl01", "conflicting Content-Length"),
        ("bigcode", "status code"),
        ("scalarlg", "CSeq"),
    ],
)
def test_invalid_messages_say_what_is_wrong(name: str, fragment: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse(rfc4475(name))
    assert fragment in caught.value.detail


def test_baddn_with_its_blank_line_restored_fails_on_the_display_name() -> None:
    # This copy of baddn lacks the empty line ending the headers (see the corpus README).
    data = rfc4475("baddn")
    assert not data.endswith(b"\r\n\r\n")
    with pytest.raises(SipParseError) as caught:
        parse(data + b"\r\n")
    assert caught.value.status == 400
    assert "From" in caught.value.detail


def test_badvers_505_response_echoes_the_request() -> None:
    with pytest.raises(SipParseError) as caught:
        parse(rfc4475("badvers"))
    response = error_response(caught.value, to_tag="v7")
    assert response is not None
    assert response.status == 505
    assert response.reason == "Version Not Supported"
    assert response.call_id == "badvers.31417@c.example.com"
    assert response.to_tag == "v7"


def test_bad_responses_are_never_answered() -> None:
    for name in ("bigcode", "scalarlg"):
        with pytest.raises(SipParseError) as caught:
            parse(rfc4475(name))
        assert not caught.value.is_request
        assert error_response(caught.value) is None


def test_mismatch02_unknown_method_wins_over_the_cseq_mismatch() -> None:
    rejection = validate_request(request("mismatch02"))
    assert rejection is not None
    assert rejection.status == 501
    # A proxy forwards unknown methods, so there the mismatch is what it reports.
    at_proxy = validate_request(request("mismatch02"), PROXY)
    assert at_proxy is not None
    assert at_proxy.status == 400


# --- 3.2 / 3.3 / 3.4 ------------------------------------------------------------------------


def test_badbranch_falls_back_to_rfc_2543_matching() -> None:
    m = request("badbranch")
    assert m.top_via is not None
    assert m.top_via.branch == "z9hG4bK"
    assert not m.top_via.rfc3261_branch


def test_unkscm_and_novelsc_are_well_formed_with_opaque_uris() -> None:
    unkscm = request("unkscm")
    assert unkscm.uri == AbsoluteUri("nobodyknowsthisscheme", "totallyopaquecontent")
    novelsc = request("novelsc")
    assert novelsc.uri == AbsoluteUri("soap.beep", "//192.0.2.103:3002")


def test_unksm2_foreign_schemes_in_fields_and_a_registrar_400() -> None:
    m = request("unksm2")
    assert m.to is not None
    assert str(m.to.uri) == "isbn:2983792873"
    assert m.from_ is not None
    assert str(m.from_.uri) == "http://www.example.com"
    assert [str(c.uri) for c in m.contacts] == ["name:John_Smith"]
    rejection = validate_request(m, REGISTRAR)
    assert rejection is not None
    assert rejection.status == 400
    assert "address of record" in rejection.detail


def test_bext01_lists_unsupported_extensions_by_role() -> None:
    m = request("bext01")
    as_uas = validate_request(m)
    assert as_uas is not None
    assert as_uas.status == 420
    assert as_uas.headers == (("Unsupported", "nothingSupportsThis, nothingSupportsThisEither"),)
    as_proxy = validate_request(m, PROXY)
    assert as_proxy is not None
    assert as_proxy.status == 420
    assert as_proxy.headers == (
        ("Unsupported", "noProxiesSupportThis, norDoAnyProxiesSupportThis"),
    )
    response = rejection_response(m, as_uas, to_tag="x")
    assert response is not None
    assert response.get("Unsupported") == as_uas.headers[0][1]


def test_invut_415_lists_what_we_accept() -> None:
    rejection = validate_request(request("invut"))
    assert rejection is not None
    assert rejection.status == 415
    assert rejection.headers == (("Accept", "application/sdp"),)


def test_regaut01_unknown_auth_scheme_is_not_a_416() -> None:
    assert validate_request(request("regaut01"), REGISTRAR) is None


def test_multi01_repeated_single_value_fields() -> None:
    m = request("multi01")
    rejection = validate_request(m)
    assert rejection is not None
    assert rejection.status == 400
    for name in ("From", "To", "Call-ID", "CSeq", "Max-Forwards"):
        assert name in rejection.detail
    response = rejection_response(m, rejection, to_tag="m1")
    assert response is not None
    reparsed = parse(bytes(response))
    assert isinstance(reparsed, SipResponse)
    assert validate_response(reparsed) is None  # one of each: a UAC takes it
    assert response.call_id == "multi01.98asdh@192.0.2.1"


def test_bcast_dropped_by_uac_and_by_proxy() -> None:
    m = parse(rfc4475("bcast"))
    assert isinstance(m, SipResponse)
    assert validate_response(m) is not None  # two Vias: not for a UAC
    problem = validate_response(m, PROXY)
    assert problem is not None
    assert "255.255.255.255" in problem


def test_zeromf_endpoint_processes_proxy_refuses() -> None:
    m = request("zeromf")
    assert m.max_forwards == 0
    assert validate_request(m) is None
    at_proxy = validate_request(m, PROXY)
    assert at_proxy is not None
    assert at_proxy.status == 483


def test_cparam01_unbracketed_parameter_belongs_to_the_contact() -> None:
    m = request("cparam01")
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.params == ()
    assert contact.params.get("unknownparam") == ""
    assert validate_request(m, REGISTRAR) is None


def test_cparam02_bracketed_parameter_belongs_to_the_uri() -> None:
    m = request("cparam02")
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.param("unknownparam") == ""
    assert len(contact.params) == 0
    assert validate_request(m, REGISTRAR) is None


def test_regescrt_escaped_route_stays_in_the_contact_uri() -> None:
    m = request("regescrt")
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.header("Route") == "<sip:sip.example.com>"
    assert "Route" not in contact.params
    assert m.route == ()
    assert validate_request(m, REGISTRAR) is None


def test_sdp01_accept_without_sdp_gets_406() -> None:
    rejection = validate_request(request("sdp01"))
    assert rejection is not None
    assert rejection.status == 406


def test_inv2543_body_runs_to_the_end_of_the_datagram() -> None:
    m = request("inv2543")
    assert m.content_length is None
    assert m.max_forwards is None
    assert m.from_tag is None
    assert m.top_via is not None
    assert m.top_via.branch is None
    assert m.body.startswith(b"v=0\r\n")
    assert m.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    (record_route,) = m.record_route
    assert isinstance(record_route.uri, SipUri)
    assert record_route.uri.param("maddr") == "ss1.example.com"
    assert isinstance(m.to.uri if m.to else None, SipUri)


# --- round trips ------------------------------------------------------------------------------

ACCEPTED = [name for name, v in VERDICTS.items() if v.stage != "parse"]


@pytest.mark.parametrize("name", ACCEPTED)
def test_round_trip_parse_bytes_parse(name: str) -> None:
    first = parse(rfc4475(name))
    second = parse(bytes(first))
    # Same message, except that Content-Length now states the body's length everywhere.
    assert type(second) is type(first)
    assert second.body == first.body
    if isinstance(first, SipRequest):
        assert isinstance(second, SipRequest)
        assert (second.method, second.uri) == (first.method, first.uri)
    else:
        assert isinstance(second, SipResponse)
        assert (second.status, second.reason) == (first.status, first.reason)

    def without_length(m: SipRequest | SipResponse) -> list[tuple[str, str]]:
        return [h for h in m.headers if h[0] != "Content-Length"]

    assert without_length(second) == without_length(first)
    assert second.content_length == len(first.body)
    assert parse(bytes(second)) == second
    assert bytes(parse(bytes(second))) == bytes(second)
