"""`rewardlab eval MODEL --benchmark rewardbench|rewardbench2|pairs [--data FILE]` as one plain function."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from rewardlab.data.schema import DataError
from rewardlab.evaluation.constants import MAX_LENGTH
from rewardlab.io_utils import AtomicDirectory, OutputRefused, check_output_path


def default_out_dir(model: str, benchmark: str) -> Path:
    """``MODEL/eval/BENCHMARK`` for a local model folder, else ``eval_results/<model id>/BENCHMARK``."""
    if Path(model).is_dir():
        return Path(model) / "eval" / benchmark
    return Path("eval_results") / re.sub(r"[^A-Za-z0-9._-]+", "__", model) / benchmark


def eval_command(
    model: str,
    benchmark: str = "rewardbench",
    data: str | None = None,
    out_dir: str | None = None,
    batch_size: int = 16,
    max_length: int = MAX_LENGTH,
    tie_policy: str = "wrong",
    weights: str = "leaderboard",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    split: str | None = None,
    limit: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    update_card: bool = False,
    plot: bool = True,
    show_progress: bool = True,
    judge: Any | None = None,
    overwrite: bool = False,
) -> int:
    """Evaluate `model` on `benchmark`, write results.json / results.md / scores.jsonl / report.png (and for
    RewardBench upstream's flat metrics.json) into `out_dir`, optionally update the model folder's README
    "## Evaluation" section. Returns an exit code: 0 success, 2 bad input (data, arguments), 1 a failure while
    scoring. `max_length` defaults to upstream's 2048 tokens, as the CLI does; `weights` names the RewardBench
    v1 subset weights ('leaderboard', or 'legacy-2024-09' to reproduce model cards from before 2024-09-10).

    `judge` replaces the model (any `RewardJudge`; used by tests and by callers holding a loaded scorer).
    The results folder is checked before scoring and replaced whole (no stale files from an earlier run); one
    holding files rewardlab did not write is refused unless `overwrite`.
    """
    from rewardlab.evaluation.evaluator import evaluate
    from rewardlab.evaluation.writers import (
        BENCHMARK_TITLES,
        markdown_table,
        read_section,
        replace_section,
        update_model_card,
        write_results,
    )
    from rewardlab.kinds import get_kind, saved_kind

    if update_card and not Path(model).is_dir():
        print(f"error: --update-card needs a local model folder, got {model!r}", file=sys.stderr)
        return 2
    out = Path(out_dir) if out_dir is not None else default_out_dir(model, benchmark)
    try:
        check_output_path(out_dir if out_dir is not None else out, overwrite=overwrite, inputs=(model, data),
                          what="results folder")
    except OutputRefused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        model_type = get_kind(saved_kind(model)).upstream_model_type  # upstream's label, for its flat results file
        if judge is None:
            from rewardlab.scoring import RewardScorer

            judge = RewardScorer.from_pretrained(
                model,
                device=device,
                dtype=dtype,
                trust_remote_code=trust_remote_code,
                max_length=max_length,
                batch_size=batch_size,
            )
        # Several scorer batches per call, so the scorer can sort a larger window by length.
        result = evaluate(
            judge,
            benchmark,
            data,
            split=split,
            model_name=model,
            tie_policy=tie_policy,
            weights=weights,
            bootstrap_samples=bootstrap_samples,
            seed=seed,
            batch_size=max(4 * batch_size, 32),
            limit=limit,
            show_progress=show_progress,
        )
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with AtomicDirectory(out, overwrite=overwrite, command="eval", inputs=(model, data)) as tmp:
        paths = write_results(result, tmp, model_type=model_type)
        if plot:
            from rewardlab.evaluation.plots import plot_report

            paths["report"] = plot_report(result, tmp / "report.png")
    paths = {kind: out / Path(p).relative_to(tmp) for kind, p in paths.items()}
    table = markdown_table(result)
    truncated = getattr(judge, "truncated", 0)
    if truncated:
        print(f"note: {truncated} conversations were truncated from the left to {max_length} tokens", file=sys.stderr)
    folded = getattr(judge, "system_folded", 0)
    if folded:
        print(f"note: {folded} conversations had their system prompt folded into the first user turn (the chat "
              "template renders no system turn)", file=sys.stderr)
    if update_card:
        title = BENCHMARK_TITLES[benchmark]
        readme = Path(model) / "README.md"
        current = read_section(readme.read_text(encoding="utf-8"), "## Evaluation") if readme.exists() else ""
        body = replace_section(current, f"### {title}", table + f"\nFull results: `{out / 'results.json'}`\n")
        paths["card"] = update_model_card(model, body)
    print(table)
    for kind, p in paths.items():
        print(f"{kind}: {p}")
    return 0
