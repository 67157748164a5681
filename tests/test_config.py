"""Configuration: defaults, TOML, environment, and errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.config import ConfigError, load_config


def test_defaults() -> None:
    config = load_config(environ={})
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.data_dir == Path("data")
    assert config.effective_database_url == "sqlite+aiosqlite:///data/callgate.db"
    assert config.ring_timeout_s == 60.0
    assert config.max_call_duration_s == 4 * 3600.0


def test_environment_overrides_toml(tmp_path: Path) -> None:
    path = tmp_path / "callgate.toml"
    path.write_text('port = 9000\nring_timeout_s = 30\ndata_dir = "/srv/cg"\n')
    config = load_config(path, environ={"CALLGATE_PORT": "9001"})
    assert config.port == 9001
    assert config.ring_timeout_s == 30.0
    assert config.data_dir == Path("/srv/cg")


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("max_concurrent_calls = 7\n")
    assert load_config(environ={"CALLGATE_CONFIG": str(path)}).max_concurrent_calls == 7


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"CALLGATE_PORT": "eighty"}, "CALLGATE_PORT"),
        ({"CALLGATE_PORT": "70000"}, "CALLGATE_PORT"),
        ({"CALLGATE_RING_TIMEOUT_S": "-1"}, "CALLGATE_RING_TIMEOUT_S"),
        ({"CALLGATE_RING_TIMOUT_S": "5"}, "CALLGATE_RING_TIMOUT_S"),
        ({"CALLGATE_DATABASE_URL": "mysql://x"}, "CALLGATE_DATABASE_URL"),
        ({"CALLGATE_TRUNK": "carrier.example"}, "CALLGATE_TRUNK"),
        ({"CALLGATE_TRUNK": "sip:u:p@carrier.example;transport=sctp"}, "CALLGATE_TRUNK"),
        ({"CALLGATE_LOG_LEVEL": "loud"}, "CALLGATE_LOG_LEVEL"),
        ({"CALLGATE_JWT_SECRET": "short"}, "CALLGATE_JWT_SECRET"),
        ({"CALLGATE_RECORD_CALLS": "maybe"}, "CALLGATE_RECORD_CALLS"),
        ({"CALLGATE_RECORDING_RETENTION_DAYS": "-1"}, "CALLGATE_RECORDING_RETENTION_DAYS"),
    ],
)
def test_bad_environment_names_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}:"):
        load_config(environ=environ)


def test_test_suite_variables_are_not_settings() -> None:
    load_config(environ={"CALLGATE_REQUIRE_PEERS": "1"})


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("prot = 1\n", "prot"),
        ('port = "x"\n', "port"),
        ("port = true\n", "port"),
        ("[simulator]\ncalee = []\n", "simulator.calee"),
        ("[[simulator.callee]]\nring_s = 1\n", r"simulator.callee\[0\].pattern"),
        ('[[simulator.callee]]\npattern = "("\n', r"simulator.callee\[0\].pattern"),
        ('[[simulator.callee]]\npattern = "1"\nring_s = -2\n', r"simulator.callee\[0\].ring_s"),
        (
            '[[simulator.callee]]\npattern = "1"\nreject_cause = 999\n',
            r"simulator.callee\[0\].reject_cause",
        ),
        (
            '[[simulator.callee]]\npattern = "1"\ndtmf = [[1, "X"]]\n',
            r"simulator.callee\[0\].dtmf\[0\]",
        ),
        ('[[simulator.callee]]\npattern = "1"\nvolume = 3\n', r"simulator.callee\[0\].volume"),
        ('[[inbound.route]]\nurl = "ws://a"\nrecord = "yes"\n', r"inbound.route\[0\].record"),
        ('[[inbound.route]]\nurl = "ws://a"\nmetadata = 3\n', r"inbound.route\[0\].metadata"),
        (
            '[[inbound.route]]\nurl = "ws://a"\nmetadata = {"a.b" = 1}\n',
            r"inbound.route\[0\].metadata key 'a.b'",
        ),
        ("accounts = 3\n", "accounts"),
        ('[accounts."bad name"]\n', "accounts.bad name"),
        ("[accounts.acme]\ncaller_id = []\n", "accounts.acme.caller_id: unknown key"),
        ("[accounts.acme]\ncaller_ids = [1]\n", "accounts.acme.caller_ids"),
        ('[accounts.acme]\ncaller_ids = ["a b"]\n', "accounts.acme.caller_ids"),
    ],
)
def test_bad_toml_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=f"^{key}"):
        load_config(path, environ={})


def test_recording_settings(tmp_path: Path) -> None:
    defaults = load_config(environ={})
    assert (defaults.record_calls, defaults.recording_retention_days) == (False, 0)
    assert defaults.effective_recordings_dir == Path("data/recordings")
    path = tmp_path / "c.toml"
    path.write_text(
        'recordings_dir = "/srv/rec"\nrecording_retention_days = 30\n'
        '[[inbound.route]]\nurl = "ws://a"\nrecord = true\n'
        '[[inbound.route]]\nurl = "ws://b"\n'
    )
    config = load_config(path, environ={"CALLGATE_RECORD_CALLS": "true"})
    assert config.record_calls is True
    assert config.effective_recordings_dir == Path("/srv/rec")
    assert config.recording_retention_days == 30
    assert [route.record for route in config.all_inbound_routes] == [True, None, None]


def test_unparseable_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


def test_simulator_scripts_come_before_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[[simulator.callee]]\npattern = "0811999.*"\nring_s = 0.5\nhangup_after_s = 8\n'
        'dtmf = [[1.0, "5"], [2.5, "#"]]\naudio = "tone"\ntone_hz = 1000\n'
    )
    scripts = load_config(path, environ={}).simulator_scripts
    assert scripts[0].pattern == "0811999.*"
    assert scripts[0].dtmf == ((1.0, "5"), (2.5, "#"))
    assert scripts[0].audio == "tone"
    assert scripts[-1].pattern == ".*"


def test_sip_trunk_from_one_variable_and_the_sip_table(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[sip]\nbind_port = 5080\ntrusted_sources = ["10.0.0.0/8"]\n')
    config = load_config(
        path, environ={"CALLGATE_TRUNK": "sip:alice:s3cret@carrier.example:5070;transport=tcp"}
    )
    sip = config.sip
    assert sip is not None
    assert (sip.host, sip.port, sip.transport) == ("carrier.example", 5070, "tcp")
    assert (sip.username, sip.password) == ("alice", "s3cret")
    assert (sip.bind_port, sip.trusted_sources) == (5080, ("10.0.0.0/8",))
    assert load_config(environ={}).sip is None


def test_a_bad_sip_table_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('trunk = "sip:pbx.example"\n[sip]\nrtp_port_min = 10\n')
    with pytest.raises(ConfigError, match=r"^sip\.rtp_port_min"):
        load_config(path, environ={})


def test_webhooks_from_the_webhook_tables(tmp_path: Path) -> None:
    path = tmp_path / "callgate.toml"
    path.write_text(
        '[[webhook]]\naccount = "acme"\nurl = "https://crm.example/hook"\n'
        'secret = "0123456789abcdef"\nevents = ["call.ended"]\n'
        '[[webhook]]\nurl = "http://127.0.0.1:9000/h"\nsecret = "fedcba9876543210"\n'
    )
    first, second = load_config(path, environ={}).webhooks
    assert (first.account, first.url, first.events) == (
        "acme",
        "https://crm.example/hook",
        ("call.ended",),
    )
    assert (second.account, second.events) == (
        "default",
        ("call.started", "call.answered", "call.ended"),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('url = "ftp://x/h"\nsecret = "0123456789abcdef"', "webhook[0].url: expected an http"),
        ('url = "http://x/h"\nsecret = "short"', "webhook[0].secret: at least 16"),
        ('url = "http://x/h"\nsecret = "0123456789abcdef"\nevents = ["call.moved"]', "events"),
        ('url = "http://x/h"\nsecret = "0123456789abcdef"\ncolour = 1', "webhook[0].colour"),
        ('secret = "0123456789abcdef"', "webhook[0].url: expected a string"),
    ],
)
def test_a_bad_webhook_table_names_the_key(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "callgate.toml"
    path.write_text(f"[[webhook]]\n{table}\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path, environ={})


def test_account_caller_ids_and_route_metadata(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[accounts.acme]\ncaller_ids = ["+622150001111", "0215550101"]\n'
        "[accounts.empty]\n"
        '[[inbound.route]]\nurl = "ws://a"\nmetadata = {queue = "support", level = 2}\n'
    )
    config = load_config(path, environ={})
    assert config.caller_ids() == {
        "acme": frozenset({"+622150001111", "0215550101"}),
        "empty": frozenset(),
    }
    assert config.inbound_routes[0].metadata == (("queue", "support"), ("level", 2))
    assert load_config(environ={}).caller_ids() == {}


def test_hold_music_must_be_an_audio_file_we_read(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    music = tmp_path / "moh.ulaw"
    music.write_bytes(b"\xff" * 800)
    path.write_text(f'trunk = "sip:pbx.example"\n[sip]\nhold_music = "{music}"\n')
    sip = load_config(path, environ={}).sip
    assert sip is not None
    assert sip.hold_music == str(music)
    path.write_text(f'trunk = "sip:pbx.example"\n[sip]\nhold_music = "{tmp_path / "no.wav"}"\n')
    with pytest.raises(ConfigError, match=r"^sip\.hold_music: no such file"):
        load_config(path, environ={})
    (tmp_path / "moh.ogg").write_bytes(b"OggS")
    path.write_text(f'trunk = "sip:pbx.example"\n[sip]\nhold_music = "{tmp_path / "moh.ogg"}"\n')
    with pytest.raises(ConfigError, match=r"^sip\.hold_music: .*unknown audio file type"):
        load_config(path, environ={})
