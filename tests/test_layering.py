"""One-way imports: the core never reaches into a chat SDK or an adapter.

``bot/`` must run (and be tested) with no chat platform at all, and each adapter
must be removable without touching the others. The only door from the core to the
adapters is the composition root, ``bot/__main__.py``, which imports an adapter lazily,
inside the function that starts it, and only when that platform is configured.

The simulator (``bot/simulator/``) is the independent fake of the relays' documents:
it never reads the bot's own rules (validation, configuration, provider clients), so
a contract test against it catches the bot sending what a relay refuses.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAT_SDKS = ("discord", "slack_bolt", "slack_sdk")
COMPOSITION_ROOT = ROOT / "bot" / "__main__.py"
BOT_RULES = ("bot.validation", "bot.config", "bot.providers")


def _package_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1]


def _imports(path: Path, tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every imported module as an absolute dotted name (relative ones resolved)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path)
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # ``from adapters import slack`` imports the submodule ``adapters.slack``.
            for alias in node.names:
                yield node, f"{module}.{alias.name}"


def _lazy_nodes(tree: ast.AST) -> set[int]:
    """Nodes inside a function body: they run only when the function is called."""
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lazy.update(id(inner) for inner in ast.walk(node) if inner is not node)
    return lazy


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _core_violations(path: Path, source: str) -> list[str]:
    tree = ast.parse(source)
    lazy = _lazy_nodes(tree)
    offending = []
    for node, module in _imports(path, tree):
        if any(_within(module, sdk) for sdk in CHAT_SDKS):
            offending.append(module)
        elif _within(module, "adapters"):
            lazily_from_root = path == COMPOSITION_ROOT and id(node) in lazy
            if not lazily_from_root:
                offending.append(module)
    return offending


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    "path", _python_files("bot"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_core_module_imports_no_chat_sdk_and_no_adapter(path: Path):
    assert _core_violations(path, path.read_text(encoding="utf-8")) == []


def _adapter_packages() -> list[str]:
    return sorted(
        p.name
        for p in (ROOT / "adapters").iterdir()
        if p.is_dir() and not p.name.startswith(("_", "."))
    )


@pytest.mark.parametrize("platform", _adapter_packages())
def test_adapter_imports_no_other_adapter(platform: str):
    others = [f"adapters.{name}" for name in _adapter_packages() if name != platform]
    offending = []
    for path in _python_files(f"adapters/{platform}"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offending.extend(
            f"{path.relative_to(ROOT)}: {module}"
            for _, module in _imports(path, tree)
            if any(_within(module, other) for other in others)
        )

    assert offending == []


def test_eager_adapter_import_in_the_composition_root_is_caught():
    source = "import adapters.discord\n\ndef run():\n    import adapters.slack\n"

    assert _core_violations(COMPOSITION_ROOT, source) == ["adapters.discord"]


def test_lazy_adapter_import_elsewhere_in_the_core_is_caught():
    source = "def run():\n    from adapters import slack\n"
    path = ROOT / "bot" / "service.py"

    assert _core_violations(path, source) == ["adapters.slack"]


def test_chat_sdk_import_in_the_core_is_caught_even_when_lazy():
    source = "def run():\n    from slack_sdk.web.async_client import AsyncWebClient\n"

    assert _core_violations(COMPOSITION_ROOT, source) == [
        "slack_sdk.web.async_client.AsyncWebClient"
    ]


def _simulator_violations(path: Path, source: str) -> list[str]:
    """Imports of the bot's rules, lazy ones included: they would run all the same."""
    return [
        module
        for _, module in _imports(path, ast.parse(source))
        if any(_within(module, rules) for rules in BOT_RULES)
    ]


@pytest.mark.parametrize(
    "path", _python_files("bot/simulator"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_simulator_module_imports_none_of_the_bots_rules(path: Path):
    assert _simulator_violations(path, path.read_text(encoding="utf-8")) == []


def test_simulator_loads_none_of_the_bots_rules_even_indirectly():
    probe = (
        "import sys, bot.simulator, bot.simulator.__main__\n"
        f"print(sorted(m for m in sys.modules if m.startswith({BOT_RULES!r})))"
    )
    loaded = subprocess.run(  # noqa: S603 - our own interpreter, our own probe
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert loaded == "[]"


def test_lazy_import_of_the_bots_validation_in_the_simulator_is_caught():
    source = "def check():\n    from bot.validation import MAX_IMAGE_BYTES\n"
    path = ROOT / "bot" / "simulator" / "_media.py"

    assert _simulator_violations(path, source) == ["bot.validation.MAX_IMAGE_BYTES"]


def test_relative_import_of_a_provider_client_in_the_simulator_is_caught():
    source = "from ...providers import sora\n"
    path = ROOT / "bot" / "simulator" / "dialects" / "_sora.py"

    assert _simulator_violations(path, source) == ["bot.providers.sora"]
