"""What ``bench/track.py`` prints: one block per measured run, then a side-by-side
table with each run's CPU as a ratio of the first run's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pydantic import BaseModel

from bench._common import percentile
from bench._track_bot import Figures, is_statement, sql_statements
from bot.config import Dialect
from bot.simulator._tasks import TaskSpec


class Run(BaseModel):
    """One measured setup: its bots' figures and what the bench saw around them."""

    label: str
    tasks: int
    poll_interval: float
    duration: float
    dialect: Dialect
    bots: list[Figures]
    creates: dict[str, int]  # prompt -> creates the simulator received for it
    simulator_cpu: float
    load_start: float
    load_end: float
    cpus: int
    postgres_transactions: int | None = None  # committed + rolled back, whole run
    postgres_cpu: float | None = None  # the run database's server backends
    timed_out: bool = False


def simulated_end(provider_task_id: str) -> float | None:
    code = provider_task_id.rsplit("_", 1)[-1]
    spec = TaskSpec.decode(code)
    return None if spec is None else spec.end


class Lags:
    """Seconds from a task's end at the simulator to a milestone, across bots."""

    def __init__(
        self,
        run: Run,
        when: Callable[[Figures], dict[str, float]],
        *,
        by_provider_id: bool,
    ) -> None:
        provider_ids: dict[str, str] = {}
        first: dict[str, float] = {}  # the earliest any bot reached it
        for bot in run.bots:
            provider_ids.update(bot.provider_ids)
            for key, at in when(bot).items():
                first[key] = min(at, first.get(key, at))
        self.values: list[float] = []
        for task_id, provider_task_id in provider_ids.items():
            end = simulated_end(provider_task_id)
            reached = first.get(provider_task_id if by_provider_id else task_id)
            if end is not None and reached is not None:
                self.values.append(reached - end)
        self.limit = run.poll_interval

    def __bool__(self) -> bool:
        return bool(self.values)

    @property
    def late(self) -> int:
        return sum(1 for lag in self.values if lag > self.limit)

    def short(self) -> str:
        v = self.values
        return (
            f"{percentile(v, 0.5):.2f}/{percentile(v, 0.99):.2f}/{max(v):.2f}"
            if v
            else "-"
        )

    def line(self, what: str) -> str:
        v = self.values
        return (
            f"{what}: p50 {percentile(v, 0.5):.2f} s, p99 {percentile(v, 0.99):.2f} "
            f"s, max {max(v):.2f} s; later than one poll interval: {self.late}"
        )


def noticed(run: Run) -> Lags:
    """A status answer said "succeeded" (the target: within one interval)."""
    return Lags(run, lambda bot: bot.noticed, by_provider_id=True)


def shown(run: Run) -> Lags:
    """What a user sees: the video downloaded, saved and the status edited."""
    return Lags(run, lambda bot: bot.shown, by_provider_id=False)


def cpu(run: Run) -> float:
    return sum(bot.cpu_total for bot in run.bots)


def steady_bots(run: Run) -> list[Figures]:
    """The bots that had every task in flight for at least one poll interval
    (none when submitting took nearly as long as a task)."""
    return [bot for bot in run.bots if bot.wall_steady >= run.poll_interval]


def polling_cores(run: Run) -> float | None:
    bots = steady_bots(run)
    if len(bots) < len(run.bots):
        return None
    return sum(bot.cpu_steady / bot.wall_steady for bot in bots)


def queries_per_interval(run: Run) -> float | None:
    """Status queries per task per poll interval, while every task was in flight."""
    bots = steady_bots(run)
    if len(bots) < len(run.bots):
        return None
    rate = sum(bot.status_queries_steady / bot.wall_steady for bot in bots)
    return rate * run.poll_interval / run.tasks


def statements(run: Run) -> Counter[str]:
    """The store's SQL statements and calls by name, all bots together."""
    total: Counter[str] = Counter()
    for bot in run.bots:
        total.update(bot.statements)
    return total


def statements_per_task(run: Run) -> float:
    return sql_statements(statements(run)) / run.tasks


def deliveries(run: Run) -> Counter[str]:
    total: Counter[str] = Counter()
    for bot in run.bots:
        total.update(bot.deliveries)
    return total


