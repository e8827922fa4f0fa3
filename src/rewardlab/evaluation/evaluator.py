"""`evaluate(judge, benchmark, data)`: score a benchmark through any `RewardJudge` and aggregate the results."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.evaluation.aggregation import (
    best_of_n_outcome,
    overall_score,
    pairwise_outcomes,
    section_scores,
    tie_credit,
    ties_score_from_table,
    ties_table,
)
from rewardlab.evaluation.bootstrap import bootstrap_intervals, bootstrap_subset_samples
from rewardlab.evaluation.constants import (
    PRIOR_SETS,
    PRIOR_SETS_SECTION,
    PRIOR_SETS_SECTION_WEIGHTS,
    RB2_SECTION,
    RB2_SUBSETS,
    RB2_TIES_SUBSET,
    REWARDBENCH2_SPLIT,
    REWARDBENCH_SPLIT,
    SECTIONS,
    SUBSETS,
    WEIGHT_SETS,
)
from rewardlab.evaluation.loaders import BenchmarkRow, load_pairs, load_rewardbench, load_rewardbench2

BENCHMARKS = ("rewardbench", "rewardbench2", "pairs")


@dataclasses.dataclass
class RowScore:
    """A scored row: rewards in `BenchmarkRow.responses` order (chosen first) and the row's credit."""

    id: str
    subset: str
    rewards: list[float]
    num_chosen: int
    credit: float  # pairs: 1/0 (0.5 for a tie under 'half'); best-of-4: 1/k or 0; Ties: 1 if accurate else 0
    response_chars: list[int]


@dataclasses.dataclass
class EvalResult:
    benchmark: str
    model: str
    subset_scores: dict[str, float]
    counts: dict[str, int]
    sections: dict[str, float]
    overall: float
    intervals: dict[str, Any]
    tie_policy: str
    bootstrap_samples: int
    seed: int
    confidence: float
    rows: list[RowScore]
    warnings: list[str] = dataclasses.field(default_factory=list)
    dropped: dict[str, Any] | None = None
    weights: str = "leaderboard"  # the RewardBench v1 weight set (constants.WEIGHT_SETS) the sections used


def weight_set(name: str) -> dict[str, int]:
    if name not in WEIGHT_SETS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_SETS)}, got {name!r}")
    return WEIGHT_SETS[name]


_RB2_NAMES = {s.lower(): s for s in RB2_SUBSETS}


def subset_name(benchmark: str, subset: str) -> str:
    """RewardBench 2 subset names matched case-insensitively (upstream finds Ties by ``subset.lower()``)."""
    return _RB2_NAMES.get(subset.lower(), subset) if benchmark == "rewardbench2" else subset


