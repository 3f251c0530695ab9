"""One job's run in this process: its method and engines, and when it may start another round.

Rounds are the unit of commit (each is stored whole, so a crash loses at most the rounds in flight, and the
target and quotas are settled under one lock), and they are small (a round's prompts). Concurrency follows
the fleet, not a fixed number of rounds: a job starts another round while

- the fleet has fewer than `READY_REQUESTS` of this job's requests waiting for a slot (`Fleet.waiting`):
  a few waiting means a slot that frees is filled at once; none waiting means every prompt it was given is
  on an endpoint, so the endpoints could take more (their limits grow while they keep up), and
- its target still needs more rounds than it has in flight, at the yield its committed rounds had (plus
  `SPARE_SHARE`), so a job near its target does not generate what it must then throw away, and
- rounds in flight are fewer than twice the rounds committed plus two: a slow start, since before the first
  commits the yield is unknown (a fleet reaches its full share in a few round times),
- and `INSTRUCTFORGE_ROUNDS_IN_FLIGHT` (the most rounds of one job at once) allows it.
"""

from __future__ import annotations

import math
import time

import anyio

from generators.engine import CompletionEngine
from generators.fleet import Fleet
from service.methods import GenerationMethod
from store.jobs import JobRecord

READY_REQUESTS = 32  # requests kept waiting behind the endpoints' limits, so a freed slot never waits on a round
SPARE_SHARE = 0.25  # rounds beyond what the target needs at the observed yield: a round's yield varies
RECHECK_S = 0.05  # how often a job waiting to start a round looks at the fleet again


class JobRun:
    """A job's method, engines, the rounds started and committed, and the lock their commits share."""

    def __init__(
        self,
        job: JobRecord,
        method: GenerationMethod,
        engines: tuple[CompletionEngine | None, CompletionEngine | None],
        max_rounds_in_flight: int,
    ) -> None:
        self.job_id, self.spec, self.method, self.method_name = job.id, job.spec, method, job.method
        self.job, self.read_at = job, 0.0  # the job as last read (read_at: monotonic), kept current by commits
        # The job's own clients; None: the holder's generation engine (read each round: it may restart).
        self.own_engine, self.judge_engine = engines
        self.next_round = job.progress.rounds  # a resumed job goes on from its committed rounds
        self.elapsed_before, self.started = job.progress.elapsed_s, time.monotonic()
        self.max_rounds_in_flight = max_rounds_in_flight
        self.in_flight = 0
        self.committed = 0  # rounds committed by this run
        self.produced = 0  # what they counted towards the target (tasks, judgements or answers)
        self.commit_lock = anyio.Lock()
        self.changed = anyio.Event()  # set when a round ends: a waiting start looks again at once

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def wants_another_round(self, job: JobRecord, fleet: Fleet | None) -> bool:
        """Whether to start a round now (see the module's docstring)."""
        if self.in_flight == 0:
            return True
        if self.in_flight >= min(self.max_rounds_in_flight, 2 * self.committed + 2):
            return False
        if self.in_flight >= self.rounds_needed(job.spec.target - job.accepted):
            return False
        return fleet is None or fleet.waiting(self.job_id) < READY_REQUESTS

    def rounds_needed(self, remaining: int) -> int:
        if self.committed == 0:
            return self.max_rounds_in_flight  # no yield known yet: the slow start bounds it
        per_round = max(self.produced / self.committed, 0.1)
        return math.ceil(remaining * (1 + SPARE_SHARE) / per_round) + 1

    def round_started(self) -> None:
        self.in_flight += 1

    def round_ended(self, produced: int | None) -> None:
        """A round is over: committed with what it produced, or None (it failed or was cancelled)."""
        self.in_flight -= 1
        if produced is not None:
            self.committed += 1
            self.produced += produced
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_for_change(self) -> bool:
        """Until a round ends (True) or RECHECK_S passes (False)."""
        with anyio.move_on_after(RECHECK_S):
            await self.changed.wait()
            return True
        return False
