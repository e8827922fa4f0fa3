"""`rewardlab label`: score N candidate responses per prompt, keep the best-of-n and build preference pairs.

This closes the iterative-DPO / reward-model loop: a policy samples N responses per prompt, the reward model
scores them, and the output files feed the next round directly (pairs in `PreferencePair` record or TRL form,
with both rewards kept so a later step can filter or weight by the gap).

Any model kind labels: a reward model (Bradley-Terry, regression, multi-objective) by its reward per response;
a pairwise preference model by knockout tournaments (`knockout_labels`), since it only compares responses.

Input rows: ``{"prompt": str | messages, "responses": [str, ...], ...any other fields}``; other fields are
copied to every output row. Invalid rows stop the run with ``file:line: reason in field 'x'``
(``on_invalid="error"``) or are counted and reported (``"drop"``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardlab.data.schema import (
    DataError,
    DropReason,
    DropReport,
    RowRejected,
    make_pair,
    normalize_messages,
    validate_context,
)
from rewardlab.kinds.registry import kind_of

MODES = ("best_worst", "all_pairs")
PAIR_FORMATS = ("trl", "record")
INPUT_FIELDS = ("prompt", "responses")


def preference_pairs(rewards: Sequence[float], mode: str = "best_worst", margin: float = 0.0) -> list[tuple[int, int]]:
    """Index pairs ``(chosen, rejected)`` among one prompt's candidates, by reward.

    best_worst: the highest against the lowest (first index wins ties at the top, last at the bottom);
    all_pairs: every ordered pair. Either way a pair needs ``r_chosen - r_rejected > margin`` strictly, so
    ties never become pairs (they would teach the model nothing, or noise).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    n = len(rewards)
    if mode == "best_worst":
        if n < 2:
            return []
        best = max(range(n), key=lambda i: (rewards[i], -i))
        worst = min(range(n), key=lambda i: (rewards[i], -i))
        return [(best, worst)] if rewards[best] - rewards[worst] > margin else []
    return [(i, j) for i in range(n) for j in range(n) if rewards[i] - rewards[j] > margin]


def parse_label_row(row: Any) -> tuple[list[dict[str, str]], list[str]]:
    """``(context messages, responses)`` of one input row; raises `RowRejected` naming the field at fault."""
    if isinstance(row, RowRejected):
        raise row
    if not isinstance(row, dict):
        raise RowRejected(DropReason.UNKNOWN_FORMAT, "<row>", f"expected an object, got {type(row).__name__}")
    for key in INPUT_FIELDS:
        if row.get(key) is None:
            raise RowRejected(DropReason.MISSING_FIELD, key)
    prompt = row["prompt"]
    if isinstance(prompt, str):
        if not prompt.strip():
            raise RowRejected(DropReason.EMPTY, "prompt")
        context = [{"role": "user", "content": prompt}]
    else:
        context = normalize_messages(prompt, "prompt")
    validate_context(context, "prompt")
    responses = row["responses"]
    if not isinstance(responses, list):
        raise RowRejected(DropReason.BAD_TYPE, "responses", f"expected a list of strings, got {type(responses).__name__}")
    if not responses:
        raise RowRejected(DropReason.EMPTY, "responses", "no candidate responses")
    for i, r in enumerate(responses):
        if not isinstance(r, str):
            raise RowRejected(DropReason.BAD_TYPE, f"responses[{i}]", f"expected a string, got {type(r).__name__}")
        if not r.strip():
            raise RowRejected(DropReason.EMPTY, f"responses[{i}]")
    return context, responses


@dataclasses.dataclass
class RowLabels:
    """One prompt's labels: the best-of-n index and (chosen, rejected, fields) index pairs, and the fields that
    the best-of-n row and each pair record gain (rewards, or a pairwise model's probabilities)."""

    best: int
    best_fields: dict[str, Any]
    pairs: list[tuple[int, int, dict[str, Any]]]


Groups = Sequence[tuple[list[dict[str, str]], list[str]]]


