from __future__ import annotations

import pytest


class LookupJudge:
    """A `RewardJudge` whose reward for a response is looked up in a dict (unknown text -> `default`)."""

    def __init__(self, table: dict[str, float], default: float = 0.0):
        self.table = table
        self.default = default
        self.calls: list[list] = []

    def rank_responses(self, groups):
        groups = list(groups)
        self.calls.append(groups)
        return [[self.table.get(r, self.default) for r in responses] for _, responses in groups]


@pytest.fixture
def lookup_judge():
    return LookupJudge
