"""What the README promises about limits is what the code enforces."""

from __future__ import annotations

import re
from pathlib import Path

from callgate.api.http_server import MAX_URL_BYTES
from callgate.inbound.protocol import MAX_AUDIO_CHUNK_BYTES, MAX_TEXT_BYTES

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_readme_states_the_inbound_message_limits() -> None:
    text_kib, audio_kib = MAX_TEXT_BYTES // 1024, MAX_AUDIO_CHUNK_BYTES // 1024
    stated = f"A text message over {text_kib} KiB or an audio message over {audio_kib} KiB"
    assert stated in flat(README)
    assert f"chunks of any size (up to {audio_kib} KiB)" in README


def test_readme_states_the_url_limit() -> None:
    assert f"URL is longer than {MAX_URL_BYTES} bytes" in README
