"""The listen options object: defaults, validation that names the field, and a route's TOML table."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.config import ConfigError, load_config
from callgate.listen.options import ListenOptions, OptionsError, parse_listen


def test_defaults_and_fields() -> None:
    assert parse_listen(True) == parse_listen({}) == ListenOptions()
    options = parse_listen(
        {
            "bargeIn": "pause",
            "minSpeechMs": 100,
            "hangoverMs": 600,
            "protectMs": 500,
            "echoMarginDb": 18,
            "silenceMs": 4000,
            "deadAir": True,
            "callQuality": True,
            "qualityEveryMs": 2000,
        }
    )
    assert options.to_json() == {
        "minSpeechMs": 100,
        "hangoverMs": 600,
        "bargeIn": "pause",
        "protectMs": 500,
        "echoMarginDb": 18.0,
        "silenceMs": 4000,
        "deadAir": True,
        "callQuality": True,
        "qualityEveryMs": 2000,
    }
    assert ListenOptions().to_json()["qualityEveryMs"] == 5000
    assert not ListenOptions().dead_air
    assert not ListenOptions().call_quality


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("yes", r"listen must be an object"),
        ({"bargein": "auto"}, r"listen\.bargein: unknown option"),
        ({"bargeIn": "always"}, r"listen\.bargeIn: one of off, notify, auto, pause"),
        ({"minSpeechMs": 0}, r"listen\.minSpeechMs"),
        ({"hangoverMs": 1.5}, r"listen\.hangoverMs"),
        ({"silenceMs": True}, r"listen\.silenceMs"),
        ({"echoMarginDb": "12"}, r"listen\.echoMarginDb"),
        ({"deadAir": 1}, r"listen\.deadAir: true or false"),
        ({"callQuality": "yes"}, r"listen\.callQuality: true or false"),
        (
            {"qualityEveryMs": 999},
            r"listen\.qualityEveryMs: a whole number of milliseconds, 1000-60000",
        ),
        ({"qualityEveryMs": 60001}, r"listen\.qualityEveryMs"),
    ],
)
def test_bad_options_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(OptionsError, match=f"^{field}"):
        parse_listen(raw)


def test_a_route_listens_when_its_table_says(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[inbound.route]]\nurl = "ws://a"\nlisten = { bargeIn = "auto", silenceMs = 3000 }\n'
        '[[inbound.route]]\nurl = "ws://b"\n'
    )
    routes = load_config(path, environ={}).all_inbound_routes
    assert routes[0].listen == ListenOptions(barge_in="auto", silence_ms=3000)
    assert [route.listen for route in routes[1:]] == [None, None]
    path.write_text('[[inbound.route]]\nurl = "ws://a"\nlisten = { bargeIn = "loud" }\n')
    with pytest.raises(ConfigError, match=r"^inbound\.route\[0\]\.listen\.bargeIn"):
        load_config(path, environ={})
