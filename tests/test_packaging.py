# Subprocesses here run this interpreter, a venv made by the test, and its scripts.
# ruff: noqa: S603
"""What can be checked of the Dockerfile and the package without a Docker engine.

The image is built by ``pip install .`` from the files the builder stage copies, so
the install test builds from exactly those files, in a fresh venv, and runs the
installed ``sorabot``; the HEALTHCHECK command is run for real against the server.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.web import HttpServer, build_app

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by ``FROM``, with continuations joined and comments gone."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continuation runs off the end of the Dockerfile"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert match, f"unparsable FROM: {args}"
            stages.append(Stage(base=match[1], name=match[2]))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def test_dockerfile_builds_in_one_stage_and_runs_from_a_copied_venv(stages):
    builder, runtime = stages[0], stages[-1]

    assert len(stages) >= 2
    assert any("pip install ." in run for run in builder.all("RUN"))
    assert any(
        copy.startswith(f"--from={builder.name} ") and "/venv" in copy
        for copy in runtime.all("COPY")
    )
    assert not any("pip install" in run for run in runtime.all("RUN"))


def test_runtime_stage_runs_sorabot_run_as_a_non_root_user(stages):
    runtime = stages[-1]
    user = runtime.last("USER").split(":")[0]
    command = _exec_form(runtime.last("ENTRYPOINT")) + _exec_form(runtime.last("CMD"))

    assert user not in ("root", "0")
    assert command == ["sorabot", "run"]


def test_runtime_stage_keeps_the_database_on_the_data_volume_and_serves_http(stages):
    runtime = stages[-1]
    env = dict(
        pair.split("=", 1)
        for args in runtime.all("ENV")
        for pair in shlex.split(args)
        if "=" in pair
    )

    assert "/data" in runtime.last("VOLUME")
    assert env["DATABASE_URL"] == "sqlite:////data/sorabot.db"
    assert env["HTTP_HOST"] == "0.0.0.0"  # noqa: S104 (the container must listen)
    assert runtime.last("EXPOSE") == env.get("HTTP_PORT", "8080") == "8080"


def _healthcheck_command(stages: list[Stage]) -> list[str]:
    args = stages[-1].last("HEALTHCHECK")
    _, _, command = args.partition("CMD ")
    argv = _exec_form(command)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


async def _run(argv: list[str], env: dict[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_healthcheck_command_passes_against_the_running_server(stages):
    argv = _healthcheck_command(stages)
    async with HttpServer(build_app(), "127.0.0.1", 0) as server:
        code = await _run(argv, {"HTTP_PORT": str(server.port)})

    assert "/healthz" in " ".join(argv)
    assert code == 0


async def test_healthcheck_command_fails_when_nothing_answers(stages):
    server = HttpServer(build_app(), "127.0.0.1", 0)
    await server.start()
    port = server.port
    await server.stop()

    assert await _run(_healthcheck_command(stages), {"HTTP_PORT": str(port)}) != 0


def test_dockerignore_keeps_the_simulator_video_in_the_build_context():
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()

    assert "*.mp4" not in lines or "!bot/simulator/assets/*.mp4" in lines
    assert not {"bot", "adapters", "pyproject.toml", "README.md"} & set(lines)


def _build_context(stages: list[Stage], dest: Path) -> None:
    """Copy what the builder stage ``COPY``s, to ``dest``, as Docker would."""
    for args in stages[0].all("COPY"):
        *sources, target = shlex.split(args)
        assert not any(s.startswith("--") for s in sources), args
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                into = dest / target if not target.endswith("/") else dest / source
                shutil.copytree(
                    path, into, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(path, dest / Path(source).name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, stages) -> Path:
    """A fresh venv with sorabot installed from the builder stage's files.

    Dependencies come from this interpreter's site-packages through a ``.pth`` file
    (``--no-deps``), so the test needs no download beyond the build backend.
    """
    base = tmp_path_factory.mktemp("install")
    context = base / "src"
    context.mkdir()
    _build_context(stages, context)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    venv_site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig as s; print(s.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(venv_site, "outer-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "."],
        cwd=context,
        check=True,
        timeout=300,
    )
    return venv


@pytest.mark.e2e
def test_installed_sorabot_help_runs_from_the_installed_package(installed, tmp_path):
    result = subprocess.run(
        [str(installed / "bin" / "sorabot"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert result.returncode == 0, result.stderr
    assert "generate" in result.stdout
    assert "run" in result.stdout
    assert Path(where).resolve().is_relative_to(installed.resolve())


def _installed_python(
    installed: Path, script: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``script`` run by the installed venv's python, away from the source tree
    (whose ``bot/`` and egg-info would otherwise answer instead)."""
    return subprocess.run(
        [str(installed / "bin" / "python"), "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.e2e
def test_installed_package_ships_the_simulator_video_and_type_markers(
    installed, tmp_path
):
    script = (
        "from importlib.resources import files; "
        "assets = files('bot') / 'simulator' / 'assets'; "
        "videos = [p for p in assets.iterdir() if p.name.endswith('.mp4')]; "
        "print(videos[0].read_bytes()[4:8].decode()); "
        "print((files('bot') / 'py.typed').is_file(), "
        "(files('adapters') / 'py.typed').is_file())"
    )
    result = _installed_python(installed, script, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ftyp", "True", "True"]


@pytest.mark.e2e
def test_installed_package_metadata_has_the_license_urls_and_classifiers(
    installed, tmp_path
):
    script = (
        "from importlib.metadata import distribution; d = distribution('sorabot'); "
        "m = d.metadata; print(d.locate_file('')); "
        "print(m['License-Expression']); "
        "print(len(m.get_all('Project-URL') or [])); "
        "print(len(m.get_all('Classifier') or []))"
    )
    result = _installed_python(installed, script, tmp_path)
    where, license_expression, urls, classifiers = result.stdout.split()

    assert result.returncode == 0, result.stderr
    assert Path(where).resolve().is_relative_to(installed.resolve())
    assert license_expression == "MIT"
    assert int(urls) >= 3
    assert int(classifiers) >= 5
