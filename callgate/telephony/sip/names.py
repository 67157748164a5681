"""Header field names: canonical spelling, compact forms, and which fields are comma lists.

Names compare case-insensitively (RFC 3261 §7.3.1). Known names are stored in their canonical
spelling and compact forms expanded, so `msg.get("v")`, `msg.get("VIA")` and `msg.get("Via")`
all read the same field. Unknown names keep the spelling they arrived with.
"""

from __future__ import annotations

__all__ = ["CANONICAL", "COMPACT_FORMS", "LIST_HEADERS", "canonical_name", "lookup_key"]

# RFC 3261 §7.3.3 and the IANA "Header Fields" registry's compact forms.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Remote-Party-ID",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Service-Route",
    "Session-Expires",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
]

CANONICAL: dict[str, str] = {name.lower(): name for name in _KNOWN}
CANONICAL.update(COMPACT_FORMS)

# Fields whose value is a comma-separated list (RFC 3261 §7.3.1), so several lines and several
# comma-separated values are the same thing. Everything else, unknown fields included, is one
# opaque value: Date and the authentication fields contain commas that separate nothing, and an
# unknown field's syntax is unknown (RFC 4475 §3.1.1.1, UnknownHeaderWithUnusualValue).
LIST_HEADERS = frozenset(
    name.lower()
    for name in [
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Diversion",
        "Error-Info",
        "History-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Request-Disposition",
        "Require",
        "Route",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    ]
)


def canonical_name(name: str) -> str:
    """The canonical spelling of a known field name (compact forms expanded), else `name`."""
    return CANONICAL.get(name.lower(), name)


def lookup_key(name: str) -> str:
    """The case-folded key under which a message indexes field `name`."""
    return CANONICAL.get(name.lower(), name).lower()