def wrong_creates(run: Run) -> tuple[int, int]:
    """Tasks the simulator got no create for, and tasks it got several for."""
    prompts = [f"bench task {n}" for n in range(run.tasks)]
    missing = sum(1 for p in prompts if run.creates.get(p, 0) == 0)
    return missing, sum(1 for p in prompts if run.creates.get(p, 0) > 1)


def wrong_deliveries(run: Run) -> tuple[int, int]:
    """Tasks no bot delivered, and tasks delivered more than once (all bots)."""
    submitted = [task_id for bot in run.bots for task_id in bot.submitted]
    counts = deliveries(run)
    missing = sum(1 for t in submitted if counts[t] == 0)
    return missing, sum(1 for t in submitted if counts[t] > 1)


def growth_mb(bot: Figures) -> float:
    return (bot.rss_peak - bot.rss_base) / 1024


def block(run: Run) -> str:
    """Everything measured in one run, as the single-backend bench printed it."""
    lines = [
        f"== {run.label}: {run.tasks} tasks, poll interval {run.poll_interval} s, "
        f"simulated duration {run.duration} s, dialect {run.dialect}"
    ]
    if run.timed_out:
        lines.append("TIMED OUT waiting for every task to be delivered")
    for bot in run.bots:
        who = f"  [{bot.replica_id}] " if len(run.bots) > 1 else "  "
        lines += [
            f"{who}submitted {len(bot.submitted)} tasks in {bot.submit_wall:.1f} s "
            f"({bot.submit_cpu:.1f} CPU s); tracked: {bot.tracked_after_submit} "
            f"after submitting, {bot.tracked_steady} while polling",
            f"{who}RSS: base {bot.rss_base / 1024:.1f} MB, after submit "
            f"{bot.rss_submitted / 1024:.1f} MB, all in flight "
            f"{bot.rss_in_flight / 1024:.1f} MB, peak growth {growth_mb(bot):.1f} MB",
            f"{who}CPU: total {bot.cpu_total:.1f} s over {bot.wall_total:.1f} s = "
            f"{bot.cpu_total / max(bot.wall_total, 1e-9):.2f} core; "
            + (
                f"steady polling {bot.cpu_steady:.1f} s over {bot.wall_steady:.1f} "
                f"s = {bot.cpu_steady / bot.wall_steady:.2f} core"
                if bot.wall_steady >= run.poll_interval
                else "no steady polling: submitting took nearly as long as a task"
            ),
            f"{who}provider: {bot.creates_sent} creates sent, {bot.status_queries} "
            f"status queries ({bot.status_queries / run.tasks:.2f} per task of all "
            f"{run.tasks}); delivered {len(bot.deliveries)} tasks, "
            f"{bot.failed} failures among them",
        ]
        if len(run.bots) > 1:
            mine = set(bot.submitted)
            lines.append(
                f"{who}split: submitted {len(mine)}, delivered {len(bot.deliveries)} "
                f"({sum(1 for t in bot.deliveries if t in mine)} of its own, "
                f"{sum(1 for t in bot.deliveries if t not in mine)} submitted "
                "elsewhere)"
            )
    per_interval = queries_per_interval(run)
    if per_interval is not None:
        lines.append(
            f"status queries per task per poll interval while all were in flight: "
            f"{per_interval:.2f}"
        )
    counted = statements(run).most_common()
    sql = ", ".join(f"{k} {n / run.tasks:.2f}" for k, n in counted if is_statement(k))
    calls = ", ".join(
        f"{k} {n / run.tasks:.2f}" for k, n in counted if not is_statement(k)
    )
    steady = sum(bot.statements_steady for bot in run.bots)
    steady_wall = max((bot.wall_steady for bot in run.bots), default=0.0)
    lines.append(
        f"store statements: {statements_per_task(run):.2f} per task ({sql}); "
        f"{steady / max(steady_wall, 1e-9):.1f}/s while all were in flight; "
        f"besides, per task: {calls or 'none'}"
    )
    if run.postgres_transactions is not None:
        lines.append(
            f"PostgreSQL: {run.postgres_transactions / run.tasks:.2f} transactions "
            f"per task (pg_stat_database, every statement outside a transaction "
            f"is one), server backends {_maybe(run.postgres_cpu, '{:.1f}')} CPU s"
        )
    lines.append(
        f"simulator process: {run.simulator_cpu:.1f} CPU s; machine load average "
        f"{run.load_start:.1f} at start, {run.load_end:.1f} at end ({run.cpus} CPUs)"
    )
    no_create, creates_twice = wrong_creates(run)
    undelivered, delivered_twice = wrong_deliveries(run)
    lines.append(
        f"duplicates: {creates_twice} tasks created more than once at the simulator "
        f"({no_create} never created); {delivered_twice} delivered more than once "
        f"({undelivered} never delivered)"
    )
    for lags, what in ((noticed(run), "noticed"), (shown(run), "shown")):
        if lags:
            lines.append("  " + lags.line(f"{what}-complete lag"))
    return "\n".join(lines)


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def _per_bot(run: Run, value: Callable[[Figures], float], spec: str) -> str:
    parts = [spec.format(value(bot)) for bot in run.bots]
    return " / ".join(parts)


