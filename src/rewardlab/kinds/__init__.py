"""Reward-model kinds beyond the scalar Bradley-Terry model, each trained, saved, loaded and judged the same way.

- ``pairwise``: a causal LM answers "A" or "B" for a prompt and two responses (`rewardlab.kinds.pairwise`);
- ``regression``: multi-attribute regression with masked MSE, HelpSteer-style (`rewardlab.kinds.regression`);
- ``multi_objective``: ArmoRM-style ridge objectives + gating network (`rewardlab.kinds.multi_objective`);
- ``process``: a score per reasoning step, aggregated into the reward (`rewardlab.kinds.process`).

Each kind is declared once in `rewardlab.kinds.registry` (config, train function, loader, what it answers); every
verb looks it up there. Every trained folder holds ``rewardlab_kind.json`` naming its kind; `load_judge(folder)`
returns the matching `RewardJudge` (a plain Bradley-Terry folder, which has no such file, loads as
`RewardScorer`). Heavy imports happen inside the functions, so importing this package stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rewardlab.kinds.folders import KIND_FILE, KINDS, read_kind_file, save_kind_folder, saved_kind, write_kind_file
from rewardlab.kinds.registry import REGISTRY, Kind, get_kind, kind_of
from rewardlab.scoring import PAIRWISE_NO_REWARD, rank_with_scores

__all__ = ["KIND_FILE", "KINDS", "PAIRWISE_NO_REWARD", "REGISTRY", "Kind", "get_kind", "kind_of", "load_judge",
           "load_scorer", "rank_with_scores", "read_kind_file", "save_kind_folder", "saved_kind", "score_command",
           "write_kind_file"]


def load_judge(folder: str | Path, device: str | None = None, **kwargs: Any) -> Any:
    """The `RewardJudge` for a trained folder of any kind (``rank_responses``; ``score`` where meaningful): the
    registered loader of the folder's kind (`rewardlab.kinds.registry`)."""
    loader = get_kind(saved_kind(folder)).loader_class()
    return loader.from_pretrained(str(folder), device=device, **kwargs)


def load_scorer(model: str, device: str | None = None, max_length: int | None = None, batch_size: int = 16,
                dtype: str | None = None, trust_remote_code: bool = False, max_tokens_per_batch: int | None = None,
                show_progress: bool = False, aggregation: str | None = None) -> Any:
    """What `score`, `serve`, `label` and `eval` load: a `RewardScorer` for a Bradley-Terry folder or hub id, else
    the folder's kind (`load_judge`), given the options its registry entry takes (`Kind.load_options`).

    `max_length` None means the model's own: the kind's training max_length, or 4096 for Bradley-Terry.
    Kind folders load in float32 (another `dtype` is an error); `trust_remote_code` does not apply to them (they
    hold standard architectures), and of the batching options they take `batch_size` (regression also
    `max_tokens_per_batch` and `show_progress`). `aggregation` (min, last, product, mean) replaces a process
    model's own way of turning step scores into the reward; other kinds refuse it.
    """
    kind = get_kind(saved_kind(model))
    if aggregation is not None and "aggregation" not in kind.load_options:
        raise ValueError(f"--aggregation applies to process reward models; {model} is a {kind.name} model")
    if dtype not in (None, "float32") and "dtype" not in kind.load_options:
        raise ValueError(f"{model} is a {kind.name} model folder, which loads in float32; drop --dtype {dtype}")
    given = {"batch_size": batch_size, "max_length": max_length, "dtype": dtype, "trust_remote_code": trust_remote_code,
             "max_tokens_per_batch": max_tokens_per_batch, "show_progress": show_progress, "aggregation": aggregation}
    options = {k: given[k] for k in kind.load_options
               if not (k in ("max_length", "aggregation") and given[k] is None)}  # None: the model's own
    return kind.loader_class().from_pretrained(model, device=device, **options)


def score_command(model: str, input_path: str, output_path: str | None = None, device: str | None = None,
                  batch_size: int = 16, max_length: int | None = None, dtype: str | None = None) -> int:
    """`rewardlab score`: load `model` (a Bradley-Terry model or a kind folder), score the file, report on stderr."""
    import sys

    from rewardlab.scoring import score_file

    if not get_kind(saved_kind(model)).gives_reward:  # before loading the model: the answer does not depend on it
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
