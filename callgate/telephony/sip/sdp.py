"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for one G.711 audio stream.

Parsing is lenient where peers differ (LF or CRLF line ends, unknown lines, attribute order)
and bounded (lines, media sections). Negotiation keeps to what callgate does: PCMU or PCMA at
8 kHz, RFC 4733 telephone-event, 20 ms packets, RTP/AVP.

- Our offer lists the codecs in our preference order plus telephone-event 101, ptime 20.
- Our answer accepts the first audio stream we can serve and rejects every other stream with
  port 0 (RFC 3264 §6: one m= line per offered one, in order). It names one codec, the first
  of our preference the offer has, under the offerer's payload type number, and mirrors the
  offerer's telephone-event payload type (PJSIP offers 120, most others 101) and its fmtp.
  No common codec: `SdpNegotiationError`, to be answered 488 with its Warning (RFC 3261 §21.4.26).
- SRTP (SDES, RFC 4568; `sdes.py`) per `MediaConfig.media_encryption`: `none` offers and answers
  exactly as before (an offered a=crypto is ignored, RTP/SAVP refused); `optional` offers RTP/AVP
  with one a=crypto line per suite and answers SRTP when the offer has a usable line (plain RTP
  when it has none); `required` offers RTP/SAVP and refuses, 488, any offer without a usable
  line. The answer takes the offer's first usable line (the offerer's preference), with its tag
  and suite and a key of ours; our keys are made once per session and suite, so a re-offer or
  re-answer repeats them. An answer to our crypto offer uses SRTP when it names one of our tags
  with the same suite; `required` ends the call when it does not.
- Direction: the answer is our wish intersected with the mirror of the offer (sendonly ->
  recvonly ...), and the peer is holding us when it offers sendonly / inactive or the RFC 2543
  c=0.0.0.0 (RFC 3264 §8.4), in which case we do not send either.
- o= (RFC 3264 §8): the version goes up by one whenever what we send differs from last time,
  and stays when we repeat ourselves.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import SipError
from .sdes import CryptoAttribute, CryptoSuite, CryptoUnusable, MediaEncryption, SrtpKeys

__all__ = [
    "Codec",
    "Connection",
    "Direction",
    "MediaConfig",
    "MediaDescription",
    "NegotiatedAudio",
    "Origin",
    "RtpMap",
    "SdpError",
    "SdpNegotiationError",
    "SdpSession",
    "SessionDescription",
    "parse_sdp",
]

MAX_LINES = 512
MAX_MEDIA = 16
_AUDIO_PROTO = "RTP/AVP"
_SRTP_PROTO = "RTP/SAVP"
_SRTP_REFUSED = (305, "SRTP required (RTP/SAVP with a=crypto)")
_NO_CRYPTO = "no usable a=crypto line"
_CLOCK_RATE = 8000
# RFC 3551 Table 4: static payload types an offer may use without an rtpmap.
_STATIC_RTPMAPS = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    18: ("G729", 8000),
}
_DEFAULT_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
_HOLD_ADDRESSES = frozenset({"0.0.0.0", "::"})


class SdpError(SipError):
    """The peer's SDP cannot be used: `status` is what to answer (400 unreadable, 488 no
    common media); `warning` is a Warning code and text for that answer when there is one."""

    def __init__(self, detail: str, *, status: int = 400, warning: tuple[int, str] | None = None):
        self.detail = detail
        self.status = status
        self.warning = warning
        super().__init__(f"{status}: {detail}")

    def warning_value(self, agent: str) -> str | None:
        """The Warning header value (RFC 3261 §20.43) naming `agent` (our host), or None."""
        if self.warning is None:
            return None
        code, text = self.warning
        return f'{code} {agent} "{text}"'


class SdpNegotiationError(SdpError):
    """No stream of the offer (or answer) can carry our audio."""

    def __init__(
        self, detail: str, *, warning: tuple[int, str] = (305, "Incompatible media format")
    ):
        super().__init__(detail, status=488, warning=warning)


