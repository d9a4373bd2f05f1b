"""One scheduler that carries every task from submission to the user's thread.

All in-flight tasks share a heap of due times, one loop that hands due tasks to a
fixed pool of workers (the pool size bounds concurrent provider calls), and per task
only a small ``Slot`` (ids, due time, counters, and the task as last shown, as one
JSON string). The full ``Task`` is read from the store and written back only when
its state changes; a change of progress alone is shown from the slot. So 10,000
tasks polled every 10 s cost little memory and no database reads or writes while
they merely advance.

Each step is persisted before the next one starts (submitted -> running ->
succeeded with the result on disk -> delivered), so a crash anywhere resumes at the
right step and, in normal operation, the user is told the outcome exactly once.

Replicas on one database share the tasks through leases: each task is carried by
the replica holding its lease, every save checks that lease in the same
statement, and the two steps that must never happen twice are claimed first (the
provider's name is saved before the create is sent; posting the outcome is a
``claim_once``), so a replica taking over never repeats them.

One module per job: ``scheduler`` (the heap, the slots and the workers),
``timing`` (when a slot falls due), ``policy`` (back-off, retry limits and failure
kinds, as pure functions), ``images`` (how a reference image is prepared),
``steps`` (submit, poll, fetch, fail, deliver), ``leases`` (renewal, heartbeats
and takeover) and ``tracker`` (the front the runtime, service and queue call).
"""

from bot.tracking.images import PrepareImage, upload_as_is
from bot.tracking.steps import OnFinished
from bot.tracking.tracker import Tracker

__all__ = ["OnFinished", "PrepareImage", "Tracker", "upload_as_is"]
