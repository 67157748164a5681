"""Bearer tokens: HS256 JWTs naming the account (`sub`), signed with the server's secret."""

from __future__ import annotations

import math
import secrets
import time
from pathlib import Path

import jwt

from callgate.api.envelope import ApiError
from callgate.calls.ids import ACCOUNT_RE

ALGORITHM = "HS256"
SECRET_FILE = "jwt_secret"
# How far ahead of this server's clock a token's iat and nbf may be (a fast clock where it was made).
CLOCK_SKEW_S = 30
MAX_SECONDS = 2**53  # a time claim beyond this is no time (and would not fit a float)


class InvalidToken(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(401, message, {"WWW-Authenticate": "Bearer"})


def load_or_create_secret(data_dir: Path) -> tuple[str, bool]:
    """The secret kept in the data folder, made on first use. Returns (secret, created_now)."""
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret + "\n", encoding="ascii")
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret, True


def create_token(secret: str, account: str, ttl_s: float | None = None) -> str:
    if not ACCOUNT_RE.fullmatch(account):
        raise ValueError(
            "account names are 1-64 characters: letters, digits and . _ @ -, starting with a letter "
            "or digit"
        )
    now = int(time.time())
    claims: dict[str, object] = {"sub": account, "iat": now}
    if ttl_s is not None:
        claims["exp"] = now + int(ttl_s)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def account_from_token(secret: str, token: str, *, now: float | None = None) -> str:
    """The account a token names; `InvalidToken` with a message saying what is wrong.

    `iat` and `nbf` may be up to `CLOCK_SKEW_S` ahead of this server's clock (the machine that
    made the token may run a little fast); `exp` is exact, so a token never outlives its expiry.
    """
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError:
        raise InvalidToken("Authentication token is malformed") from None
    if not isinstance(algorithm, str):
        raise InvalidToken("Authentication token is malformed")
    if algorithm.lower() == "none":
        raise InvalidToken(
            f"Authentication token is unsigned (alg none); this server accepts {ALGORITHM} only"
        )
    if algorithm != ALGORITHM:
        shown = algorithm if len(algorithm) <= 20 else algorithm[:17] + "..."
        raise InvalidToken(
            f"Authentication token is signed with {shown}; this server accepts {ALGORITHM} only"
        )
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            # The time claims are checked below, with the skew PyJWT would also apply to exp.
            options={
                "require": ["sub", "iat"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_sub": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidToken("Authentication token signature is invalid") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"Authentication token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("Authentication token is malformed") from None
    _check_times(claims, time.time() if now is None else now)
    account = claims.get("sub")
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise InvalidToken("Authentication token names no valid account")
    return account


def _check_times(claims: dict[str, object], now: float) -> None:
    times = {name: _seconds(claims, name) for name in ("iat", "nbf", "exp")}
    iat, nbf, exp = times["iat"], times["nbf"], times["exp"]
    if exp is not None and exp <= now:
        raise InvalidToken("Authentication token has expired")
    if iat is not None and iat > now + CLOCK_SKEW_S:
        raise InvalidToken(
            f"Authentication token is issued in the future (iat), beyond the {CLOCK_SKEW_S} s of "
            "clock skew allowed; check the clock of the machine that made it"
        )
    if nbf is not None and nbf > now + CLOCK_SKEW_S:
        raise InvalidToken("Authentication token is not valid yet (nbf)")


def _seconds(claims: dict[str, object], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    # JSON numbers only, and finite: Python's decoder also reads NaN, Infinity and 1e400 (inf).
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, int) and abs(value) > MAX_SECONDS)  # float() would overflow
        or not math.isfinite(value)
    ):
        raise InvalidToken(
            f"Authentication token's {name!r} claim must be a time in seconds since 1970"
        )
    return float(value)


def bearer_token(header: str | None) -> str:
    if not header:
        raise InvalidToken("Authentication token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header must be 'Bearer <token>'")
    return token.strip()