class Direction(StrEnum):
    """a=sendrecv / sendonly / recvonly / inactive (RFC 4566 §6), from the writer's side."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, *, sends: bool, receives: bool) -> Direction:
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def mirrored(self) -> Direction:
        """The same stream seen from the other side: sendonly <-> recvonly."""
        return Direction.of(sends=self.receives, receives=self.sends)

    def __and__(self, other: Direction) -> Direction:
        return Direction.of(
            sends=self.sends and other.sends, receives=self.receives and other.receives
        )


# --- the description --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>"""

    username: str
    session_id: int
    version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """c=<nettype> <addrtype> <connection-address> (any /ttl or /count suffix dropped)."""

    nettype: str
    addrtype: str
    address: str

    @property
    def hold(self) -> bool:
        """The RFC 2543 way of saying "don't send me media" (RFC 3264 §8.4)."""
        return self.address in _HOLD_ADDRESSES


@dataclass(frozen=True, slots=True)
class RtpMap:
    """a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]"""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def is_(self, name: str, clock_rate: int = _CLOCK_RATE) -> bool:
        return (
            self.encoding.lower() == name.lower()
            and self.clock_rate == clock_rate
            and self.channels in (None, 1)
        )


@dataclass(frozen=True, slots=True, repr=False)
class MediaDescription:
    """m=<media> <port>[/<number of ports>] <proto> <fmt> ... and the lines under it."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()

    def __repr__(self) -> str:
        return (
            f"MediaDescription(media={self.media!r}, port={self.port}, proto={self.proto!r}, "
            f"formats={self.formats!r}, connection={self.connection!r}, "
            f"attributes={_redacted(self.attributes)!r})"
        )

    def attribute(self, name: str) -> str | None:
        """The first value of a=`name` ("" for a flag attribute), or None."""
        for key, value in self.attributes:
            if key == name:
                return value if value is not None else ""
        return None

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """The rtpmap of `payload_type`, or the static one RFC 3551 assigns."""
        prefix = f"{payload_type} "
        for key, value in self.attributes:
            if key == "rtpmap" and value and value.startswith(prefix):
                return _parse_rtpmap(value)
        static = _STATIC_RTPMAPS.get(payload_type)
        return None if static is None else RtpMap(payload_type, *static)

    def fmtp(self, payload_type: int) -> str | None:
        prefix = f"{payload_type} "
        for key, value in self.attributes:
            if key == "fmtp" and value and value.startswith(prefix):
                return value[len(prefix) :].strip()
        return None

    @property
    def payload_types(self) -> tuple[int, ...]:
        return tuple(int(f) for f in self.formats if f.isdigit() and len(f) <= 3)

    @property
    def ptime_ms(self) -> int | None:
        value = self.attribute("ptime")
        try:
            return None if not value else round(float(value))
        except ValueError:
            return None

    @property
    def direction(self) -> Direction | None:
        for key, value in self.attributes:
            if value is None and key in Direction.__members__.values():
                return Direction(key)
        return None


@dataclass(frozen=True, slots=True, repr=False)
class SessionDescription:
    """A parsed session description; media-level values fall back to the session level."""

    origin: Origin
    session_name: str
    connection: Connection | None
    media: tuple[MediaDescription, ...]
    attributes: tuple[tuple[str, str | None], ...] = ()

    def __repr__(self) -> str:
        return (
            f"SessionDescription(origin={self.origin!r}, session_name={self.session_name!r}, "
            f"connection={self.connection!r}, media={self.media!r}, "
            f"attributes={_redacted(self.attributes)!r})"
        )

    @property
    def direction(self) -> Direction | None:
        for key, value in self.attributes:
            if value is None and key in Direction.__members__.values():
                return Direction(key)
        return None

    def media_direction(self, media: MediaDescription) -> Direction:
        """RFC 4566 §6: media level wins, then session level, then sendrecv."""
        return media.direction or self.direction or Direction.SENDRECV

    def media_connection(self, media: MediaDescription) -> Connection | None:
        return media.connection or self.connection


def _redacted(
    attributes: tuple[tuple[str, str | None], ...],
) -> tuple[tuple[str, str | None], ...]:
    """a=crypto values hold keys: never in a repr (a log line or a traceback may show one)."""
    return tuple((key, "<redacted>" if key == "crypto" else value) for key, value in attributes)


# --- parsing -------------------------------------------------------------------------------------


def parse_sdp(data: bytes) -> SessionDescription:
    """Parse a session description; raises SdpError (status 400) when it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > MAX_LINES:
        raise SdpError(f"SDP over {MAX_LINES} lines")
    if not lines or lines[0].strip() != "v=0":
        raise SdpError("SDP must start with v=0")

    origin: Origin | None = None
    session_name = ""
    connection: Connection | None = None
    session_attributes: list[tuple[str, str | None]] = []
    media: list[MediaDescription] = []
    current: _MediaDraft | None = None  # the m= section being read

    for number, line in enumerate(lines[1:], start=2):
        if len(line) < 2 or line[1] != "=":
            if not line.strip():
                continue  # a stray empty line: tolerated
            raise SdpError(f"line {number} is not <type>=<value>: {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            if current is not None:
                media.append(current.done())
            if len(media) >= MAX_MEDIA:
                raise SdpError(f"more than {MAX_MEDIA} media descriptions")
            current = _parse_media_line(value, number)
        elif kind == "c":
            parsed = _parse_connection(value, number)
            if current is None:
                connection = parsed
            else:
                current.connection = parsed
        elif kind == "a":
            name, colon, attr_value = value.partition(":")
            attribute = (name.strip(), attr_value.strip() if colon else None)
            if current is None:
                session_attributes.append(attribute)
            else:
                current.attributes.append(attribute)
        elif kind == "o" and current is None:
            origin = _parse_origin(value, number)
        elif kind == "s" and current is None:
            session_name = value
        # i= u= e= p= b= t= r= z= k= and unknown types carry nothing we use.
    if current is not None:
        media.append(current.done())
    if origin is None:
        raise SdpError("SDP without o= line")
    return SessionDescription(
        origin=origin,
        session_name=session_name,
        connection=connection,
        media=tuple(media),
        attributes=tuple(session_attributes),
    )


def _parse_origin(value: str, number: int) -> Origin:
    parts = value.split()
    if len(parts) != 6 or not parts[1].isdigit() or not parts[2].isdigit():
        raise SdpError(f"line {number}: malformed o= line")
    if len(parts[1]) > 20 or len(parts[2]) > 20:
        raise SdpError(f"line {number}: o= numbers too long")
    return Origin(parts[0], int(parts[1]), int(parts[2]), parts[3], parts[4], parts[5])


def _parse_connection(value: str, number: int) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"line {number}: malformed c= line")
    return Connection(parts[0], parts[1].upper(), parts[2].split("/", 1)[0])


