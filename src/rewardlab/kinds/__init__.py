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

import json
from pathlib import Path
from typing import Any

KIND_FILE = "rewardlab_kind.json"
KINDS = ("bradley_terry", "pairwise", "regression", "multi_objective", "process")
PAIRWISE_NO_REWARD = ("this is a pairwise preference model: it compares two responses to a prompt and gives no "
                      "reward to a single response. Compare responses instead: `rewardlab label` (best-of-n by "
                      "knockout, chosen/rejected pairs), `rewardlab eval`, or POST /compare on `rewardlab serve`")


def write_kind_file(folder: str | Path, kind: str, config: dict[str, Any], **extra: Any) -> None:
    """Record the kind (and what its loader needs) inside a model folder."""
    from rewardlab.io_utils import atomic_write_json

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    atomic_write_json(Path(folder) / KIND_FILE, {"kind": kind, "config": config, **extra})


def save_kind_folder(out: str | Path, model: Any, tokenizer: Any, kind: str, config: dict[str, Any],
                     training_record: dict[str, Any], extra_tensors: dict[str, Any] | None = None,
                     overwrite: bool = False, **kind_extra: Any) -> Path:
    """Write a trained model folder of any kind atomically: weights (safetensors), tokenizer, optional extra
    tensor files (name -> state dict), the kind record and training_summary.json. Returns the folder. A folder
    rewardlab wrote is replaced whole; one holding other files is refused unless `overwrite` (io_utils)."""
    import json

    from safetensors.torch import save_file

    from rewardlab.io_utils import AtomicDirectory
    from rewardlab.modeling.saving import make_readable, save_model_folder

    out = Path(out)
    with AtomicDirectory(out, overwrite=overwrite, command=f"train --kind {kind}") as tmp:
        save_model_folder(model, tokenizer, tmp)
        for name, tensors in (extra_tensors or {}).items():
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / name))
        write_kind_file(tmp, kind, config, **kind_extra)
        (tmp / "training_summary.json").write_text(json.dumps(training_record, indent=2, default=str) + "\n")
        make_readable(tmp)  # the extra safetensors files too
    return out


def read_kind_file(folder: str | Path) -> dict[str, Any]:
    """The folder's kind record; a folder without one is a plain Bradley-Terry reward model."""
    path = Path(folder) / KIND_FILE
    if not path.exists():
        return {"kind": "bradley_terry"}
    record = json.loads(path.read_text())
    if record.get("kind") not in KINDS:
        raise ValueError(f"{path}: unknown kind {record.get('kind')!r}; expected one of {', '.join(KINDS)}")
    return record


def saved_kind(folder: str | Path) -> str:
    return read_kind_file(folder)["kind"] if Path(folder).is_dir() else "bradley_terry"


def rank_with_scores(score: Any, groups: Any) -> list[list[float]]:
    """`RewardJudge.rank_responses` for any per-conversation ``score(conversations) -> list[float]``."""
    conversations, sizes = [], []
    for context, responses in groups:
        sizes.append(len(responses))
        conversations.extend([*context, {"role": "assistant", "content": r}] for r in responses)
    flat = list(score(conversations)) if conversations else []
    out, k = [], 0
    for n in sizes:
        out.append(flat[k : k + n])
        k += n
    return out


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
