"""Setting Discord up: the invite link at start, and the proxy for REST and gateway.

The whole bot runs (Runtime, SQLite, the provider client against a test-owned
simulator, unmodified discord.py against the fake Discord on 127.0.0.1).
"""

from __future__ import annotations

import logging

import pytest
from yarl import URL

from adapters.discord.invite import PERMISSIONS, SCOPES, invite_url
from tests.adapters.discord_harness import bot_settings, running_bot
from tests.fakes.discord import FakeDiscord
from tests.fakes.proxy import host_of

pytest_plugins = ["tests.adapters.discord_fixtures"]
pytestmark = pytest.mark.e2e

NEEDED = 309237763072  # the README's table: seven permissions, no Manage Threads


def test_invite_link_has_both_scopes_and_exactly_the_needed_permissions():
    query = URL(invite_url(1100000000000000001)).query

    assert PERMISSIONS.value == NEEDED
    assert query["client_id"] == "1100000000000000001"
    assert query["scope"].split() == list(SCOPES) == ["bot", "applications.commands"]
    assert int(query["permissions"]) == NEEDED


async def test_start_logs_the_invite_link_once(env, fake: FakeDiscord, caplog):
    caplog.set_level(logging.INFO, logger="adapters.discord")
    async with running_bot(bot_settings(env), fake):
        pass

    links = [r.getMessage() for r in caplog.records if "oauth2/authorize" in r.message]
    assert len(links) == 1
    query = URL(links[0].split()[-1]).query
    assert query["client_id"] == fake.app_id
    assert int(query["permissions"]) == NEEDED


async def test_rest_and_gateway_go_through_the_proxy(env, fake: FakeDiscord, proxy):
    async with running_bot(bot_settings(env), fake):
        pass

    paths = {c.url.path for c in proxy.carried}
    assert host_of(fake.api_url) in proxy.hosts()
    assert host_of(fake.gateway_url) in proxy.hosts()
    assert f"{URL(fake.api_url).path}/users/@me" in paths
    assert fake.gateway.identify_count == 1  # it logged in through the proxy


async def test_no_proxy_discord_host_is_reached_directly(
    env, fake: FakeDiscord, proxy, no_proxy_env
):
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    async with running_bot(bot_settings(env), fake):
        pass

    assert proxy.carried == []
    assert fake.gateway.identify_count == 1
