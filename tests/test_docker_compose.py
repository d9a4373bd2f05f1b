"""The Compose files, checked without a Docker engine.

docker-compose.yml is the single-process setup: parsed as Compose reads it and
held against the Dockerfile it builds: one service, the database on a named
volume at /data, settings from .env, the HTTP port published, and the image's own
health check on /healthz, run for real.

docker-compose.replicas.yml is two replicas on PostgreSQL behind nginx: held
against the PostgreSQL service it names, the settings the bot reads, the routes
the bot serves, and the nginx configuration it mounts (parsed here, and matched
the way nginx picks a location).
"""

from __future__ import annotations

import re
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from adapters.slack import EVENTS_PATH
from bot.callbacks import CALLBACK_PATH, OPENAI_WEBHOOK_PATH
from bot.config import Settings, parse_shard_ids
from bot.media import MEDIA_PATH
from bot.video_links import VIDEO_LINK_PATH
from bot.web import HEALTH_PATH, METRICS_PATH, READY_PATH, HttpServer, build_app
from tests.test_packaging import Stage, _healthcheck_command, _run, parse_dockerfile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def service(compose: dict[str, Any]) -> dict[str, Any]:
    [name] = compose["services"]
    assert name == "sorabot"
    return compose["services"][name]


def _image_env(stages: list[Stage]) -> dict[str, str]:
    return dict(
        pair.split("=", 1)
        for args in stages[-1].all("ENV")
        for pair in shlex.split(args)
        if "=" in pair
    )


def test_one_service_built_from_this_directory_running_sorabot_run(service):
    assert service["build"] == "."
    # No command: the image's ENTRYPOINT and CMD (sorabot run) apply.
    assert "command" not in service
    assert "entrypoint" not in service


def test_settings_come_from_the_env_file(service):
    assert service["env_file"] == ".env"
    assert (ROOT / ".env.example").is_file()  # what the quick start copies


def test_database_is_on_a_named_volume_mounted_at_data(compose, service, stages):
    volume, _, target = service["volumes"][0].partition(":")

    assert target == "/data"
    assert volume in compose["volumes"]
    assert service["environment"]["DATABASE_URL"] == "sqlite:////data/sorabot.db"
    assert service["environment"]["MEDIA_DIR"].startswith("/data/")
    assert "/data" in stages[-1].last("VOLUME")


def test_pinned_environment_is_the_images_own(service, stages):
    image = _image_env(stages)

    assert {k: str(v) for k, v in service["environment"].items()} == {
        name: image[name] for name in service["environment"]
    }


def test_published_port_is_the_one_the_bot_listens_on(service, stages):
    [published] = service["ports"]
    host, _, container = str(published).partition(":")

    assert container == str(service["environment"]["HTTP_PORT"]) == "8080"
    assert container == stages[-1].last("EXPOSE")
    assert service["environment"]["HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    assert host == "8080"


def test_healthcheck_is_the_images_own_on_healthz(service, stages):
    test = service["healthcheck"]["test"]

    assert test[0] == "CMD"
    assert test[1:] == ["python", *_healthcheck_command(stages)[1:]]
    assert "/healthz" in " ".join(test)
    assert service["healthcheck"]["retries"] >= 1


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_healthcheck_passes_with_a_proxy_set_for_the_bots_own_calls(stages):
    argv = _healthcheck_command(stages)
    dead = f"http://127.0.0.1:{_dead_port()}"
    async with HttpServer(build_app(), "127.0.0.1", 0) as server:
        code = await _run(
            argv,
            {"HTTP_PORT": str(server.port), "HTTP_PROXY": dead, "http_proxy": dead},
        )

    assert argv[0] == sys.executable
    assert code == 0


# --- docker-compose.replicas.yml: two replicas on PostgreSQL behind nginx

VARIABLES = {f.alias for f in Settings.model_fields.values() if f.alias}
SECRETS = {
    f.alias
    for f in Settings.model_fields.values()
    if f.alias and SecretStr in (f.annotation, *get_args(f.annotation))
}
# Compose's "required" interpolation: no default, a message when unset.
REQUIRED = re.compile(r"\$\{(?P<name>[A-Z_]+):\?[^}]+\}")


@pytest.fixture(scope="module")
def replicas() -> dict[str, Any]:
    text = (ROOT / "docker-compose.replicas.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _bots(replicas: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in replicas["services"].items() if s.get("build") == "."}


def _service(replicas: dict[str, Any], image: str) -> tuple[str, dict[str, Any]]:
    [found] = [
        (name, s)
        for name, s in replicas["services"].items()
        if s.get("image", "").startswith(f"{image}:")
    ]
    return found


def _required(value: str) -> str:
    match = REQUIRED.fullmatch(value)
    assert match, f"{value!r} is not a required ${{VARIABLE:?message}}"
    return match["name"]


@dataclass
class Directive:
    """One nginx directive: ``name args;`` or ``name args { block }``."""

    name: str
    args: list[str]
    block: list[Directive] | None = None

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]


def parse_nginx(text: str) -> Directive:
    """The configuration as a tree under a root directive (no quotes or
    includes are needed by the file this reads)."""
    tokens = iter(re.findall(r"[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", text)))

    def block() -> list[Directive]:
        found: list[Directive] = []
        words: list[str] = []
        for token in tokens:
            if token == ";":
                found.append(Directive(words[0], words[1:]))
                words = []
            elif token == "{":
                found.append(Directive(words[0], words[1:], block()))
                words = []
            elif token == "}":
                assert not words, f"unterminated directive {words}"
                return found
            else:
                words.append(token)
        assert not words, f"unterminated directive {words}"
        return found

    root = Directive("", [], block())
    assert next(tokens, None) is None, "a '}' closes nothing"
    return root


