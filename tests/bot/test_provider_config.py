"""SORA_PROVIDERS and SORA_PROVIDERS_FILE: providers in priority order, bad entries
refused with the entry and field named, keys never echoed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import ConfigError

SECRET = "sk-very-secret-0123456789"


def _entry(name: str, **overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": name,
        "dialect": "v2",
        "url": f"https://{name}.example/",
        "key": SECRET,
    }
    entry.update(overrides)
    return entry


def test_providers_come_in_priority_order_and_ties_keep_the_list_order(
    make_settings: Callable[..., Settings],
) -> None:
    entries = [
        _entry("a", priority=2),
        _entry("b"),
        _entry("c"),
        _entry("d", priority=-1),
    ]

    settings = make_settings(SORA_PROVIDERS=json.dumps(entries))

    assert [p.name for p in settings.providers] == ["d", "b", "c", "a"]
    assert settings.providers[1].url == "https://b.example"
    assert settings.providers[1].key is not None
    assert settings.providers[1].key.get_secret_value() == SECRET
    assert not settings.use_simulator


def test_without_a_list_the_three_old_variables_make_one_default_provider(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        SORA_API_URL="https://relay.example/v1/",
        SORA_API_KEY=SECRET,
        SORA_API_DIALECT="sora",
    )

    [default] = settings.providers
    assert (default.name, default.dialect, default.url) == (
        "default",
        "sora",
        "https://relay.example/v1",
    )


def test_with_no_key_at_all_the_simulator_serves_the_default_provider(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()

    [default] = settings.providers
    assert settings.use_simulator
    assert (default.name, default.url, default.key) == ("default", None, None)


def test_a_toml_file_lists_providers_as_tables(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "providers.toml"
    path.write_text(
        "[[providers]]\n"
        'name = "main"\ndialect = "unified"\nurl = "https://a.example"\n'
        f'key = "{SECRET}"\n'
        'models = [{ name = "sora-2", sent_as = "sora_video2", seconds = [10] }]\n'
        "\n[[providers]]\n"
        'name = "spare"\ndialect = "openai"\nurl = "https://b.example/v1"\n'
        'key = "k2"\nwatermark = false\n',
        encoding="utf-8",
    )

    settings = make_settings(SORA_PROVIDERS_FILE=str(path))

    main, spare = settings.providers
    assert main.models is not None
    assert main.models[0].wire_name == "sora_video2"
    assert spare.watermark is False


def test_a_json_file_works_too(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps({"providers": [_entry("only")]}), encoding="utf-8")

    assert [p.name for p in make_settings(SORA_PROVIDERS_FILE=str(path)).providers] == [
        "only"
    ]


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        ([_entry("a", dialect="v9")], "entry 1 ('a'): dialect: Input should be"),
        ([_entry("a"), _entry("b", url="ftp://b")], "entry 2 ('b'): url:"),
        ([{k: v for k, v in _entry("a").items() if k != "key"}], "key missing"),
        ([_entry("a", colour="red")], "entry 1 ('a'): colour: Extra inputs"),
        ([_entry("a"), _entry("a")], "the name 'a' is used twice"),
        ([_entry("a b")], "entry 1 ('a b'): name:"),
        ([], "must be a non-empty list"),
    ],
)
def test_bad_entries_are_refused_naming_the_entry_never_the_key(
    make_settings: Callable[..., Settings], entries: list[object], said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        make_settings(SORA_PROVIDERS=json.dumps(entries))

    assert said in str(refused.value)
    assert SECRET not in str(refused.value)


def test_json_that_does_not_parse_is_refused_without_echoing_it(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError, match="not valid JSON") as refused:
        make_settings(SORA_PROVIDERS=f'[{{"key": "{SECRET}"')

    assert SECRET not in str(refused.value)


def test_both_variables_at_once_are_refused(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="not both"):
        make_settings(
            SORA_PROVIDERS=json.dumps([_entry("a")]),
            SORA_PROVIDERS_FILE=str(tmp_path / "p.toml"),
        )


def test_an_unreadable_file_is_named(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*missing\.toml"):
        make_settings(SORA_PROVIDERS_FILE=str(tmp_path / "missing.toml"))