def table(runs: list[Run]) -> str:
    """The runs side by side; ratios are to the first run's bot CPU."""
    base = cpu(runs[0])
    base_all = base + (runs[0].postgres_cpu or 0.0)
    rows: list[tuple[str, list[str]]] = [
        ("", [run.label for run in runs]),
        (
            "bot CPU s, whole run (per replica)",
            [
                f"{cpu(r):.1f}"
                + (
                    f" ({_per_bot(r, lambda b: b.cpu_total, '{:.1f}')})"
                    if len(r.bots) > 1
                    else ""
                )
                for r in runs
            ],
        ),
        (f"  ratio to {runs[0].label}", [f"{cpu(r) / base:.2f}x" for r in runs]),
        ("PostgreSQL backends CPU s", [_maybe(r.postgres_cpu, "{:.1f}") for r in runs]),
        (
            f"  bot + backends, ratio to {runs[0].label}",
            [f"{(cpu(r) + (r.postgres_cpu or 0.0)) / base_all:.2f}x" for r in runs],
        ),
        (
            "cores while polling (sum)",
            [_maybe(polling_cores(r), "{:.2f}") for r in runs],
        ),
        (
            "peak RSS growth MB (per replica)",
            [_per_bot(r, growth_mb, "{:.1f}") for r in runs],
        ),
        (
            "status queries / task / interval",
            [_maybe(queries_per_interval(r), "{:.2f}") for r in runs],
        ),
        (
            "store statements / task",
            [f"{statements_per_task(r):.2f}" for r in runs],
        ),
        (
            "PostgreSQL transactions / task",
            [
                _maybe(
                    None
                    if r.postgres_transactions is None
                    else r.postgres_transactions / r.tasks,
                    "{:.2f}",
                )
                for r in runs
            ],
        ),
        ("noticed lag p50/p99/max s", [noticed(r).short() for r in runs]),
        ("  noticed later than interval", [str(noticed(r).late) for r in runs]),
        ("shown lag p50/p99/max s", [shown(r).short() for r in runs]),
        ("tasks created never / twice+", [_pair(wrong_creates(r)) for r in runs]),
        (
            "tasks delivered never / twice+",
            [_pair(wrong_deliveries(r)) for r in runs],
        ),
        (
            "submit wall s (per replica)",
            [_per_bot(r, lambda b: b.submit_wall, "{:.1f}") for r in runs],
        ),
        (
            "load average start/end",
            [f"{r.load_start:.1f}/{r.load_end:.1f}" for r in runs],
        ),
    ]
    first = max(len(name) for name, _ in rows)
    widths = [max(len(cells[i]) for _, cells in rows) for i in range(len(runs))]
    return "\n".join(
        name.ljust(first)
        + "".join(f"  {cell.rjust(w)}" for cell, w in zip(cells, widths, strict=True))
        for name, cells in rows
    )


def _pair(counts: tuple[int, int]) -> str:
    return f"{counts[0]} / {counts[1]}"