@dataclass(slots=True)
class _MediaDraft:
    """An m= section while its lines are read."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def done(self) -> MediaDescription:
        return MediaDescription(
            self.media, self.port, self.proto, self.formats, self.connection, tuple(self.attributes)
        )


def _parse_media_line(value: str, number: int) -> _MediaDraft:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"line {number}: m= needs media, port, proto and a format")
    port_text = parts[1].split("/", 1)[0]
    if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
        raise SdpError(f"line {number}: bad m= port {parts[1][:12]!r}")
    return _MediaDraft(parts[0], int(port_text), parts[2], tuple(parts[3:]))


def _parse_rtpmap(value: str) -> RtpMap | None:
    pt_text, _, encoding = value.partition(" ")
    name, _, rest = encoding.strip().partition("/")
    rate_text, _, channels_text = rest.partition("/")
    if not pt_text.isdigit() or len(pt_text) > 3 or not rate_text.isdigit() or len(rate_text) > 9:
        return None
    channels = int(channels_text) if channels_text.isdigit() and len(channels_text) < 3 else None
    return RtpMap(int(pt_text), name, int(rate_text), channels)


# --- negotiation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Codec:
    """An audio codec as numbered between us and this peer."""

    name: str
    payload_type: int
    clock_rate: int = _CLOCK_RATE


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Our side of the media: where we receive RTP and what we offer, in preference order."""

    address: str
    port: int
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    telephone_event_pt: int = 101
    telephone_events: str = "0-16"  # the fmtp we offer (RFC 4733 §2.4.1)
    ptime_ms: int = 20
    username: str = "callgate"
    session_name: str = "callgate"
    media_encryption: MediaEncryption = MediaEncryption.NONE
    srtp_suites: tuple[CryptoSuite, ...] = tuple(CryptoSuite)  # offered in this order

    def __post_init__(self) -> None:
        unknown = [c for c in self.codecs if c not in _DEFAULT_PAYLOAD_TYPES]
        if unknown or not self.codecs:
            raise ValueError(f"codecs must be a non-empty choice of PCMU, PCMA; got {self.codecs}")
        if not self.srtp_suites:
            raise ValueError("srtp_suites must name at least one suite")


