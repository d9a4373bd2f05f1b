"""The README's configuration table and ``.env.example`` stay true to ``Settings``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings

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