def score_rows(
    judge: Any, rows: Sequence[BenchmarkRow], batch_size: int = 32, show_progress: bool = True
) -> list[list[float]]:
    """Rewards for every row through ``judge.rank_responses``, `batch_size` rows per call, with a progress bar."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    out: list[list[float]] = []
    with tqdm(total=len(rows), desc="evaluating", unit="row", disable=not show_progress) as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            ranked = judge.rank_responses([(list(r.context), r.responses) for r in batch])
            if len(ranked) != len(batch):
                raise ValueError(f"judge returned {len(ranked)} groups for {len(batch)}")
            for row, rewards in zip(batch, ranked, strict=True):
                rewards = [float(x) for x in rewards]
                if len(rewards) != len(row.responses):
                    raise ValueError(
                        f"row {row.id}: judge returned {len(rewards)} scores for {len(row.responses)} responses"
                    )
                if not all(math.isfinite(x) for x in rewards):
                    raise ValueError(f"row {row.id}: judge returned a non-finite score {rewards}")
                out.append(rewards)
            bar.update(len(batch))
    return out


def _row_credit(benchmark: str, row: BenchmarkRow, rewards: list[float], tie_policy: str) -> float:
    if benchmark == "rewardbench2":
        if subset_name(benchmark, row.subset) == RB2_TIES_SUBSET:
            k = len(row.chosen)
            return float(min(rewards[:k]) > max(rewards[k:]))
        return best_of_n_outcome(rewards)
    return float(pairwise_outcomes([rewards[0]], [rewards[1]], tie_policy)[0])


def scoring_layout(
    benchmark: str, counts: dict[str, int], weights_name: str = "leaderboard"
) -> tuple[dict[str, float], dict[str, tuple[str, ...]], dict[str, float] | None, list[str]]:
    """(subset weights, sections, section weights or None, warnings) for the subsets present; `weights_name`
    picks the RewardBench v1 subset weights (constants.WEIGHT_SETS)."""
    present = set(counts)
    if benchmark == "rewardbench":
        sections = {k: v for k, v in SECTIONS.items()}
        weights: dict[str, float] = {**{s: n for s, n in counts.items()}, **weight_set(weights_name)}
        section_weights = None
        if present & set(PRIOR_SETS):
            sections[PRIOR_SETS_SECTION] = PRIOR_SETS
            weights.update({s: 1.0 for s in PRIOR_SETS})  # upstream: unweighted mean of the four sets
            section_weights = PRIOR_SETS_SECTION_WEIGHTS
        warnings = []
        if missing := [s for s in SUBSETS if s not in present]:
            warnings.append(
                f"incomplete RewardBench: {len(missing)} of {len(SUBSETS)} subsets absent "
                f"({', '.join(missing)}); sections average the subsets present"
            )
        if unknown := sorted(present - set(SUBSETS) - set(PRIOR_SETS)):
            warnings.append(
                f"subsets outside the RewardBench sections (reported, not in the score): {', '.join(unknown)}"
            )
        return weights, sections, section_weights, warnings
    if benchmark == "rewardbench2":
        warnings = []
        if missing := [s for s in RB2_SUBSETS if s not in present]:
            warnings.append(f"incomplete RewardBench 2: absent subsets {', '.join(missing)}")
        if unknown := sorted(present - set(RB2_SUBSETS)):
            warnings.append(f"subsets outside RewardBench 2 (reported, not in the score): {', '.join(unknown)}")
        return {s: 1.0 for s in RB2_SUBSETS}, {RB2_SECTION: RB2_SUBSETS}, None, warnings
    ordered = tuple(sorted(present))
    return {s: float(n) for s, n in counts.items()}, {"All": ordered}, None, []


def aggregate(
    benchmark: str,
    rows: Sequence[BenchmarkRow],
    rewards: Sequence[Sequence[float]],
    tie_policy: str = "wrong",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    weights: str = "leaderboard",
) -> tuple[dict[str, float], dict[str, int], dict[str, float], float, dict[str, Any], list[RowScore], list[str]]:
    """Subset scores, counts, sections, overall, intervals, per-row scores and warnings (no model calls)."""
    scored = [
        RowScore(
            r.id,
            subset_name(benchmark, r.subset),
            list(rw),
            len(r.chosen),
            _row_credit(benchmark, r, list(rw), tie_policy),
            [len(t) for t in r.responses],
        )
        for r, rw in zip(rows, rewards, strict=True)
    ]
    by_subset: dict[str, list[RowScore]] = {}
    for s in scored:
        by_subset.setdefault(s.subset, []).append(s)
    counts = {k: len(v) for k, v in by_subset.items()}
    outcomes, tables = {}, {}
    for name, group in by_subset.items():
        if benchmark == "rewardbench2" and name == RB2_TIES_SUBSET:
            tables[name] = ties_table([(g.id, g.rewards, g.num_chosen) for g in group])
        else:
            outcomes[name] = np.array([g.credit for g in group])
    subset_scores = {k: float(v.mean()) for k, v in outcomes.items()}
    subset_scores.update({k: float(ties_score_from_table(t)) for k, t in tables.items()})
    order = {s: i for i, s in enumerate((*SUBSETS, *PRIOR_SETS, *RB2_SUBSETS))}  # section order, then by name
    subset_scores = dict(sorted(subset_scores.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    subset_weights, sections, section_weights, warnings = scoring_layout(benchmark, counts, weights)
    sec = section_scores(subset_scores, subset_weights, sections)
    overall = float(overall_score(sec, section_weights)) if sec else float("nan")
    samples = bootstrap_subset_samples(outcomes, bootstrap_samples, seed, tables)
    intervals = bootstrap_intervals(samples, subset_weights, sections, section_weights, confidence)
    return subset_scores, counts, sec, overall, intervals, scored, warnings


def load_benchmark(
    benchmark: str, data: str | None, split: str | None = None, limit: int | None = None
) -> tuple[list[BenchmarkRow], dict[str, Any] | None]:
    if benchmark == "rewardbench":
        return load_rewardbench(data, split or REWARDBENCH_SPLIT, limit), None
    if benchmark == "rewardbench2":
        return load_rewardbench2(data, split or REWARDBENCH2_SPLIT, limit), None
    if benchmark == "pairs":
        if not data:
            raise ValueError("benchmark 'pairs' needs a data file (--data FILE)")
        rows, report = load_pairs(data, split or "train", limit)
        return rows, report.to_dict()
    raise ValueError(f"benchmark must be one of {', '.join(BENCHMARKS)}, got {benchmark!r}")


def evaluate(
    judge: Any,
    benchmark: str,
    data: str | None = None,
    *,
    split: str | None = None,
    model_name: str = "",
    tie_policy: str = "wrong",
    weights: str = "leaderboard",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    batch_size: int = 32,
    limit: int | None = None,
    show_progress: bool = True,
) -> EvalResult:
    """Score `benchmark` ('rewardbench', 'rewardbench2' or 'pairs') with `judge` (a `RewardJudge`).

    `data` is a hub id, local file or `datasets` folder in the benchmark's hub schema (default: the official hub
    dataset; required for 'pairs'). Ties count as wrong unless ``tie_policy='half'`` (RewardBench 2 rows always
    use upstream's 1/k rule). `weights` names the RewardBench v1 subset weights: 'leaderboard' (upstream's today)
    or 'legacy-2024-09' (before 2024-09-10, for reproducing old model cards only).
    """
    tie_credit(tie_policy)  # validate before any model call
    weight_set(weights)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rows, dropped = load_benchmark(benchmark, data, split, limit)
    if not rows:
        raise ValueError(f"no rows to evaluate in {data or benchmark}")
    rewards = score_rows(judge, rows, batch_size, show_progress)
    subset_scores, counts, sections, overall, intervals, scored, warnings = aggregate(
        benchmark, rows, rewards, tie_policy, bootstrap_samples, seed, confidence, weights
    )
    if dropped and dropped.get("dropped"):
        warnings.append(f"{sum(dropped['dropped'].values())} invalid rows dropped while reading: {dropped['dropped']}")
    return EvalResult(
        benchmark,
        model_name,
        subset_scores,
        counts,
        sections,
        overall,
        intervals,
        tie_policy,
        bootstrap_samples,
        seed,
        confidence,
        scored,
        warnings,
        dropped,
        weights,
    )