def reward_labels(scorer: Any, groups: Groups, mode: str, margin: float) -> list[RowLabels]:
    """Labels from one number per response (`rank_responses`): best = the highest (the first of a tie), pairs by
    `preference_pairs`."""
    out = []
    for scores in scorer.rank_responses(groups):
        scores = [float(s) for s in scores]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        out.append(RowLabels(best, {"rewards": scores, "best_reward": scores[best]},
                             [(c, r, {"chosen_reward": scores[c], "rejected_reward": scores[r]})
                              for c, r in preference_pairs(scores, mode, margin)]))
    return out


def knockout_labels(judge: Any, groups: Groups, mode: str, margin: float) -> list[RowLabels]:
    """Labels from a pairwise preference model (`PairwiseJudge`): best = the knockout winner in both modes.

    best_worst: the pair (knockout winner, knockout loser), kept when their direct comparison agrees by more than
    the margin; all_pairs: every pair of responses compared, each kept in the direction the model prefers. Either
    way a pair needs ``P(chosen better) - P(rejected better) = 2p - 1 > margin`` (so a tie, p = 0.5, never
    becomes a pair), and records p as ``p_chosen_better``.
    """
    from rewardlab.kinds.pairwise import knockout_winners

    pairs: list[list[tuple[int, int, dict[str, Any]]]] = [[] for _ in groups]
    if mode == "all_pairs":
        matrices = judge.win_matrices(groups)  # every match already played: the knockout just reads them
        winners = knockout_winners([len(r) for _, r in groups],
                                   lambda matches: [float(matrices[g][a, b]) for g, a, b in matches])
        for g, m in enumerate(matrices):
            n = m.shape[0]
            pairs[g] = [(i, j, {"p_chosen_better": float(m[i, j])}) for i in range(n) for j in range(n)
                        if 2 * float(m[i, j]) - 1 > margin and i != j]
    else:
        ends = judge.best_and_worst(groups)
        winners = [w for w, _ in ends]
        decided = [(g, w, lo) for g, (w, lo) in enumerate(ends) if w != lo]  # w == lo: a single or all-tied group
        probs = judge.compare([(groups[g][0], groups[g][1][w], groups[g][1][lo]) for g, w, lo in decided])
        for (g, w, lo), p in zip(decided, probs):
            if 2 * p - 1 > margin:
                pairs[g].append((w, lo, {"p_chosen_better": p}))
    return [RowLabels(w, {"selection": "knockout"}, row_pairs) for w, row_pairs in zip(winners, pairs)]


@dataclasses.dataclass
class LabelReport:
    """What a labelling run read, dropped and wrote."""

    rows: int = 0
    labelled: int = 0
    pairs: int = 0
    rows_without_pair: int = 0  # every candidate within `margin` of the others (or a single candidate)
    drops: DropReport = dataclasses.field(default_factory=DropReport)

    def summary(self) -> str:
        lines = [f"labelled {self.labelled} of {self.rows} prompts -> {self.pairs} preference pairs "
                 f"({self.rows_without_pair} prompts gave no pair: candidates tied within the margin)"]
        if self.drops.total_dropped:
            lines.append(f"dropped {self.drops.total_dropped} invalid rows:")
            for reason, n in self.drops.dropped.most_common():
                lines.append(f"  - {reason}: {n} (e.g. {'; '.join(self.drops.examples.get(reason, []))})")
        return "\n".join(lines)


def _pair_record(pair: Any, fields: dict[str, Any], extras: dict[str, Any], pair_format: str) -> dict[str, Any]:
    record = pair.to_trl_record() if pair_format == "trl" else pair.to_record()
    return {**extras, **record, **fields}


def labeller_for(kind: Any) -> Any:
    """How a model of `kind` (a `rewardlab.kinds.registry.Kind`) labels: by its reward per response, or, for a
    kind that only compares (pairwise), by knockout comparisons."""
    return reward_labels if kind.gives_reward else knockout_labels


