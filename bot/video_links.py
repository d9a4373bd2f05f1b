"""Links to the bot's own copy of a finished video, for platforms that won't take it.

A video over a chat platform's upload limit is posted as a link instead. The
provider's own link (when there is one) expires within about an hour, so the bot
serves its copy at ``PUBLIC_URL/media/videos/<name>`` for ``VIDEO_LINK_DAYS`` days.

Links must outlive a restart, so they live on disk under ``MEDIA_DIR/links``, not in
memory like ``bot.media``: each is a hard link to (or a copy of) the downloaded
video, named ``<expiry>-<token>.mp4``. The expiry in the name is the only state, so
no database row is needed and a restarted bot still serves (and still expires)
every link. The 256-bit random token makes the name unguessable; changing the
expiry part names a file that does not exist. Only names of exactly that shape are
ever looked up, so no request can reach another path.
"""

from __future__ import annotations

import asyncio
import filecmp
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

VIDEO_LINK_PATH = "/media/videos/{name}"
_PREFIX = "/media/videos/"
_NAME = re.compile(r"(?P<expires>[0-9]{1,12})-[A-Za-z0-9_-]{43}\.mp4")
_DAY = 86_400
_HEADERS = {
    "Cache-Control": "private, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class VideoLinks:
    """Publishes finished videos at expiring URLs under ``public_url``.

    Args:
        public_url: the bot's address as chat members reach it (``PUBLIC_URL``), or
            ``None``: then there is nowhere to link to and ``available`` is False.
        directory: where the linked copies are kept (``MEDIA_DIR/links``).
        days: how long a link works (``VIDEO_LINK_DAYS``).
        clock: wall-clock seconds (links outlive restarts); tests pass a fake one.
    """

    def __init__(
        self,
        public_url: str | None,
        directory: Path,
        days: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._public_url = public_url.rstrip("/") if public_url else None
        self._directory = directory
        self.days = days
        self._clock = clock

    @property
    def available(self) -> bool:
        """Whether members could open a link: only with ``PUBLIC_URL``."""
        return self._public_url is not None

    def add_routes(self, app: web.Application) -> None:
        """Serve ``GET`` (and ``HEAD``) ``/media/videos/{name}`` from ``app``."""
        app.router.add_get(VIDEO_LINK_PATH, self._serve)

    async def publish(self, video: Path) -> str:
        """Keep ``video`` for ``days`` days and return its absolute URL.

        Raises:
            RuntimeError: there is no ``PUBLIC_URL`` (check ``available`` first).
            OSError: the copy could not be made.
        """
        if self._public_url is None:
            raise RuntimeError("video links need PUBLIC_URL")
        now = self._clock()
        expires = int(now + self.days * _DAY)
        name = f"{expires}-{secrets.token_urlsafe(32)}.mp4"
        await asyncio.to_thread(self._keep, video, self._directory / name, now)
        return f"{self._public_url}{_PREFIX}{name}"

    async def link_for(self, video: Path) -> str | None:
        """``publish``, or ``None`` when there is no ``PUBLIC_URL`` or no copy could
        be made (logged): the caller falls back to the provider's link."""
        if not self.available:
            return None
        try:
            return await self.publish(video)
        except OSError:
            log.exception("could not keep a linked copy of %s", video.name)
            return None

    def forget(self, video: Path) -> None:
        """Delete every linked copy of ``video`` (a takedown), so its links 404.

        Names carry no task id, so copies are found by content: a hard link is
        the same file; a copy (another file system) has the same bytes.
        """
        if not video.is_file() or not self._directory.is_dir():
            return
        size = video.stat().st_size
        for path in self._directory.iterdir():
            if _NAME.fullmatch(path.name) is None or path.stat().st_size != size:
                continue
            if path.samefile(video) or filecmp.cmp(path, video, shallow=False):
                path.unlink(missing_ok=True)

    def _keep(self, video: Path, target: Path, now: float) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        self._sweep(now)
        try:
            # Same file system as the download: no second copy of a large video.
            os.link(video, target)
        except OSError:
            shutil.copyfile(video, target)

    def _sweep(self, now: float) -> None:
        """Delete expired copies; run when a new one is made, so no timer is kept."""
        for path in self._directory.iterdir():
            match = _NAME.fullmatch(path.name)
            if match is not None and int(match["expires"]) <= now:
                path.unlink(missing_ok=True)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        match = _NAME.fullmatch(name)
        path = self._directory / name
        if match is None or not path.is_file():
            raise web.HTTPNotFound(headers=_HEADERS)
        if int(match["expires"]) <= self._clock():
            path.unlink(missing_ok=True)
            raise web.HTTPNotFound(headers=_HEADERS)
        return web.FileResponse(path, headers={**_HEADERS, "Content-Type": "video/mp4"})