@dataclass(frozen=True, slots=True)
class NegotiatedAudio:
    """What one offer/answer exchange settled for the audio stream."""

    remote_address: str
    remote_port: int
    codec: Codec
    telephone_event_pt: int | None
    remote_ptime_ms: int | None
    direction: Direction  # what we do
    remote_direction: Direction  # what the peer does
    on_hold: bool  # the peer has put us on hold (sendonly / inactive / c=0.0.0.0)
    srtp: SrtpKeys | None = None  # SRTP's suite and keys; None: plain RTP

    @property
    def send(self) -> bool:
        """Whether we should send RTP at all."""
        return self.direction.sends

    @property
    def receive(self) -> bool:
        return self.direction.receives


class SdpSession:
    """Our SDP across one call: offers, answers, and the o= line's version (RFC 3264 §8)."""

    def __init__(self, config: MediaConfig, *, session_id: int | None = None) -> None:
        self.config = config
        self.session_id = secrets.randbits(62) if session_id is None else session_id
        self.version = self.session_id
        self._last_sent: str | None = None  # what we sent last, without the o= line
        self._offered: tuple[Codec, ...] = ()
        self._offered_direction = Direction.SENDRECV
        self._offered_crypto: tuple[CryptoAttribute, ...] = ()
        self._keys: dict[CryptoSuite, bytes] = {}  # ours, one per suite, for the whole call

    def __repr__(self) -> str:
        return f"SdpSession(session_id={self.session_id}, version={self.version})"

    def _key(self, suite: CryptoSuite) -> bytes:
        key = self._keys.get(suite)
        if key is None:
            key = self._keys[suite] = CryptoAttribute.generate(0, suite).key_salt
        return key

    @property
    def _encryption(self) -> MediaEncryption:
        return self.config.media_encryption

    # --- building ---------------------------------------------------------------------------

    def offer(self, *, direction: Direction = Direction.SENDRECV) -> bytes:
        """Our offer (initial or re-offer, e.g. sendonly to hold)."""
        config = self.config
        codecs = tuple(Codec(name, _DEFAULT_PAYLOAD_TYPES[name]) for name in config.codecs)
        self._offered = codecs
        self._offered_direction = direction
        encryption = self._encryption
        crypto: tuple[CryptoAttribute, ...] = ()
        if encryption is not MediaEncryption.NONE:
            crypto = tuple(
                CryptoAttribute(tag, suite, self._key(suite))
                for tag, suite in enumerate(config.srtp_suites, start=1)
            )
        self._offered_crypto = crypto
        proto = _SRTP_PROTO if encryption is MediaEncryption.REQUIRED else _AUDIO_PROTO
        media = _audio_lines(
            config.port,
            codecs,
            (config.telephone_event_pt, config.telephone_events),
            config.ptime_ms,
            direction,
            proto=proto,
            crypto=crypto,
        )
        return self._render(media)

    def answer(
        self, offer: bytes | SessionDescription, *, direction: Direction = Direction.SENDRECV
    ) -> tuple[bytes, NegotiatedAudio]:
        """Answer `offer`; raises SdpError (400) or SdpNegotiationError (488)."""
        description = offer if isinstance(offer, SessionDescription) else parse_sdp(offer)
        media_lines: list[str] = []
        negotiated: NegotiatedAudio | None = None
        problems: list[str] = []
        for media in description.media:
            result = None
            if negotiated is None:
                result = self._accept_offered(description, media, direction, problems)
            if result is None:
                # RFC 3264 §6: a rejected stream keeps its place with port 0.
                media_lines.append(f"m={media.media} 0 {media.proto} {' '.join(media.formats)}")
                continue
            negotiated, lines = result
            media_lines += lines
        if negotiated is None:
            detail = "; ".join(problems) or "no audio stream offered"
            if any(problem.startswith(_NO_CRYPTO) for problem in problems):
                raise SdpNegotiationError(detail, warning=_SRTP_REFUSED)
            raise SdpNegotiationError(f"{detail}; we take {'/'.join(self.config.codecs)}")
        return self._render(media_lines), negotiated

    def _accept_offered(
        self,
        description: SessionDescription,
        media: MediaDescription,
        wish: Direction,
        problems: list[str],
    ) -> tuple[NegotiatedAudio, list[str]] | None:
        if media.media != "audio" or media.port == 0:
            return None
        encryption = self._encryption
        proto = media.proto.upper()
        if proto != _AUDIO_PROTO and (proto != _SRTP_PROTO or encryption is MediaEncryption.NONE):
            problems.append(f"audio over {media.proto}")
            return None
        offered_crypto: CryptoAttribute | None = None
        if encryption is not MediaEncryption.NONE:
            offered_crypto = _first_usable_crypto(media, self.config.srtp_suites, problems)
            if offered_crypto is None and (
                proto == _SRTP_PROTO or encryption is MediaEncryption.REQUIRED
            ):
                problems.append(f"{_NO_CRYPTO} (media_encryption = {encryption})")
                return None
        connection = description.media_connection(media)
        if connection is None:
            problems.append("audio stream without c= address")
            return None
        codec = _choose_codec(media, self.config.codecs)
        if codec is None:
            offered = [_format_name(media, pt) for pt in media.payload_types]
            problems.append(f"offered {' '.join(offered) or 'nothing'}")
            return None
        event = _telephone_event(media)
        remote = description.media_direction(media)
        held = remote in (Direction.SENDONLY, Direction.INACTIVE) or connection.hold
        ours = wish & remote.mirrored()
        if connection.hold:
            ours = ours & Direction.RECVONLY  # nowhere to send to
        events = None if event is None else (event[0], event[1] or self.config.telephone_events)
        crypto: tuple[CryptoAttribute, ...] = ()
        keys = None
        if offered_crypto is not None:
            suite = offered_crypto.suite
            mine = CryptoAttribute(offered_crypto.tag, suite, self._key(suite))
            crypto = (mine,)
            keys = SrtpKeys(suite, mine.key_salt, offered_crypto.key_salt)
        lines = _audio_lines(
            self.config.port,
            (codec,),
            events,
            self.config.ptime_ms,
            ours,
            proto=media.proto if keys is not None else _AUDIO_PROTO,
            crypto=crypto,
        )
        negotiated = NegotiatedAudio(
            remote_address=connection.address,
            remote_port=media.port,
            codec=codec,
            telephone_event_pt=None if event is None else event[0],
            remote_ptime_ms=media.ptime_ms,
            direction=ours,
            remote_direction=remote,
            on_hold=held,
            srtp=keys,
        )
        return negotiated, lines

    def accept_answer(self, answer: bytes | SessionDescription) -> NegotiatedAudio:
        """The peer's answer to our last offer; raises SdpError / SdpNegotiationError when it
        refuses our audio (then end the call: an answer cannot be answered 488)."""
        if not self._offered:
            raise SdpError("an answer without our offer", status=500)
        description = answer if isinstance(answer, SessionDescription) else parse_sdp(answer)
        audio = next((m for m in description.media if m.media == "audio"), None)
        if audio is None or audio.port == 0:
            raise SdpNegotiationError("the answer rejects our audio stream")
        connection = description.media_connection(audio)
        if connection is None:
            raise SdpError("the answer's audio stream has no c= address")
        codec = _answered_codec(audio, self._offered)
        if codec is None:
            raise SdpNegotiationError("the answer names none of the codecs we offered")
        keys = self._answered_keys(audio)
        event = _telephone_event(audio)
        remote = description.media_direction(audio)
        ours = self._offered_direction & remote.mirrored()
        if connection.hold:
            ours = ours & Direction.RECVONLY
        return NegotiatedAudio(
            remote_address=connection.address,
            remote_port=audio.port,
            codec=codec,
            telephone_event_pt=None if event is None else event[0],
            remote_ptime_ms=audio.ptime_ms,
            direction=ours,
            remote_direction=remote,
            on_hold=remote in (Direction.SENDONLY, Direction.INACTIVE) or connection.hold,
            srtp=keys,
        )

    def _answered_keys(self, audio: MediaDescription) -> SrtpKeys | None:
        """SRTP's keys when the answer takes one of our crypto lines (its tag, our suite);
        None for plain RTP, when that is acceptable; SdpNegotiationError when it is not."""
        offered = {attribute.tag: attribute for attribute in self._offered_crypto}
        secured = audio.proto.upper() == _SRTP_PROTO
        if offered:
            for key, value in audio.attributes:
                if key != "crypto" or value is None:
                    continue
                try:
                    answered = CryptoAttribute.parse(value)
                except CryptoUnusable:
                    continue
                ours = offered.get(answered.tag)
                if ours is not None and ours.suite is answered.suite:
                    return SrtpKeys(ours.suite, ours.key_salt, answered.key_salt)
        if secured or self._encryption is MediaEncryption.REQUIRED:
            raise SdpNegotiationError(
                "the answer has no usable a=crypto line for our offer "
                f"(media_encryption = {self._encryption})",
                warning=_SRTP_REFUSED,
            )
        return None

    def _render(self, media_lines: list[str]) -> bytes:
        config = self.config
        addrtype = "IP6" if ":" in config.address else "IP4"
        body = [
            f"s={config.session_name}",
            f"c=IN {addrtype} {config.address}",
            "t=0 0",
            *media_lines,
        ]
        text = "\r\n".join(body) + "\r\n"
        if self._last_sent is not None and text != self._last_sent:
            self.version += 1
        self._last_sent = text
        origin = Origin(
            config.username, self.session_id, self.version, "IN", addrtype, config.address
        )
        return f"v=0\r\no={origin}\r\n{text}".encode()


