"""Reward-model kinds beyond the scalar Bradley-Terry model, each trained, saved, loaded and judged the same way.

- ``pairwise``: a causal LM answers "A" or "B" for a prompt and two responses (`rewardlab.kinds.pairwise`);
- ``regression``: multi-attribute regression with masked MSE, HelpSteer-style (`rewardlab.kinds.regression`);
- ``multi_objective``: ArmoRM-style ridge objectives + gating network (`rewardlab.kinds.multi_objective`);
- ``process``: a score per reasoning step, aggregated into the reward (`rewardlab.kinds.process`).

Every trained folder holds ``rewardlab_kind.json`` naming its kind; `load_judge(folder)` returns the matching
`RewardJudge` (a plain Bradley-Terry folder, which has no such file, loads as `RewardScorer`). Heavy imports
happen inside the functions, so importing this package stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rewardlab.kinds.folders import KIND_FILE, KINDS, read_kind_file, save_kind_folder, saved_kind, write_kind_file
from rewardlab.scoring import PAIRWISE_NO_REWARD, rank_with_scores

__all__ = ["KIND_FILE", "KINDS", "PAIRWISE_NO_REWARD", "load_judge", "load_scorer", "rank_with_scores", "read_kind_file",
           "save_kind_folder", "saved_kind", "score_command", "write_kind_file"]


def load_judge(folder: str | Path, device: str | None = None, **kwargs: Any) -> Any:
    """The `RewardJudge` for a trained folder of any kind (``rank_responses``; ``score`` where meaningful)."""
    kind = saved_kind(folder)
    if kind == "pairwise":
        from rewardlab.kinds.pairwise import PairwiseJudge

        return PairwiseJudge.from_pretrained(folder, device=device, **kwargs)
    if kind == "regression":
        from rewardlab.kinds.regression import RegressionScorer

        return RegressionScorer.from_pretrained(folder, device=device, **kwargs)
    if kind == "multi_objective":
        from rewardlab.kinds.multi_objective import MultiObjectiveScorer

        return MultiObjectiveScorer.from_pretrained(folder, device=device, **kwargs)
    if kind == "process":
        from rewardlab.kinds.process import ProcessScorer

        return ProcessScorer.from_pretrained(folder, device=device, **kwargs)
    from rewardlab.scoring import RewardScorer

    return RewardScorer.from_pretrained(str(folder), device=device, **kwargs)


def load_scorer(model: str, device: str | None = None, max_length: int | None = None, batch_size: int = 16,
                dtype: str | None = None, trust_remote_code: bool = False, max_tokens_per_batch: int | None = None,
                show_progress: bool = False, aggregation: str | None = None) -> Any:
    """What `score`, `serve` and `label` load: a `RewardScorer` for a Bradley-Terry folder or hub id, else the
    folder's kind (`load_judge`).

    `max_length` None means the model's own: the kind's training max_length, or 4096 for Bradley-Terry.
    Kind folders load in float32 (another `dtype` is an error); `trust_remote_code` does not apply to them (they
    hold standard architectures), and of the batching options they take `batch_size` (regression also
    `max_tokens_per_batch` and `show_progress`). `aggregation` (min, last, product, mean) replaces a process
    model's own way of turning step scores into the reward; other kinds refuse it.
    """
    kind = saved_kind(model)
    if aggregation is not None and kind != "process":
        raise ValueError(f"--aggregation applies to process reward models; {model} is a {kind} model")
    options: dict[str, Any] = {"batch_size": batch_size}
    if aggregation is not None:
        options["aggregation"] = aggregation
    if max_length is not None:
        options["max_length"] = max_length
    if kind == "bradley_terry":
        from rewardlab.scoring import RewardScorer

        return RewardScorer.from_pretrained(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code,
                                            max_tokens_per_batch=max_tokens_per_batch, show_progress=show_progress,
                                            **options)
    if dtype not in (None, "float32"):
        raise ValueError(f"{model} is a {kind} model folder, which loads in float32; drop --dtype {dtype}")
    if kind == "regression":
        options.update(max_tokens_per_batch=max_tokens_per_batch, show_progress=show_progress)
    return load_judge(model, device=device, **options)


def score_command(model: str, input_path: str, output_path: str | None = None, device: str | None = None,
                  batch_size: int = 16, max_length: int | None = None, dtype: str | None = None) -> int:
    """`rewardlab score`: load `model` (a Bradley-Terry model or a kind folder), score the file, report on stderr."""
    import sys

    from rewardlab.scoring import score_file

    if saved_kind(model) == "pairwise":  # before loading the model: the answer does not depend on it
        raise ValueError(f"{model}: {PAIRWISE_NO_REWARD}")
    scorer = load_scorer(model, device=device, dtype=dtype, batch_size=batch_size, max_length=max_length,
                         show_progress=True)
    n = score_file(scorer, input_path, output_path)
    folded = getattr(scorer, "system_folded", 0)  # the kinds' scorers without a ConversationEncoder: none
    print(f"scored {n} conversations -> {output_path or 'stdout'}"
          + (f" ({scorer.truncated} truncated from the left)" if scorer.truncated else "")
          + (f" ({folded} with the system prompt folded into the first user turn)" if folded else ""),
          file=sys.stderr)
    return 0
