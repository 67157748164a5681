"""Bearer tokens: HS256 JWTs naming the account (`sub`), signed with the server's secret."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import jwt

from callgate.api.envelope import ApiError
from callgate.calls.ids import ACCOUNT_RE

ALGORITHM = "HS256"
SECRET_FILE = "jwt_secret"


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


def account_from_token(secret: str, token: str) -> str:
    """The account a token names; `InvalidToken` with a message saying what is wrong."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "iat"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("Authentication token has expired") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("Authentication token signature is invalid") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"Authentication token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("Authentication token is malformed") from None
    account = claims.get("sub")
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise InvalidToken("Authentication token names no valid account")
    return account


def bearer_token(header: str | None) -> str:
    if not header:
        raise InvalidToken("Authentication token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header must be 'Bearer <token>'")
    return token.strip()