def label_file(scorer: Any, input_path: str, out_best: str | None = None, out_pairs: str | None = None,
               mode: str = "best_worst", margin: float = 0.0, pair_format: str = "trl", on_invalid: str = "error",
               chunk_rows: int = 256) -> LabelReport:
    """Score every candidate of `input_path` with `scorer` (any `RewardJudge`) and write the outputs atomically.

    out_best rows: the input row plus ``best_index``, ``best_response``, ``rewards``, ``best_reward`` (a pairwise
    model: ``selection: "knockout"`` instead of the rewards). out_pairs rows: ``PreferencePair.to_trl_record()``
    (or ``to_record()``) plus ``chosen_reward`` and ``rejected_reward`` (a pairwise model: ``p_chosen_better``)
    and the input row's other fields. Rows are scored `chunk_rows` at a time.
    """
    from rewardlab.data.readers import iter_rows
    from rewardlab.io_utils import atomic_write_text

    if out_best is None and out_pairs is None:
        raise ValueError("nothing to write: give out_best, out_pairs or both")
    if pair_format not in PAIR_FORMATS:
        raise ValueError(f"pair_format must be one of {PAIR_FORMATS}, got {pair_format!r}")
    if on_invalid not in ("error", "drop"):
        raise ValueError(f"on_invalid must be 'error' or 'drop', got {on_invalid!r}")
    preference_pairs([], mode, margin)  # validates mode and margin before any scoring
    report = LabelReport()
    source = Path(input_path).name
    best_lines: list[str] = []
    pair_lines: list[str] = []
    chunk: list[tuple[dict[str, Any], list[dict[str, str]], list[str]]] = []

    labeller = labeller_for(kind_of(scorer))

    def flush() -> None:
        labels = labeller(scorer, [(ctx, responses) for _, ctx, responses in chunk], mode, margin)
        for (row, ctx, responses), row_labels in zip(chunk, labels):
            best = row_labels.best
            best_lines.append(json.dumps({**row, "best_index": best, "best_response": responses[best],
                                          **row_labels.best_fields}, ensure_ascii=False))
            extras = {k: v for k, v in row.items() if k not in INPUT_FIELDS}
            made = 0
            for c, r, fields in row_labels.pairs:
                if responses[c] == responses[r]:  # duplicate samples: scores differ only by float noise
                    continue
                pair = make_pair(ctx, responses[c], responses[r], None, source)
                pair_lines.append(json.dumps(_pair_record(pair, fields, extras, pair_format), ensure_ascii=False))
                made += 1
            report.pairs += made
            report.rows_without_pair += made == 0
            report.labelled += 1
        chunk.clear()

    for where, row in iter_rows(input_path):
        report.rows += 1
        try:
            ctx, responses = parse_label_row(row)
        except RowRejected as e:
            if on_invalid == "error":
                raise DataError(f"{where}: {e}") from None
            report.drops.drop(e.reason, f"{where} ({e.field})")
            continue
        chunk.append((row, ctx, responses))
        if len(chunk) >= chunk_rows:
            flush()
    if chunk:
        flush()
    report.drops.kept = report.labelled
    if out_best is not None:
        atomic_write_text(out_best, "".join(line + "\n" for line in best_lines))
    if out_pairs is not None:
        atomic_write_text(out_pairs, "".join(line + "\n" for line in pair_lines))
    return report


def label_command(model: str, input: str, out_best: str | None = None, out_pairs: str | None = None,
                  mode: str = "best_worst", margin: float = 0.0, pair_format: str = "trl",
                  on_invalid: str = "error", device: str | None = None, dtype: str | None = None,
                  batch_size: int = 16, max_length: int | None = None, trust_remote_code: bool = False,
                  aggregation: str | None = None) -> int:
    """Load `model` (any kind, `load_scorer`), label `input`, print a summary. Returns the exit code.
    `aggregation` picks how a process model's step scores make the reward (default: the model's own)."""
    from rewardlab.kinds import load_scorer

    if out_best is None and out_pairs is None:
        raise ValueError("nothing to write: pass --out-best, --out-pairs or both")
    scorer = load_scorer(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                         batch_size=batch_size, max_length=max_length, show_progress=True, aggregation=aggregation)
    report = label_file(scorer, input, out_best, out_pairs, mode=mode, margin=margin, pair_format=pair_format,
                        on_invalid=on_invalid)
    print(report.summary(), file=sys.stderr)
    if scorer.truncated:
        print(f"{scorer.truncated} inputs were truncated from the left to the model's max_length", file=sys.stderr)
    for label, path in (("best-of-n", out_best), ("pairs", out_pairs)):
        if path:
            print(f"{label}: {path}", file=sys.stderr)
    return 0
