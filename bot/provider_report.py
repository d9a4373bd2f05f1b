"""``sorabot providers``: each configured provider, what it can do, and a live check.

The check asks the provider's status route about a task id that cannot exist:
"unknown task" (404, or 400 where the dialect answers so) means the relay is
reachable and took the key; 401/403 means the key was refused; no connection
means unreachable. Nothing is created, so the check costs nothing. Keys are
never printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.capabilities import CapabilityProfile, ModelCapability
from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNoAnswer,
    ProviderProtocolError,
    ProviderQuotaError,
    ProviderRejected,
    ProviderTaskUnknown,
    ProviderUnreachable,
)
from bot.providers.pool import PoolMember

CHECK_TASK_ID = "sorabot-check-no-such-task"


async def live_check(member: PoolMember) -> tuple[bool, str]:
    """(healthy, what the check found) for one provider."""
    try:
        await member.query(CHECK_TASK_ID)
    except (ProviderTaskUnknown, ProviderRejected):
        return True, "reachable, key accepted"
    except ProviderAuthError as exc:
        return False, f"reachable, key refused (HTTP {exc.status_code})"
    except ProviderQuotaError:
        return False, "reachable, key accepted, account out of credit"
    except ProviderUnreachable:
        return False, "unreachable (no connection)"
    except ProviderNoAnswer:
        return False, "no answer (timed out or dropped)"
    except ProviderProtocolError as exc:
        if exc.status_code == 404:
            return False, "reachable, but no such route: check its url and dialect"
        return False, "reachable, but its answer made no sense"
    except ProviderError as exc:
        return False, f"reachable, answered HTTP {exc.status_code}"
    return True, "reachable, key accepted"


def _model(model: ModelCapability) -> str:
    seconds = ", ".join(str(s) for s in model.seconds)
    hd = (
        f"; HD at {', '.join(str(s) for s in model.hd_seconds)} s"
        if model.hd_seconds
        else ""
    )
    renamed = f" (sent as {model.sent_as})" if model.sent_as else ""
    return f"{model.name}{renamed}: {seconds} s{hd}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def describe(profile: CapabilityProfile) -> list[tuple[str, str]]:
    """The capability profile as (label, value) lines."""
    image = "uploaded" if profile.image_transport == "upload" else "by URL"
    if profile.image_must_match_size:
        image += ", fitted to the video size"
    watermark = _yes(profile.watermark)
    if profile.watermark:
        watermark += f" (default {'on' if profile.watermark_default else 'off'})"
    callbacks = _yes(profile.callbacks)
    if profile.callbacks and profile.https_callbacks_only:
        callbacks += " (https PUBLIC_URL only)"
    return [
        ("models", "; ".join(_model(m) for m in profile.models)),
        ("private", _yes(profile.private)),
        ("watermark control", watermark),
        ("styles", ", ".join(profile.styles) or "none"),
        ("remix", "its own" if profile.remix else "a new video, same settings"),
        ("reference image", image),
        ("callbacks", callbacks),
    ]


async def report(
    members: Sequence[PoolMember], *, simulated: bool
) -> tuple[list[str], bool]:
    """The lines ``sorabot providers`` prints, and whether every check passed.

    The live checks run at once.
    """
    checks = await asyncio.gather(*(live_check(m) for m in members))
    lines: list[str] = []
    for order, (member, (_, found)) in enumerate(
        zip(members, checks, strict=True), start=1
    ):
        url = "the built-in simulator (no SORA_API_KEY)" if simulated else member.url
        rows = [
            ("dialect", member.provider.dialect),
            ("url", url),
            *describe(member.profile),
            ("circuit", member.breaker.state.value),
            ("check", found),
        ]
        width = max(len(label) for label, _ in rows)
        lines.append(f"{order}. {member.name}")
        lines.extend(f"   {label.ljust(width)}  {value}" for label, value in rows)
    return lines, all(ok for ok, _ in checks)