def _audio_lines(
    port: int,
    codecs: tuple[Codec, ...],
    events: tuple[int, str] | None,
    ptime_ms: int,
    direction: Direction,
    *,
    proto: str = _AUDIO_PROTO,
    crypto: tuple[CryptoAttribute, ...] = (),
) -> list[str]:
    formats = [str(codec.payload_type) for codec in codecs]
    if events is not None:
        formats.append(str(events[0]))
    lines = [f"m=audio {port} {proto} {' '.join(formats)}"]
    lines += [f"a=rtpmap:{c.payload_type} {c.name}/{c.clock_rate}" for c in codecs]
    if events is not None:
        lines.append(f"a=rtpmap:{events[0]} telephone-event/{_CLOCK_RATE}")
        lines.append(f"a=fmtp:{events[0]} {events[1]}")
    lines += [f"a=crypto:{attribute.attribute_value()}" for attribute in crypto]
    lines.append(f"a=ptime:{ptime_ms}")
    lines.append(f"a={direction}")
    return lines


def _first_usable_crypto(
    media: MediaDescription, suites: tuple[CryptoSuite, ...], problems: list[str]
) -> CryptoAttribute | None:
    """The offer's first a=crypto line we can use with one of `suites` (RFC 4568 §7.1.2: the
    offerer lists them in its order of preference); why each earlier one was not goes into
    `problems`."""
    for key, value in media.attributes:
        if key != "crypto" or value is None:
            continue
        try:
            attribute = CryptoAttribute.parse(value)
        except CryptoUnusable as exc:
            problems.append(str(exc))
            continue
        if attribute.suite in suites:
            return attribute
        problems.append(f"crypto tag {attribute.tag}: suite {attribute.suite} not enabled")
    return None