@pytest.fixture(scope="module")
def nginx(replicas: dict[str, Any]) -> Directive:
    _, proxy = _service(replicas, "nginx")
    [mount] = proxy["volumes"]
    source, target, mode = mount.split(":")
    assert target == "/etc/nginx/conf.d/default.conf"  # replaces the image's site
    assert mode == "ro"
    return parse_nginx((ROOT / source).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def server(nginx: Directive) -> Directive:
    [server] = nginx.all("server")
    return server


def _location(server: Directive, path: str) -> Directive:
    """The location nginx serves ``path`` from: an exact match, else the longest
    prefix (the file uses no regular expressions, which would come in between)."""
    locations = server.all("location")
    assert all(len(loc.args) == 1 or loc.args[0] == "=" for loc in locations)
    exact = [loc for loc in locations if loc.args == ["=", path]]
    if exact:
        return exact[0]
    prefixes = [loc for loc in locations if len(loc.args) == 1]
    return max(
        (loc for loc in prefixes if path.startswith(loc.args[0])),
        key=lambda loc: len(loc.args[0]),
    )


def _next_upstream(server: Directive, location: Directive) -> list[str]:
    """``proxy_next_upstream`` in force: a location's own replaces the server's."""
    [directive] = location.all("proxy_next_upstream") or server.all(
        "proxy_next_upstream"
    )
    return directive.args


def _upstream_of(nginx: Directive, location: Directive) -> Directive | None:
    passes = location.all("proxy_pass")
    if not passes:
        return None
    [target] = passes[0].args
    [upstream] = [u for u in nginx.all("upstream") if f"http://{u.args[0]}" == target]
    return upstream


def test_the_replicas_are_a_compose_project_of_their_own(compose, replicas):
    # Its own project name: `up` on one file never recreates or orphans the
    # other's containers, and the volumes are the project's own. The single
    # file keeps the default name, so existing installs keep their volume.
    assert replicas["name"]
    assert "name" not in compose


def test_postgres_keeps_its_data_on_a_named_volume(replicas):
    _, postgres = _service(replicas, "postgres")
    volume, _, target = postgres["volumes"][0].partition(":")

    assert postgres["image"] == "postgres:15-alpine"
    assert target == "/var/lib/postgresql/data"
    assert volume in replicas["volumes"]
    assert postgres["restart"] == "unless-stopped"


def test_postgres_is_healthy_once_pg_isready_reaches_its_database(replicas):
    _, postgres = _service(replicas, "postgres")
    env = postgres["environment"]
    test = postgres["healthcheck"]["test"]

    assert test[:2] == ["CMD", "pg_isready"]
    assert test[test.index("-U") + 1] == env["POSTGRES_USER"]
    assert test[test.index("-d") + 1] == env["POSTGRES_DB"]
    assert test[test.index("-h") + 1] == "127.0.0.1"  # not the init-time socket
    assert postgres["healthcheck"]["retries"] >= 1


def test_two_replicas_run_the_image_built_here(replicas):
    bots = _bots(replicas)

    assert len(bots) == 2
    for bot in bots.values():
        assert bot["env_file"] == ".env"
        assert "command" not in bot  # the image's sorabot run
        assert "entrypoint" not in bot
        assert bot["restart"] == "unless-stopped"
        assert bot["stop_grace_period"] == "10s"  # the bot stops within 5 s


def test_every_replica_opens_the_postgres_services_database(replicas):
    name, postgres = _service(replicas, "postgres")
    db = postgres["environment"]

    for bot in _bots(replicas).values():
        env = bot["environment"]
        url = urlsplit(env["DATABASE_URL"])
        assert url.scheme == "postgresql"
        assert (url.hostname, url.port) == (name, 5432)
        assert url.username == db["POSTGRES_USER"]
        assert url.path == f"/{db['POSTGRES_DB']}"
        # The password is not in the URL: asyncpg reads PGPASSWORD, the same
        # variable the server is created with.
        assert url.password is None
        assert _required(env["PGPASSWORD"]) == _required(db["POSTGRES_PASSWORD"])


def test_replicas_start_once_postgres_is_healthy(replicas):
    name, _ = _service(replicas, "postgres")

    for bot in _bots(replicas).values():
        assert bot["depends_on"][name] == {"condition": "service_healthy"}


def test_every_pinned_variable_is_one_the_bot_reads(replicas):
    for bot in _bots(replicas).values():
        env = {k: str(v) for k, v in bot["environment"].items()}
        # PGPASSWORD is the PostgreSQL driver's own variable.
        assert set(env) - VARIABLES == {"PGPASSWORD"}
        settings = Settings(_env_file=None, **env)
        assert settings.database_url == env["DATABASE_URL"]


def test_pinned_environment_is_the_images_own_but_for_the_database(replicas, stages):
    image = _image_env(stages)

    for bot in _bots(replicas).values():
        env = bot["environment"]
        shared = set(env) & set(image) - {"DATABASE_URL"}
        assert shared == {"MEDIA_DIR", "HTTP_HOST", "HTTP_PORT"}
        assert {k: str(env[k]) for k in shared} == {k: image[k] for k in shared}


def test_every_discord_shard_runs_on_exactly_one_replica(replicas):
    envs = [bot["environment"] for bot in _bots(replicas).values()]
    [count] = {int(env["DISCORD_SHARD_COUNT"]) for env in envs}
    shards = [i for env in envs for i in parse_shard_ids(env["DISCORD_SHARD_IDS"])]

    assert all(parse_shard_ids(env["DISCORD_SHARD_IDS"]) for env in envs)
    assert sorted(shards) == list(range(count))


def test_each_replica_start_makes_up_a_new_id_named_after_its_host(replicas):
    bots = _bots(replicas)
    hostnames = [bot["hostname"] for bot in bots.values()]

    # A fixed REPLICA_ID would let a restarted replica inherit the leases of the
    # process it replaces (bot.replicas.replica_id).
    assert not any("REPLICA_ID" in bot["environment"] for bot in bots.values())
    assert sorted(hostnames) == sorted(bots)


def test_replicas_share_one_media_volume_at_data(replicas, stages):
    mounts = {tuple(bot["volumes"]) for bot in _bots(replicas).values()}
    [[mount]] = mounts
    volume, _, target = mount.partition(":")

    assert volume in replicas["volumes"]
    # The image's /data belongs to its user, so a new volume mounted there does
    # too; MEDIA_DIR (downloads and linked videos) is on it.
    assert target == "/data"
    assert "/data" in stages[-1].last("VOLUME")
    for bot in _bots(replicas).values():
        assert bot["environment"]["MEDIA_DIR"].startswith("/data/")


def test_replica_healthcheck_is_the_images_own_on_healthz(replicas, stages):
    for bot in _bots(replicas).values():
        test = bot["healthcheck"]["test"]
        assert test[0] == "CMD"
        assert test[1:] == ["python", *_healthcheck_command(stages)[1:]]
        assert bot["healthcheck"]["retries"] >= 1


def test_only_the_proxy_publishes_a_port_and_checks_healthz_through_it(
    replicas, server
):
    _, proxy = _service(replicas, "nginx")
    [published] = proxy["ports"]
    host, _, container = str(published).partition(":")
    [listen] = server.all("listen")
    test = proxy["healthcheck"]["test"]

    assert host == container == listen.args[0] == "8080"
    assert not any("ports" in bot for bot in _bots(replicas).values())
    assert test[0] == "CMD"
    assert test[-1] == f"http://127.0.0.1:{container}{HEALTH_PATH}"
    assert set(proxy["depends_on"]) == set(_bots(replicas))


def test_the_proxy_balances_over_every_replica_and_nothing_else(
    replicas, nginx, server
):
    bots = _bots(replicas)
    expected = {
        f"{name}:{bot['environment']['HTTP_PORT']}" for name, bot in bots.items()
    }
    upstreams = {
        _upstream_of(nginx, loc).args[0]
        for loc in server.all("location")
        if loc.all("proxy_pass")
    }
    [name] = upstreams
    [upstream] = [u for u in nginx.all("upstream") if u.args == [name]]

    assert {s.args[0] for s in upstream.all("server")} == expected


@pytest.mark.parametrize(
    "path",
    [
        EVENTS_PATH,
        OPENAI_WEBHOOK_PATH,
        CALLBACK_PATH.format(token="t0k3n"),
        MEDIA_PATH.format(token="t0k3n"),
        VIDEO_LINK_PATH.format(name="1767225600-abc.mp4"),
        HEALTH_PATH,
    ],
)
def test_what_comes_from_outside_reaches_a_replica(nginx, server, path):
    assert _upstream_of(nginx, _location(server, path)) is not None


@pytest.mark.parametrize("path", [METRICS_PATH, READY_PATH, "/"])
def test_one_replicas_own_routes_are_not_balanced(nginx, server, path):
    location = _location(server, path)

    assert _upstream_of(nginx, location) is None
    assert location.all("return")[0].args == ["404"]


def test_a_request_sent_to_a_replica_is_never_sent_to_another_unless_safe(server):
    # Connection errors and timeouts fail over; nginx sends a POST on only when
    # the first replica never got it, unless non_idempotent is named.
    everywhere = [server, *server.all("location")]
    lists = [d.args for where in everywhere for d in where.all("proxy_next_upstream")]

    assert {"error", "timeout"} <= set(_next_upstream(server, server))
    assert not any("non_idempotent" in args for args in lists)
    assert _next_upstream(server, _location(server, EVENTS_PATH)) == [
        "error",
        "timeout",
    ]


def test_a_reference_image_the_first_replica_lacks_is_asked_of_the_other(server):
    # The image is in the memory of the replica that published it.
    media = _location(server, MEDIA_PATH.format(token="t0k3n"))

    assert "http_404" in _next_upstream(server, media)
    assert {"error", "timeout"} <= set(_next_upstream(server, media))


def test_replica_addresses_are_looked_up_again_after_a_restart(replicas, nginx):
    _, proxy = _service(replicas, "nginx")
    version = tuple(int(n) for n in re.findall(r"\d+", proxy["image"].split(":")[1]))
    [upstream] = nginx.all("upstream")

    assert all("resolve" in s.args for s in upstream.all("server"))
    assert upstream.all("zone")  # "resolve" needs the shared zone
    assert nginx.all("resolver")[0].args[0] == "127.0.0.11"  # Docker's DNS
    # "resolve" came to open-source nginx in 1.27.3: the tag pins one with it.
    assert version >= (1, 27, 3)


@pytest.mark.parametrize("file", ["docker-compose.yml", "docker-compose.replicas.yml"])
def test_no_secret_is_written_into_a_compose_file(file):
    text = (ROOT / file).read_text(encoding="utf-8")
    services = yaml.safe_load(text)["services"]

    for service in services.values():
        for key, value in service.get("environment", {}).items():
            assert key not in SECRETS  # tokens and keys come from .env only
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", key):
                _required(str(value))
    assert {"DISCORD_TOKEN", "SLACK_SIGNING_SECRET", "SORA_API_KEY"} <= SECRETS
