"""What one generation round hands back to the service: the tasks to store and every rejection, with counts."""

from __future__ import annotations

import msgspec

from domain.annotations import Answer
from domain.quality import Judgement
from domain.records import NewTask, Rejection


class RoundResult(msgspec.Struct, frozen=True, kw_only=True):
    accepted: tuple[NewTask, ...]
    rejections: tuple[Rejection, ...]
    stages: dict[str, int]  # funnel counts: prompts, candidates, passed_filters, ..., accepted
    tokens: int
    judged: tuple[tuple[int, Judgement], ...] = ()  # a judge job's readings of stored tasks, by task id
    annotated: tuple[Answer, ...] = ()  # an annotate job's answers to stored tasks

    def keep_only(self, kept: list[NewTask], dropped: list[Rejection]) -> RoundResult:
        """The same round with only `kept` accepted and `dropped` added to its rejections."""
        stages = {**self.stages, "accepted": len(kept)}
        return msgspec.structs.replace(
            self, accepted=tuple(kept), rejections=(*self.rejections, *dropped), stages=stages
        )