def _choose_codec(media: MediaDescription, preference: tuple[str, ...]) -> Codec | None:
    """The first codec of `preference` the offer has, under the offer's payload type."""
    offered = [(pt, media.rtpmap(pt)) for pt in media.payload_types]
    for name in preference:
        for pt, rtpmap in offered:
            if rtpmap is not None and rtpmap.is_(name):
                return Codec(name, pt)
    return None


def _answered_codec(media: MediaDescription, offered: tuple[Codec, ...]) -> Codec | None:
    """The answer's first format that is one of ours: by payload type, or by name when the
    answerer renumbered (which RFC 3264 §6.1 forbids, but some do)."""
    for pt in media.payload_types:
        rtpmap = media.rtpmap(pt)
        for codec in offered:
            if pt == codec.payload_type and (rtpmap is None or rtpmap.is_(codec.name)):
                return codec
            if rtpmap is not None and rtpmap.is_(codec.name):
                return Codec(codec.name, pt)
    return None


def _telephone_event(media: MediaDescription) -> tuple[int, str | None] | None:
    """The offer's telephone-event/8000 payload type and its fmtp, if it offers one."""
    for pt in media.payload_types:
        rtpmap = media.rtpmap(pt)
        if rtpmap is not None and rtpmap.is_("telephone-event"):
            return pt, media.fmtp(pt)
    return None


def _format_name(media: MediaDescription, payload_type: int) -> str:
    rtpmap = media.rtpmap(payload_type)
    return str(payload_type) if rtpmap is None else f"{rtpmap.encoding}/{rtpmap.clock_rate}"
