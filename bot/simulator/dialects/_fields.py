"""Strict checks of create-request fields, shared by every dialect.

Checks are exact about JSON types, as the Go and Python relays are: ``"10"`` is not
``10``, ``"true"`` is not ``true``, ``1`` is not ``true``. An unknown parameter is
refused (OpenAI does so), which is also what catches a misspelt field in the bot.
``null`` counts as absent for optional fields. Every refusal names its field.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

import yarl

T = TypeVar("T", str, int)

# The fake relay's own capability rules. Deliberately not read from the bot's
# ModelSpec table: a fake that copied the bot's rules could never catch them wrong.
PRO_MODEL = "sora-2-pro"
PRO_ONLY_SECONDS = frozenset({25})


class Invalid(Exception):
    """A refused request: ``field`` names the offending parameter when there is one."""

    def __init__(
        self,
        field: str | None,
        message: str,
        *,
        status: int = 400,
        code: str = "invalid_request",
    ) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
        self.code = code


def check_model_rules(
    model: str, seconds: int, *, seconds_field: str, hd: bool = False
) -> None:
    """Only sora-2-pro makes 25 s and HD videos (at 25 s HD has no effect).

    ``seconds_field`` is the dialect's own name for the length (``duration``,
    ``seconds``), so the refusal names the parameter the client actually sent.
    """
    if seconds in PRO_ONLY_SECONDS and model != PRO_MODEL:
        message = f"{seconds}-second videos need {PRO_MODEL}"
        raise Invalid(seconds_field, f"{seconds_field}: {message}")
    if hd and model != PRO_MODEL:
        raise Invalid("hd", f"hd: HD is only supported by {PRO_MODEL}")


def _absolute_url(field: str, value: str) -> yarl.URL:
    try:
        url = yarl.URL(value)
    except (ValueError, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise Invalid(field, f"{field}: must be an absolute http(s) URL")
    return url


def _show(value: object) -> str:
    return json.dumps(value) if not isinstance(value, bytes) else "<file>"


class Fields:
    """Typed, strict access to one JSON object's parameters."""

    def __init__(
        self, body: Mapping[str, Any], allowed: Collection[str], prefix: str = ""
    ) -> None:
        self._body = body
        self._prefix = prefix
        for key in body:
            if key not in allowed:
                name = prefix + key
                raise Invalid(name, f"Unknown parameter: '{name}'.")

    def _get(self, name: str, required: bool) -> Any:
        value = self._body.get(name)
        if value is None and required:
            full = self._prefix + name
            raise Invalid(full, f"Missing required parameter: '{full}'.")
        return value

    def _wrong(self, name: str, expected: str, value: object) -> Invalid:
        full = self._prefix + name
        return Invalid(full, f"{full}: expected {expected}, got {_show(value)}")

    def string(self, name: str, *, required: bool = False, max_len: int = 0) -> str:
        value = self._get(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._wrong(name, "a string", value)
        if required and not value.strip():
            raise Invalid(
                self._prefix + name, f"{self._prefix}{name}: must not be empty"
            )
        if max_len and len(value) > max_len:
            full = self._prefix + name
            raise Invalid(full, f"{full}: must be at most {max_len} characters")
        return value

    def choice(self, name: str, choices: Sequence[T]) -> T | None:
        value = self._get(name, False)
        return None if value is None else self._pick(name, choices, value)

    def required_choice(self, name: str, choices: Sequence[T]) -> T:
        return self._pick(name, choices, self._get(name, True))

    def _pick(self, name: str, choices: Sequence[T], value: object) -> T:
        for choice in choices:
            if type(value) is type(choice) and value == choice:
                return choice
        listed = ", ".join(_show(c) for c in choices)
        raise self._wrong(name, f"one of {listed}", value)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false", value)
        return value

    def integer(
        self, name: str, *, required: bool = False, minimum: int = 1
    ) -> int | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self._wrong(name, f"an integer >= {minimum}", value)
        return value

    def number(self, name: str, *, required: bool = False) -> float | None:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(name, "a number", value)
        return float(value)

    def url(self, name: str) -> str | None:
        value = self.string(name)
        if not value:
            return None
        _absolute_url(self._prefix + name, value)
        return value

    def callback(self, name: str) -> tuple[str, str] | None:
        """A callback URL with the field it came in, as ``Draft.callback`` wants."""
        url = self.url(name)
        return (name, url) if url else None

    def url_list(
        self, name: str, *, max_items: int = 0, required: bool = False
    ) -> list[str]:
        value = self._get(name, required)
        if value is None:
            return []
        full = self._prefix + name
        if not isinstance(value, list):
            raise self._wrong(name, "an array of URLs", value)
        if max_items and len(value) > max_items:
            raise Invalid(full, f"{full}: at most {max_items} item(s) allowed")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise Invalid(full, f"{full}[{index}]: expected a URL string")
            _absolute_url(f"{full}[{index}]", item)
        return value

    def objects(self, name: str) -> list[Mapping[str, Any]]:
        value = self._get(name, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._wrong(name, "an array of objects", value)
        return value
