"""``sorabot run`` as a child process, for tests that kill the bot and start it again.

The bot is configured only through its environment, as an operator would run it;
the fakes it talks to live in the test process (or their own), so they keep their
state while the bot dies and comes back. The bot's output goes to a log file that
a failing test can show.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bot.web import HEALTH_PATH

# Seconds a bot is given to answer its probe, and to exit after SIGTERM.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port nothing listens on now (for ``HTTP_PORT``, which must be known
    before the bot starts so a restart comes back on the same one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotProcess:
    """One ``sorabot run`` on ``env`` (which must name its ``HTTP_PORT``), run in
    ``cwd`` (so no ``.env`` of the developer's is read), logging to ``log``."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env = env
        self.log = log
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HTTP_PORT']}"

    def output(self, tail: int = 20_000) -> str:
        """The end of everything every run of this bot has written."""
        if not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-tail:]

    async def start(self, probe: str = HEALTH_PATH) -> None:
        """Start the bot and return once ``probe`` answers 200 (``/readyz`` to wait
        for its chat platforms and database too)."""
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        url = self.base_url + probe
        async with aiohttp.ClientSession() as session, asyncio.timeout(START_TIMEOUT):
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"the bot exited:\n{self.output()}")
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: the process ends at once, in the middle of whatever it does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int | None:
        """SIGTERM and wait for the clean stop; the exit code (None: not running)."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode
