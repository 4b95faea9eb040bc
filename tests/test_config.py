"""The config file: defaults, precedence, and errors that name the file, the key, the value and
what is allowed."""

from pathlib import Path

import pytest

from syncd.config import ConfigError, load_config, parse_config, resolve_config_path
from syncd.paths import defaults_dir

P = Path("/home/ada/.config/syncd/config.toml")


def test_the_shipped_example_is_valid_and_documents_every_section() -> None:
    text = (defaults_dir() / "syncd.example.toml").read_text()
    config = parse_config(text, P)
    assert config.me.addresses == ["ada@example.com"]
    assert config.accounts[0].kind == "local"
    for section in ("[warmth]", "[cadence]", "[ignore]", "[followups]", "[sync]", "targets"):
        assert section in text


def test_an_empty_file_gives_working_defaults() -> None:
    config = parse_config("", P)
    assert config.followups.delay_hours == 1 and config.followups.overdue_hours == 24
    assert config.db_url.startswith("sqlite:///") and config.db_url.endswith("syncd/syncd.db")


def test_unknown_keys_are_typos_and_say_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("[followups]\ndialy_cap = 3\n", P)
    text = str(err.value)
    assert str(P) in text and "followups.dialy_cap" in text and "daily_cap" in text


def test_bad_values_name_the_key_the_value_and_the_rule() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[followups]\ndaily_cap = -1\nworking_hours = "9-5"\nworking_days = ["funday"]\n', P)
    text = str(err.value)
    assert "followups.daily_cap = -1" in text and "greater than or equal to 0" in text
    assert "followups.working_hours = '9-5'" in text and "HH:MM-HH:MM" in text
    assert "funday" in text


def test_account_settings_are_checked_by_their_connector() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[[accounts]]\nname = "w"\nkind = "local"\nmaildirr = "/x"\n', P)
    assert "accounts[0] (w).maildirr" in str(err.value) and "maildir" in str(err.value)
    with pytest.raises(ConfigError, match="kind = 'exchange' is not a known kind; allowed: .*local"):
        parse_config('[[accounts]]\nname = "w"\nkind = "exchange"\n', P)


def test_toml_syntax_errors_say_where() -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        parse_config('[me]\naddresses = "a@b.example\n', P)


def test_duplicate_account_names_and_bad_time_zones_are_refused() -> None:
    twice = '[[accounts]]\nname = "w"\nkind = "local"\nmaildir = "/x"\n' * 2
    with pytest.raises(ConfigError, match="two accounts are named 'w'"):
        parse_config(twice, P)
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        parse_config('timezone = "Mars/Olympus"\n', P)


def test_a_missing_file_points_to_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="syncd init"):
        load_config(tmp_path / "nope.toml")


def test_precedence_flag_then_environment_then_xdg(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    assert resolve_config_path(None) == isolated_home / ".config" / "syncd" / "config.toml"
    monkeypatch.setenv("SYNCD_CONFIG", "/etc/syncd.toml")
    assert resolve_config_path(None) == Path("/etc/syncd.toml")
    assert resolve_config_path("/tmp/x.toml") == Path("/tmp/x.toml")


# --- a checked file is remembered -------------------------------------------------------------------

RICH = """
timezone = "Europe/Berlin"
[me]
name = "Ada"
addresses = ["ada@example.com"]
internal_domains = ["@Example.COM"]
[warmth]
half_life_days = 20
[warmth.tiers]
inner = 80
[[accounts]]
name = "work"
kind = "local"
maildir = "/home/ada/Mail"
[[targets]]
name = "Acme"
domains = ["ACME.example"]
[[nonpeople.certain]]
kind = "list"
domains = ["Lists.Example"]
names = ["(?i)digest"]
[followups]
working_days = ["Monday", "tue"]
"""


def test_a_remembered_file_gives_the_same_config_as_checking_it(isolated_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(RICH)
    checked = load_config(path)  # checked by pydantic, and remembered
    entries = list((isolated_home / ".cache" / "syncd" / "config").iterdir())
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    assert entries[0].parent.stat().st_mode & 0o777 == 0o700
    again = load_config(path)  # made from what was remembered
    assert again == checked and again.path == path
    assert again.me.internal_domains == ["example.com"] and again.followups.working_days == ["mon", "tue"]
    assert again.settings_for("work").maildir == "/home/ada/Mail"  # checked by its connector when asked for


def test_an_edited_file_is_checked_again(isolated_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(RICH)
    load_config(path)
    path.write_text(RICH.replace("half_life_days = 20", "half_life_days = -2"))
    with pytest.raises(ConfigError, match=r"warmth.half_life_days = -2.0: should be greater than 0"):
        load_config(path)


def test_a_damaged_or_foreign_cache_entry_is_a_miss_not_an_error(isolated_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(RICH)
    first = load_config(path)
    (entry,) = (isolated_home / ".cache" / "syncd" / "config").iterdir()
    for damage in (b"{not json", b'{"key": "x", "data": {}}', entry.read_bytes().replace(b'"me"', b'"mee"')):
        entry.write_bytes(damage)
        assert load_config(path) == first


def test_the_shipped_non_people_rules_pass_the_full_check() -> None:
    import tomllib

    from syncd.config import NonPeopleRules, make, validate
    from syncd.nonpeople import RULES_FILE

    data = tomllib.loads((defaults_dir() / RULES_FILE).read_text())
    assert validate(NonPeopleRules, data) == make(NonPeopleRules, data)
