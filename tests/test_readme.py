"""The README stays true: its configuration table and ``.env.example`` to
``Settings``, its capability table to the dialects' profiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.capabilities import CapabilityProfile
from bot.config import Settings
from bot.providers import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def _config_rows() -> dict[str, str]:
    """``{variable: default cell}`` from the README's Configuration table."""
    table = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Configuration")
    return dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]*?) \|", table, re.MULTILINE))


VARIABLES = {
    field.alias: field.default
    for field in Settings.model_fields.values()
    if field.alias is not None
}


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_every_setting_is_in_the_readme_table_with_its_default(variable):
    rows = _config_rows()
    default = VARIABLES[variable]

    assert variable in rows
    cell = rows[variable]
    if cell == "none":
        assert default in (None, ())
    elif cell.startswith("`") and cell.endswith("`"):
        assert cell.strip("`") == str(default)


def test_readme_table_names_no_variable_the_settings_do_not_read():
    assert set(_config_rows()) - set(VARIABLES) == set()


def test_env_example_mentions_every_setting():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^# ([A-Z_]+)=", example, re.MULTILINE))

    assert set(VARIABLES) - named == set()


def _seconds(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values)) + " s"


def capability_row(profile: CapabilityProfile) -> str:
    """The README's capability-table row for one dialect, from its profile."""
    models = "; ".join(f"{m.name}: {_seconds(m.seconds)}" for m in profile.models)
    hd = "; ".join(
        f"{m.name} at {_seconds(m.hd_seconds)}" for m in profile.models if m.hd
    )
    watermark = "no field"
    if profile.watermark:
        watermark = "on" if profile.watermark_default else "off"
    image = "upload" if profile.image_transport == "upload" else "URL"
    callbacks = "no (polling)"
    if profile.callbacks:
        callbacks = "https only" if profile.https_callbacks_only else "yes"
    cells = [
        f"`{profile.dialect}`",
        models,
        hd or "no",
        "yes" if profile.private else "no",
        watermark,
        ", ".join(f"`{s}`" for s in profile.styles) or "none",
        "the provider's own" if profile.remix else "new video, same settings",
        image + (", fitted" if profile.image_must_match_size else ""),
        callbacks,
    ]
    return "| " + " | ".join(cells) + " |"


def test_the_capability_table_is_what_the_profiles_say():
    section = _section(
        (ROOT / "README.md").read_text(encoding="utf-8"), "Provider dialects"
    )
    table = section.split("<!-- capabilities: checked against the profiles -->")[1]
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("| `")]
    expected = [capability_row(cls.profile) for cls in PROVIDERS.values()]

    assert rows == expected, "README capability table should read:\n" + "\n".join(
        expected
    )
