"""What proxy routing costs a status query: the shared client with and without it.

The provider clients' transport (``bot.http_transport``) decides each request's
proxy in an aiohttp client middleware, from ``bot.proxies`` (a lookup per origin).
This sends the same small GETs as the tracker's status queries through the
transport as shipped and through one whose session has no middleware, against a
server in another process, and prints the bot-side CPU per request of each.

    python bench/proxy_routing.py                    # 20,000 requests, 64 at a time
    python bench/proxy_routing.py --requests 5000 --rounds 5

Runs alternate between the two, so a busy host slows both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import cpu_seconds, free_port  # noqa: E402
from bot.http_transport import AiohttpTransport  # noqa: E402
from bot.runtime import HTTP_LIMITS  # noqa: E402

SERVER = """
import sys
from aiohttp import web
async def status(request):
    return web.json_response({"id": request.match_info["id"], "status": "running",
                              "progress": 45})
app = web.Application()
app.router.add_get("/v1/videos/{id}", status)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None,
            access_log=None)
"""


class BareTransport(AiohttpTransport):
    """The shipped transport with its session's middleware taken out."""

    def _open(self) -> aiohttp.ClientSession:
        session = super()._open()
        session._middlewares = ()
        return session


async def _run(transport: AiohttpTransport, url: str, requests: int, width: int):
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(f"{url}/v1/videos/warmup")
        queue = iter(range(requests))
        started = cpu_seconds(os.getpid())

        async def worker() -> None:
            for number in queue:
                response = await client.get(f"{url}/v1/videos/task-{number}")
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(width)))
        return (cpu_seconds(os.getpid()) - started) / requests * 1e6


async def _measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"routed": [], "bare": []}
    for _ in range(args.rounds):
        for name, transport in (
            ("routed", AiohttpTransport(HTTP_LIMITS)),
            ("bare", BareTransport(HTTP_LIMITS)),
        ):
            figures[name].append(
                await _run(transport, url, args.requests, args.concurrency)
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        os.environ.pop(name, None)

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/v1/videos/ready")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        figures = asyncio.run(_measure(url, args))
    finally:
        server.terminate()
        server.wait()
    print(
        f"{args.requests} status GETs x {args.rounds} rounds, {args.concurrency} "
        "at a time; bot-side CPU per request (median, min-max):"
    )
    for name, values in figures.items():
        print(
            f"  {name:6}  {statistics.median(values):6.0f} us  "
            f"({min(values):.0f}-{max(values):.0f})"
        )


if __name__ == "__main__":
    main()
