"""The train and held-out pairs of a training run, as its config names them (files, `demo`, a seeded split)."""

from __future__ import annotations

import random
from typing import Any

from rewardlab.config import TrainConfig
from rewardlab.data.schema import DropReport, PreferencePair


def load_training_pairs(cfg: TrainConfig, log: Any) -> tuple[list[PreferencePair], list[PreferencePair], DropReport]:
    """Read train and held-out pairs; the held-out split is a seeded sample when no eval_data is given."""
    from rewardlab.data.readers import read_pairs

    def read(spec: str, split: str) -> tuple[list[PreferencePair], DropReport]:
        if spec == "demo":
            from rewardlab.data.demo import demo_path

            spec = str(demo_path("train" if split == "train" else "test"))
        return read_pairs(spec, split=split, on_invalid=cfg.on_invalid)

    train, report = read(cfg.data, cfg.data_split)
    log(f"read {cfg.data}: {report.summary()}")
    rng = random.Random(cfg.seed)
    if cfg.eval_data:
        held_out, eval_report = read(cfg.eval_data, cfg.eval_split)
        log(f"read {cfg.eval_data}: {eval_report.summary()}")
        report.merge(eval_report)
    elif cfg.data == "demo":
        held_out, eval_report = read("demo", "test")
    else:
        order = list(range(len(train)))
        rng.shuffle(order)
        n_eval = int(round(len(train) * cfg.eval_fraction))
        held_set = set(order[:n_eval])
        held_out = [train[i] for i in sorted(held_set)]
        train = [p for i, p in enumerate(train) if i not in held_set]
    if cfg.max_train_pairs is not None and len(train) > cfg.max_train_pairs:
        idx = sorted(rng.sample(range(len(train)), cfg.max_train_pairs))
        train = [train[i] for i in idx]
    if cfg.max_eval_pairs is not None and len(held_out) > cfg.max_eval_pairs:
        idx = sorted(random.Random(cfg.seed + 1).sample(range(len(held_out)), cfg.max_eval_pairs))
        held_out = [held_out[i] for i in idx]
    if not train and held_out and not cfg.eval_data:
        raise ValueError(f"all {len(held_out)} pairs of {cfg.data} were held out for evaluation (eval_fraction "
                         f"{cfg.eval_fraction}); lower --eval_fraction or pass --eval_data")
    if not train:
        raise ValueError(f"no valid training pairs in {cfg.data}:\n{report.summary()}")
    return train, held_out, report

