"""Which holders of leases are surely dead (``gone``): only processes of this
host that can be seen to run no more, so their tasks need not wait a lease time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bot.replicas import gone, replica_id

HOST = socket.gethostname()
ME = f"{HOST}-{os.getpid()}-0000"


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """Another process of this host, running until the test stops it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_another_pid_of_this_host_that_no_longer_runs_is_gone(
    child: subprocess.Popen[bytes],
) -> None:
    child.kill()
    child.wait()

    assert gone(f"{HOST}-{child.pid}-ab12", ME)


def test_this_pid_under_another_tail_is_a_restarted_container_and_gone() -> None:
    assert gone(f"{HOST}-{os.getpid()}-ab12", ME)


def test_a_running_pid_of_this_host_is_not_gone(
    child: subprocess.Popen[bytes],
) -> None:
    assert not gone(f"{HOST}-{child.pid}-ab12", ME)


def test_this_very_replica_is_not_gone() -> None:
    me = replica_id()

    assert not gone(me, me)


def test_other_hosts_are_never_judged(child: subprocess.Popen[bytes]) -> None:
    child.kill()
    child.wait()

    assert not gone(f"elsewhere-{child.pid}-ab12", ME)
    assert not gone(f"elsewhere-{os.getpid()}-ab12", ME)


def test_configured_ids_are_never_judged() -> None:
    for configured in ("a", "replica-b", "sorabot-eu-west", f"{HOST}-blue-ab12"):
        assert not gone(configured, ME)


def test_a_host_name_with_dashes_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docker-compose.replicas.yml names its hosts so; each replica there is pid 1.
    monkeypatch.setattr(socket, "gethostname", lambda: "sorabot-1")
    me = f"sorabot-1-{os.getpid()}-0000"

    assert gone(f"sorabot-1-{os.getpid()}-ab12", me)
    assert not gone(f"sorabot-2-{os.getpid()}-ab12", me)
