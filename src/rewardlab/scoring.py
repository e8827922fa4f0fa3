"""The shared scorer: one object that turns conversations into rewards, used by the CLI, the evaluator,
the server and the labeller.

`RewardJudge` is the interface the evaluator works through; `RewardScorer` (a scalar reward model) and
the pairwise preference model both implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

Message = dict[str, str]


@runtime_checkable
class RewardJudge(Protocol):
    """Anything that can rank candidate responses to a shared context.

    `rank_responses` takes groups ``(context_messages, [response_1, ..., response_n])`` and returns, per group,
    one number per response: higher means better; equal numbers mean a tie. A scalar reward model returns
    its rewards; a pairwise model returns e.g. win probabilities or round-robin win counts.
    """

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]: ...
