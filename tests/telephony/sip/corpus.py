"""Where the RFC 4475 torture messages live: shared/corpora/rfc4475 beside the repository.

The 49 files are test data from an IETF RFC kept in the project's shared folder; a machine
without it skips these tests (and CI, which requires peers, fails instead of skipping).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import need

_DEFAULT = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "rfc4475"
RFC4475_DIR = Path(os.environ.get("CALLGATE_RFC4475_DIR", _DEFAULT))


def rfc4475_names() -> list[str]:
    """The torture message names (file stems), sorted; empty when the corpus is absent."""
    return sorted(p.stem for p in RFC4475_DIR.glob("*.dat"))


def rfc4475(name: str) -> bytes:
    """The bytes of one torture message, exactly as published."""
    path = RFC4475_DIR / f"{name}.dat"
    need(path.is_file(), f"RFC 4475 corpus not found at {RFC4475_DIR}")
    return path.read_bytes()
