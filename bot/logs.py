"""Log output: human-readable lines by default, one JSON object per line on request.

``LOG_FORMAT=json`` is for log pipelines (Loki, Elasticsearch, CloudWatch): each
record becomes ``{"time", "level", "logger", "message", ...}`` plus the task's
``task_id``, ``provider``, ``platform`` and ``workspace`` when the line was written
for a task. The tracker sets those per step through ``TASK_FIELDS`` (a context
variable, so concurrent steps never mix them up); any call can also pass them with
``extra=``. Known secrets are masked in both formats, whatever wrote the line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType

from bot.models import Task

FIELDS = ("task_id", "provider", "platform", "workspace")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"

TASK_FIELDS: ContextVar[Mapping[str, str]] = ContextVar(
    "task_fields", default=MappingProxyType({})
)


def task_fields(task: Task, provider: str) -> dict[str, str]:
    """The log fields of ``task``, built once per task rather than per line."""
    return {
        "task_id": task.id,
        "provider": provider,
        "platform": task.chat.platform.value,
        "workspace": task.chat.workspace_id,
    }


class _Masking(logging.Formatter):
    """Masks every known secret in the finished line, exception text included."""

    def __init__(self, secrets: Iterable[str] = (), fmt: str | None = None) -> None:
        super().__init__(fmt)
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.mask(super().format(record))

    def mask(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, MASK)
        return line


class TextFormatter(_Masking):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets, TEXT_FORMAT)


class JsonFormatter(_Masking):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = TASK_FIELDS.get()
        for name in FIELDS:
            value = getattr(record, name, None) or context.get(name)
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return self.mask(json.dumps(entry, ensure_ascii=False, default=str))


def configure(level: int, log_format: str, secrets: Iterable[str] = ()) -> None:
    """Send every record at ``level`` or above to stderr in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(secrets) if log_format == "json" else TextFormatter(secrets)
    )
    logging.basicConfig(level=level, handlers=[handler])
