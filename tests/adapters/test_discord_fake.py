"""The fake Discord, driven by an unmodified discord.py client over real sockets.

Each test defines a tiny throwaway command (not the real adapter) and checks
that the fake answers the way Discord does: the flows work, and the rules
(3 s ack, token lifetime, limits, rate limits) bite.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from PIL import Image

from tests.fakes.discord import MODERATOR_PERMISSIONS, FakeDiscord


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


PNG = png(2, 3)
Tree = app_commands.CommandTree[discord.Client]
Register = Callable[[Tree, discord.Object], None]


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        # Exactly the seam the adapter uses; monkeypatch restores both afterwards.
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_url)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket,
            "DEFAULT_GATEWAY",
            yarl.URL(fake.gateway_url),
        )
        yield fake
        assert fake.errors == []


@contextlib.asynccontextmanager
async def bot(fake: FakeDiscord, register: Register) -> AsyncIterator[discord.Client]:
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    tree: Tree = app_commands.CommandTree(client)
    guild = discord.Object(int(fake.guild_id))
    register(tree, guild)

    async def setup_hook() -> None:
        await tree.sync(guild=guild)

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    task = asyncio.create_task(client.start(fake.token))
    try:
        await fake.wait_for_bot(5)
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        await task


def outcome() -> asyncio.Future[Any]:
    """What the command produced (or raised), so assertions run in the test."""
    return asyncio.get_running_loop().create_future()


async def test_slash_with_attachment_runs_defer_followup_send_thread_and_edits(
    fake: FakeDiscord,
) -> None:
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="ask", description="Ask", guild=guild)
        @app_commands.default_permissions(manage_guild=True)
        @app_commands.choices(size=[app_commands.Choice(name="Small", value="s")])
        async def ask(
            interaction: discord.Interaction,
            prompt: str,
            image: discord.Attachment,
            size: str = "s",
        ) -> None:
            await interaction.response.defer(thinking=True)
            data = await image.read()
            first = await interaction.followup.send(
                f"read {len(data)}",
                file=discord.File(io.BytesIO(data), "echo.png"),
                wait=True,
            )
            assert interaction.channel is not None
            status = await interaction.channel.send(f"status: {prompt}")  # type: ignore[union-attr]
            await status.edit(content="status: 50 %")
            thread = await status.create_thread(name=prompt[:100])
            await thread.send("video goes here")
            await interaction.edit_original_response(content="done")
            result.set_result((data, first, status, thread))

    async with bot(fake, register):
        image = fake.add_cdn_attachment("cat.png", PNG, "image/png")
        inter = await fake.send_slash("ask", {"prompt": "a cat", "image": image})
        data, first, status, thread = await asyncio.wait_for(result, 5)

    assert data == PNG
    assert (image["width"], image["height"]) == (2, 3)
    assert inter.response_type == 5
    assert inter.ack_latency is not None
    assert inter.ack_latency < 1.0
    # The first followup after a thinking defer filled in the loading message.
    assert inter.original is not None
    assert first.id == int(inter.original.id)
    assert inter.followups == []
    assert inter.content == "done"
    assert not inter.ephemeral
    assert fake.attachment_bytes(inter.original) == [PNG]
    [stored_status] = [
        m for m in fake.messages(fake.channel_id) if m.id == str(status.id)
    ]
    assert [e["content"] for e in stored_status.edits] == ["status: 50 %"]
    assert thread.id == status.id
    assert fake.threads[str(thread.id)].name == "a cat"
    assert [m.content for m in fake.messages(thread.id)] == ["video goes here"]
    command = fake.command("ask")
    assert command is not None
    assert [(o["name"], o["type"]) for o in command["options"]] == [
        ("prompt", 3),
        ("image", 11),
        ("size", 3),
    ]
    assert command["options"][2]["choices"] == [{"name": "Small", "value": "s"}]
    assert command["default_member_permissions"] == str(1 << 5)
    routes = [(c.method, c.route) for c in fake.calls if c.route]
    assert ("POST", "/interactions/{interaction_id}/{token}/callback") in routes
    assert all(c.status < 400 for c in fake.calls)


async def test_late_defer_gets_unknown_interaction(fake: FakeDiscord) -> None:
    fake.ack_deadline = 0.2
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="slow", description="Slow", guild=guild)
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.defer()
            except discord.HTTPException as error:
                result.set_result(error)

    async with bot(fake, register):
        inter = await fake.send_slash("slow")
        error = await asyncio.wait_for(result, 5)

    assert isinstance(error, discord.NotFound)
    assert error.code == 10062
    assert not inter.acked
    assert inter.late_callback_at is not None


async def test_second_ack_is_rejected_with_40060(fake: FakeDiscord) -> None:
    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="once", description="Once", guild=guild)
        async def once(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("hi", ephemeral=True)

    async with bot(fake, register), aiohttp.ClientSession() as http:
        inter = await fake.send_slash("once")
        await inter.wait_acked(5)
        url = f"{fake.api_url}/interactions/{inter.id}/{inter.token}/callback"
        async with http.post(url, json={"type": 5}) as response:
            body = await response.json()
            status = response.status

    assert (status, body["code"]) == (400, 40060)
    assert inter.ephemeral
    assert inter.content == "hi"
    assert fake.messages(fake.channel_id) == []


async def test_token_expires_after_its_lifetime(fake: FakeDiscord) -> None:
    fake.token_lifetime = 0.3
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="long", description="Long", guild=guild)
        async def long(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await asyncio.sleep(0.4)
            try:
                await interaction.edit_original_response(content="too late")
            except discord.HTTPException as error:
                result.set_result(error)

    async with bot(fake, register):
        inter = await fake.send_slash("long")
        error = await asyncio.wait_for(result, 5)

    assert (error.status, error.code) == (401, 50027)
    assert fake.invalid_token_calls == 1
    assert inter.original is not None
    assert inter.original.edits == []


async def test_forced_429s_are_retried_by_discord_py(fake: FakeDiscord) -> None:
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="post", description="Post", guild=guild)
        async def post(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            channel: Any = interaction.channel
            message = await channel.send("after a 429")
            await interaction.followup.send("followup after a 429")
            result.set_result(message)

    fake.force_429("POST", "/channels/", retry_after=0.2)
    fake.force_429("POST", "/api/v10/webhooks/", retry_after=0.1)
    async with bot(fake, register):
        started = time.monotonic()
        inter = await fake.send_slash("post")
        message = await asyncio.wait_for(result, 5)

    assert message.content == "after a 429"
    assert inter.content == "followup after a 429"
    assert time.monotonic() - started >= 0.3
    assert fake.rate_limited == {
        "/channels/{channel_id}/messages": 1,
        "/webhooks/{app_id}/{token}": 1,
    }


async def test_rate_limit_headers_make_discord_py_wait_instead_of_429(
    fake: FakeDiscord,
) -> None:
    fake.limiter.route_limits[("POST", "/channels/{channel_id}/messages")] = (2, 0.3)
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="burst", description="Burst", guild=guild)
        async def burst(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            channel: Any = interaction.channel
            sent = await asyncio.gather(*(channel.send(f"m{n}") for n in range(5)))
            result.set_result(sent)

    async with bot(fake, register):
        started = time.monotonic()
        await fake.send_slash("burst")
        await asyncio.wait_for(result, 10)
        elapsed = time.monotonic() - started

    posted = [m for m in fake.messages(fake.channel_id) if m.interaction_id is None]
    assert sorted(m.content for m in posted) == [f"m{n}" for n in range(5)]
    # 5 posts through a 2-per-0.3 s window need at least two waits, and no 429.
    assert elapsed >= 0.6
    assert sum(fake.rate_limited.values()) == 0


async def test_global_limit_answers_a_global_429_that_discord_py_waits_out(
    fake: FakeDiscord,
) -> None:
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="many", description="Many", guild=guild)
        async def many(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            channel: Any = interaction.channel
            result.set_result([await channel.send(f"m{n}") for n in range(4)])

    async with bot(fake, register):
        fake.limiter.global_window.limit = 2
        fake.limiter.global_window.per = 0.2
        await fake.send_slash("many")
        sent = await asyncio.wait_for(result, 10)

    assert [m.content for m in sent] == ["m0", "m1", "m2", "m3"]
    assert fake.rate_limited["/channels/{channel_id}/messages"] >= 1
    assert fake.rate_limited["/interactions/{interaction_id}/{token}/callback"] == 0


async def test_uploads_over_the_limit_get_413(fake: FakeDiscord) -> None:
    fake.upload_limit = 1000
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="upload", description="Upload", guild=guild)
        async def upload(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            errors = []
            big = b"x" * 1001
            for send in (
                interaction.followup.send,
                interaction.channel.send,  # type: ignore[union-attr]
            ):
                try:
                    await send(file=discord.File(io.BytesIO(big), "big.mp4"))
                except discord.HTTPException as error:
                    errors.append((error.status, error.code))
            await interaction.followup.send(
                file=discord.File(io.BytesIO(b"x" * 1000), "ok.mp4")
            )
            result.set_result(errors)

    async with bot(fake, register):
        inter = await fake.send_slash("upload")
        errors = await asyncio.wait_for(result, 5)

    assert errors == [(413, 40005), (413, 40005)]
    assert inter.original is not None
    assert inter.original.attachments[0]["content_type"] == "video/mp4"
    assert fake.attachment_bytes(inter.original) == [b"x" * 1000]


async def test_discord_limits_on_content_embeds_and_thread_names(
    fake: FakeDiscord,
) -> None:
    # Six posts in a row: keep discord.py from waiting out the 5-per-5 s window.
    fake.limiter.route_limits[("POST", "/channels/{channel_id}/messages")] = (50, 1.0)
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="limits", description="Limits", guild=guild)
        async def limits(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            channel: Any = interaction.channel
            codes = []
            attempts: tuple[Callable[[], Awaitable[Any]], ...] = (
                lambda: channel.send("x" * 2001),
                lambda: channel.send(embed=discord.Embed(description="d" * 4097)),
                lambda: channel.send(embed=discord.Embed(title="t" * 257)),
                lambda: channel.send(
                    embeds=[discord.Embed(description="d" * 4000)] * 2
                ),
            )
            for attempt in attempts:
                try:
                    await attempt()
                except discord.HTTPException as error:
                    codes.append((error.status, error.code))
            message = await channel.send("ok")
            try:
                await message.create_thread(name="n" * 101)
            except discord.HTTPException as error:
                codes.append((error.status, error.code))
            result.set_result(codes)

    async with bot(fake, register):
        await fake.send_slash("limits")
        codes = await asyncio.wait_for(result, 5)

    assert codes == [(400, 50035)] * 5
    posted = [m for m in fake.messages(fake.channel_id) if m.interaction_id is None]
    assert [m.content for m in posted] == ["ok"]
    assert fake.threads == {}


async def test_button_click_opens_a_modal_whose_submit_updates_the_message(
    fake: FakeDiscord,
) -> None:
    submitted = outcome()

    class Remix(discord.ui.Modal, title="Remix"):
        prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Prompt", custom_id="prompt"
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.edit_message(
                content=f"remix: {self.prompt.value}"
            )
            submitted.set_result(interaction.user.id)

    class Buttons(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.button(label="Remix", custom_id="remix:42")
        async def remix(self, interaction: discord.Interaction, _: Any) -> None:
            perms = interaction.permissions.manage_guild
            modal = Remix(custom_id=f"remix-modal:{int(perms)}")
            await interaction.response.send_modal(modal)

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="show", description="Show", guild=guild)
        async def show(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("result", view=Buttons())

    async with bot(fake, register):
        inter = await fake.send_slash("show")
        await inter.wait_acked(5)
        assert inter.original is not None
        message_id = inter.original.id
        click = await fake.click(
            message_id, "remix:42", user="bob", member_permissions=MODERATOR_PERMISSIONS
        )
        await click.wait_acked(5)
        submit = await fake.submit_modal(
            "remix-modal:1", {"prompt": "a dog"}, user="bob"
        )
        user_id = await asyncio.wait_for(submitted, 5)

    assert inter.original.components[0]["components"][0]["custom_id"] == "remix:42"
    assert click.response_type == 9
    assert click.modal is not None
    assert submit.response_type == 7
    assert fake.message(message_id).content == "remix: a dog"  # type: ignore[union-attr]
    assert str(user_id) == fake.user("bob")["id"]


async def test_state_survives_a_new_client_logging_in(fake: FakeDiscord) -> None:
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="start", description="Start", guild=guild)
        async def start(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            channel: Any = interaction.channel
            message = await channel.send("queued")
            result.set_result(await message.create_thread(name="job"))

    async with bot(fake, register):
        await fake.send_slash("start")
        thread = await asyncio.wait_for(result, 5)
    identified = fake.gateway.identify_count

    async with bot(fake, lambda tree, guild: None) as client:
        await fake.wait_for_bot(5, after=identified)
        # A new process knows only ids: it edits and posts through them.
        partial = client.get_partial_messageable(int(fake.channel_id))
        await partial.get_partial_message(thread.id).edit(content="100 %")
        await client.get_partial_messageable(thread.id).send("delivered")
        cached = client.get_channel(thread.id)

    assert fake.gateway.identify_count == identified + 1
    posted = [m for m in fake.messages(fake.channel_id) if m.interaction_id is None]
    assert [m.content for m in posted] == ["100 %"]
    assert [m.content for m in fake.messages(thread.id)] == ["delivered"]
    # GUILD_CREATE lists active threads, so the new client had it cached.
    assert isinstance(cached, discord.Thread)
    assert cached.name == "job"


async def test_gateway_resume_and_message_echo(fake: FakeDiscord) -> None:
    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="echo", description="Echo", guild=guild)
        async def echo(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("echoed")

    async with bot(fake, register) as client:
        await fake.disconnect_bot()
        await fake.wait_until(
            lambda: fake.gateway.resume_count == 1 and fake.gateway.connected
        )
        seen = asyncio.ensure_future(client.wait_for("message", timeout=5))
        await fake.send_slash("echo")
        message = await seen

    assert message.content == "echoed"
    assert fake.gateway.identify_count == 1


async def test_unknown_routes_are_json_404s(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_url}/nothing/here") as response:
            assert response.status == 404
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["message"] == "404: Not Found"
        headers = {"Authorization": "Bot wrong"}
        async with http.get(f"{fake.api_url}/users/@me", headers=headers) as response:
            assert response.status == 401


async def test_archived_threads_refuse_edits_and_reopen_on_a_post(
    fake: FakeDiscord,
) -> None:
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="archive", description="Archive", guild=guild)
        async def archive(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            channel: Any = interaction.channel
            thread = await (await channel.send("status")).create_thread(name="job")
            note = await thread.send("working")
            await thread.edit(archived=True)
            try:
                await note.edit(content="edited")
            except discord.HTTPException as error:
                refused = (error.status, error.code)
            await thread.send("video")
            await interaction.followup.send("queued", ephemeral=True)
            result.set_result((thread.id, refused))

    async with bot(fake, register):
        inter = await fake.send_slash("archive")
        thread_id, refused = await asyncio.wait_for(result, 5)

    assert refused == (400, 50083)
    thread = fake.threads[str(thread_id)]
    assert not thread.archived
    assert thread.edits == [{"archived": True}]
    assert [m.content for m in fake.messages(thread_id)] == ["working", "video"]
    # An ephemeral defer stays ephemeral: its reply is not in the channel.
    assert inter.ephemeral
    assert inter.content == "queued"
    assert inter.original not in fake.messages(fake.channel_id)


async def test_reply_with_a_file_and_replacing_it_by_edit(fake: FakeDiscord) -> None:
    result = outcome()

    def register(tree: Tree, guild: discord.Object) -> None:
        @tree.command(name="file", description="File", guild=guild)
        async def file(interaction: discord.Interaction) -> None:
            first = discord.File(io.BytesIO(b"one"), "one.txt")
            await interaction.response.send_message("here", file=first)
            second = discord.File(io.BytesIO(b"two"), "two.txt")
            await interaction.edit_original_response(attachments=[second])
            result.set_result(None)

    async with bot(fake, register):
        inter = await fake.send_slash("file")
        await asyncio.wait_for(result, 5)
        call = await fake.wait_for(("PATCH", "/webhooks/"))

    assert inter.response_type == 4
    assert inter.original is not None
    assert fake.attachment_bytes(inter.original) == [b"two"]
    assert [e["attachments"] for e in inter.original.edits] == [
        [{"id": 0, "filename": "two.txt"}]
    ]
    assert [f.filename for f in call.files] == ["two.txt"]


async def test_member_chunk_requests_are_answered_with_their_nonce(
    fake: FakeDiscord,
) -> None:
    fake.user("carol")
    # The members intent without presences makes discord.py chunk at startup.
    intents = discord.Intents.default()
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.05)
    task = asyncio.create_task(client.start(fake.token))
    try:
        # Without the echoed nonce discord.py waits for the chunk and never gets ready.
        await asyncio.wait_for(client.wait_until_ready(), 3)
        guild = client.get_guild(int(fake.guild_id))
        assert guild is not None
        assert guild.chunked
        assert guild.get_member(int(fake.user("carol")["id"])) is not None
    finally:
        await client.close()
        await task
