"""``python -m bot.simulator``: the simulator as its own process (benchmarks, demos).

Prints ``SIMULATOR_URL=http://host:port`` on one line once it listens, then serves
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bot.simulator._server import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.simulator",
        description="Run the Sora relay simulator (all five dialects).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--duration", type=float, default=4.0, help="seconds a task takes"
    )
    parser.add_argument("--api-key", help="require this bearer key (default: any)")
    parser.add_argument("--webhook-url", help="openai dialect: project webhook URL")
    parser.add_argument("--webhook-secret", help="openai dialect: webhook secret")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Simulator(
        args.duration,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    ) as simulator:
        sys.stdout.write(f"SIMULATOR_URL={simulator.base_url}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
