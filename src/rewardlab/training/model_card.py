"""The model card (README.md) written beside a trained reward model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rewardlab.metrics import interval_note

CARD = """---
library_name: transformers
pipeline_tag: text-classification
tags:
- reward-model
- rlhf
- rewardlab
{base_model_line}---

# Reward model trained with rewardlab

A Bradley-Terry reward model (`AutoModelForSequenceClassification`, one label) fine-tuned from
{base_model} with rewardlab on {data}. The reward of a conversation is the
score-head output at its last token, after the tokenizer's chat template.

## Training data
- training pairs: {num_train} ({data}); held-out pairs: {num_eval} ({eval_data})
- rows dropped while reading: {dropped}
- conversations truncated from the left to {max_length} tokens: {truncated}
- pairs whose system prompt was folded into the first user turn (the chat template renders no system turn): {folded}

## Hyperparameters
| setting | value |
|---|---|
{hparams}

## Held-out accuracy
| model | accuracy | 95% bootstrap interval | pairs |
|---|---|---|---|
{accuracy_rows}

## Use
```python
from rewardlab.scoring import RewardScorer
scorer = RewardScorer.from_pretrained("{path}")
scorer.score([[{{"role": "user", "content": "Hi"}}, {{"role": "assistant", "content": "Hello! How can I help?"}}]])
```
or `rewardlab score {path} conversations.jsonl`. The recipe's `pipeline("sentiment-analysis", ...)` snippet also
works and returns the raw reward (the config's `problem_type` is `regression`, so no sigmoid is applied): format
the conversation with `tokenizer.apply_chat_template(..., tokenize=False)` first. In TRL, pass the folder as
`GRPOTrainer(reward_funcs="{path}")`.{bos_note}
"""

HPARAMS = ("learning_rate", "batch_size", "micro_batch_size", "num_epochs", "max_steps", "lr_scheduler",
           "warmup_ratio", "weight_decay", "max_length", "precision", "gradient_checkpointing",
           "center_rewards_coefficient", "seed")


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def base_model_hub_id(name: str) -> str | None:
    """The hub id behind a `model` setting, or None where there is none to name (a local folder of unknown origin).

    An embedded model -> the repository it was quantised from; a folder in the Hugging Face cache
    (``models--org--name/snapshots/<sha>``) -> ``org/name``; a local folder whose card names a ``base_model`` ->
    that; a hub id -> itself. A local path is never returned: it means nothing on another machine.
    """
    from rewardlab.modeling.embedded import EMBEDDED_HUB_IDS

    if name.lower() in EMBEDDED_HUB_IDS:
        return EMBEDDED_HUB_IDS[name.lower()]
    path = Path(name).expanduser()
    for part in path.parts:
        if part.startswith("models--") and "--" in part[len("models--"):]:
            return part[len("models--"):].replace("--", "/", 1)
    if path.exists():
        card = path / "README.md"
        if card.is_file():
            m = re.search(r"^base_model:\s*(\S+)\s*$", card.read_text(errors="replace"), re.MULTILINE)
            if m and _HUB_ID.fullmatch(m.group(1)):
                return m.group(1)
        return None
    return name if _HUB_ID.fullmatch(name) else None


def _moe_rows(summary: dict[str, Any]) -> list[str]:
    """A mixture of experts: its routing and the router load-balancing loss it was trained with."""
    moe = summary.get("moe")
    if not moe:
        return []
    return [f"| experts (top-k) | {moe['num_experts']} (top-{moe['top_k']}) |",
            f"| router_aux_loss_coef | {moe['router_aux_loss_coef']} |"]


def render_model_card(config: dict[str, Any], summary: dict[str, Any], path: str) -> str:
    rows = []
    for label, key in (("untrained", "eval_before"), ("trained", "eval_after")):
        e = summary.get(key)
        if e:
            note = interval_note(e["num_pairs"], e["accuracy_ci_low"], e["accuracy_ci_high"])
            interval = f"– ({note})" if note else f"[{e['accuracy_ci_low']:.4f}, {e['accuracy_ci_high']:.4f}]"
            rows.append(f"| {label} | {e['accuracy']:.4f} | {interval} | {e['num_pairs']} |")
    bos_note = ""
    if summary.get("bos_is_turn_marker"):
        bos_note = (f"\nNote: this tokenizer's BOS token `{summary['bos_token']}` also opens every chat turn and is "
                    "not added by the tokenizer, so do NOT strip it from the text (the recipe's "
                    "`.replace(bos_token, \"\")` would delete the turn markers).")
    hub_id = base_model_hub_id(str(config["model"]))
    return CARD.format(
        base_model_line=f"base_model: {hub_id}\n" if hub_id else "",
        base_model=f"`{hub_id}`" if hub_id else f"a local model folder (`{Path(str(config['model'])).name}`)",
        data=config["data"],
        eval_data=config.get("eval_data") or f"{config['eval_fraction']:.0%} of the training data, seeded",
        num_train=summary.get("num_train_pairs"),
        num_eval=summary.get("num_eval_pairs"),
        dropped=summary.get("dropped_rows", {}) or "none",
        max_length=config["max_length"],
        truncated=summary.get("truncated_conversations", 0),
        folded=summary.get("system_folded_pairs", 0),
        hparams="\n".join([f"| {k} | {config.get(k)} |" for k in HPARAMS] + _moe_rows(summary)),
        accuracy_rows="\n".join(rows) or "| (no held-out pairs) | | | |",
        path=path,
        bos_note=bos_note,
    )
