"""Blocked words: one normal form for prompts and entries, one regex per list.

Prompts and entries are compared after ``normalise``: NFKC (fullwidth letters and
other compatibility forms become plain ones), invisible characters removed
(zero-width space/joiners, word joiner, BOM, soft hyphen), NFKD with combining
marks stripped (``é`` -> ``e``), casefolded, and every run of Unicode whitespace
(NBSP, thin and ideographic spaces, repeats) made one space. So ``B\u200bad``,
``bád`` and fullwidth ``BAD`` all read ``bad``.

A plain entry matches whole words (``ass`` does not match ``class``); an entry
starting ``re:`` is a regular expression searched in the normalised prompt,
case-insensitively. All plain entries of a list are compiled into ONE regex shaped
like a trie, so 1,000 entries cost about as much as a handful; each ``re:`` entry is
compiled on its own (its groups and backreferences stay its own). Compiled lists
are cached by their stored text, so a list is compiled once per change.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.errors import UserInputError

REGEX_PREFIX = "re:"
MAX_ENTRY_CHARS = 200
MAX_ENTRIES = 5000

_INVISIBLE = dict.fromkeys(
    # soft hyphen, Mongolian vowel separator, zero-width space/non-joiner/joiner,
    # word joiner, invisible operators, BOM (zero-width no-break space)
    [
        0x00AD,
        0x180E,
        0x200B,
        0x200C,
        0x200D,
        0x2060,
        0x2061,
        0x2062,
        0x2063,
        0x2064,
        0xFEFF,
    ],
)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(text: str) -> str:
    """The form prompts and plain entries are compared in (see the module doc)."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return " ".join(_strip_marks(text).casefold().split())


_Node = dict[str, "_Node"]


def _trie(words: Iterable[str]) -> str:
    """One alternation of ``words`` with shared prefixes factored out."""
    root: _Node = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: _Node) -> str:
        branches = [
            re.escape(c) + build(child) for c, child in sorted(node.items()) if c
        ]
        if not branches:
            return ""
        ends = "" in node
        if len(branches) == 1 and not ends:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if ends else group

    return build(root)


def _compile_regex(pattern: str) -> re.Pattern[str]:
    # The prompt is casefolded, the pattern only loses its accents: casefolding a
    # pattern would change its meaning (``\S`` -> ``\s``).
    return re.compile(_strip_marks(pattern), re.IGNORECASE)


@dataclass(frozen=True)
class WordMatcher:
    """A compiled list; ``find`` returns the first blocked text in a prompt."""

    words: re.Pattern[str] | None
    patterns: tuple[re.Pattern[str], ...]

    def find(self, prompt: str) -> str | None:
        text = normalise(prompt)
        if self.words is not None and (hit := self.words.search(text)):
            return hit.group(0)
        for pattern in self.patterns:
            if hit := pattern.search(text):
                return hit.group(0) or pattern.pattern
        return None


def compile_entries(entries: Sequence[str]) -> WordMatcher:
    words = {normalise(e) for e in entries if not e.startswith(REGEX_PREFIX)}
    words.discard("")
    patterns = tuple(
        _compile_regex(e[len(REGEX_PREFIX) :])
        for e in entries
        if e.startswith(REGEX_PREFIX)
    )
    regex = re.compile(rf"(?<!\w)(?:{_trie(words)})(?!\w)") if words else None
    return WordMatcher(regex, patterns)


EMPTY = compile_entries(())


@functools.lru_cache(maxsize=1024)
def matcher_for(stored: str | None) -> WordMatcher:
    """The compiled list for a stored setting value (a JSON list), cached."""
    return EMPTY if stored is None else compile_entries(load_entries(stored))


def load_entries(stored: str | None) -> list[str]:
    if stored is None:
        return []
    value = json.loads(stored)
    return [str(e) for e in value] if isinstance(value, list) else []


def dump_entries(entries: Sequence[str]) -> str | None:
    return json.dumps(list(entries), ensure_ascii=False) if entries else None


def check_entry(entry: str) -> str:
    """The entry as it will be stored; ``UserInputError`` says what is wrong."""
    entry = entry.strip()
    if entry.startswith(REGEX_PREFIX):
        pattern = entry[len(REGEX_PREFIX) :]
        if not pattern:
            raise UserInputError("Write a regular expression after `re:`.")
        try:
            _compile_regex(pattern)
        except re.error as error:
            raise UserInputError(
                f"That is not a valid regular expression: {error}."
            ) from error
    elif not normalise(entry):
        raise UserInputError("Give a word or phrase to block.")
    if len(entry) > MAX_ENTRY_CHARS:
        raise UserInputError(
            f"An entry can be at most {MAX_ENTRY_CHARS} characters long."
        )
    return entry
