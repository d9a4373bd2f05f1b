"""Files in and out of Slack: private reference images, and the finished MP4.

Images shared in Slack sit behind ``url_private`` and need the bot token; without it
Slack answers 200 with an HTML login page, so the content type is checked, not just
the status. Videos go up through the external upload flow (``files.upload`` is
retired). ``files_upload_v2`` would read the whole file into memory, so the three
steps are done here with the file streamed from disk, a few uploads at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import BinaryIO

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.convert import SlackFile, check_image_file
from bot.errors import UserInputError
from bot.models import ImageInput
from bot.validation import MAX_IMAGE_BYTES

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=30)
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=600, sock_read=60)


class UploadError(Exception):
    """Slack did not take the video; the message is safe to log."""


async def download_image(
    session: aiohttp.ClientSession, file: SlackFile, token: str
) -> ImageInput:
    """Fetch a private Slack image with the bot token, at most 10 MB of it.

    Raises ``UserInputError`` when the file is not a usable image or Slack refuses.
    """
    check_image_file(file)
    refused = UserInputError(
        f"I couldn't download `{file.name}` from Slack. Share it in a channel the "
        "bot is in, or attach it again."
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with session.get(
            file.url, headers=headers, timeout=DOWNLOAD_TIMEOUT
        ) as response:
            if response.status != 200 or response.content_type == "text/html":
                raise refused
            data = await response.content.read(MAX_IMAGE_BYTES + 1)
            content_type = response.content_type
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("downloading Slack file %s failed: %r", file.id, error)
        raise refused from None
    if len(data) > MAX_IMAGE_BYTES:
        raise UserInputError(
            f"The image `{file.name}` is larger than 10 MB. Attach a smaller one."
        )
    return ImageInput(filename=file.name, data=data, content_type=content_type)


class VideoUploader:
    """Uploads videos into threads; ``concurrency`` bounds uploads (and memory)."""

    def __init__(
        self,
        client: AsyncWebClient,
        session: aiohttp.ClientSession,
        concurrency: int = 4,
    ) -> None:
        self._client = client
        self._session = session
        self._slots = asyncio.Semaphore(concurrency)

    async def upload(
        self,
        path: Path,
        *,
        filename: str,
        title: str,
        channel: str,
        thread_ts: str | None,
        comment: str,
    ) -> str:
        """getUploadURLExternal, stream the bytes, completeUploadExternal; returns
        the file's id (a takedown deletes it with ``files.delete``).

        Raises ``UploadError`` (or ``SlackApiError``) when Slack does not take it.
        """
        async with self._slots:
            stream, size = await asyncio.to_thread(_open_sized, path)
            try:
                ticket = await self._client.files_getUploadURLExternal(
                    filename=filename, length=size
                )
                upload_url, file_id = str(ticket["upload_url"]), str(ticket["file_id"])
                # aiohttp streams an open file in chunks with a Content-Length.
                async with self._session.post(
                    upload_url, data=stream, timeout=UPLOAD_TIMEOUT
                ) as response:
                    if response.status != 200:
                        raise UploadError(
                            f"upload of {filename} answered HTTP {response.status}"
                        )
            finally:
                stream.close()
            await self._client.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}],
                channel_id=channel,
                thread_ts=thread_ts,
                initial_comment=comment,
            )
        return file_id


def _open_sized(path: Path) -> tuple[BinaryIO, int]:
    stream = path.open("rb")
    return stream, os.fstat(stream.fileno()).st_size
