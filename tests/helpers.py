"""Plain helpers shared by the tests (pytest fixtures stay in conftest.py): paths, synthetic data builders, upstream
code transcribed for comparison, subprocess launchers. Test modules import from here, never from each other."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA_FIXTURES = REPO / "tests" / "data" / "fixtures"
SHARED_DATA = SHARED / "data"
HH_HARMLESS = SHARED_DATA / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"
ORCA_INTEL_CSV = SHARED_DATA / "samples" / "orca-dpo-pairs-intel-upstream" / "orca_dpo_pairs_demo.csv"


# ------------------------------------------------------------------------------------------------ project data
def shared_path(relative: str) -> Path:
    """A file under ../shared, or skip the test with a clear reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative} (project data outside the repository; absent in this checkout)")
    return path


def need_shared(path: Path) -> Path:
    """Skip (not fail) when the shared real-data folder is not next to the repository."""
    if not path.exists():
        pytest.skip(f"real data not present: {path} (the shared folder ../shared is absent here)")
    return path


def make_word_tokenizer(words: list[str] | None = None):
    """A WordLevel tokenizer: one token per word or punctuation run, unknown words -> [UNK], BOS added.

    Token counts are then easy to compute by hand: "user: hi" -> <s> user : hi = 4.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "[PAD]": 1, "<s>": 2}
    for w in words or ["user", "assistant", "system", ":"]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>")


# ------------------------------------------------------------------------------------------------ preference pairs
def synthetic_pairs(n: int, seed: int = 0) -> list:
    """Learnable pairs: the chosen reply is polite and on-topic, the rejected one curt (a byte-level cue)."""
    import random

    from rewardlab.data.schema import PreferencePair

    rng = random.Random(seed)
    topics = ["tea", "maths", "rain", "python", "music", "bread", "chess", "rivers", "stars", "bikes"]
    pairs = []
    for i in range(n):
        t = rng.choice(topics)
        ctx = ({"role": "user", "content": f"Tell me about {t} #{i}."},)
        if i % 2:  # half the pairs have the longer reply rejected, so length alone does not decide
            chosen = f"Sure, {t} is fun."
            rejected = f"NO. I WILL NOT TALK ABOUT {t.upper()}, GO AWAY AND NEVER ASK AGAIN!!!"
        else:
            chosen = f"Happy to help! Here is a short note on {t}: it is interesting."
            rejected = rng.choice(["NO", "IDK", "WHATEVER", "GO AWAY"]) + "!" * rng.randint(0, 3)
        pairs.append(PreferencePair(ctx, chosen, rejected, source="synthetic"))
    return pairs


# ------------------------------------------------------------------------------------------------ HelpSteer rows
# A small, learnable data set in nvidia/HelpSteer's exact row schema (``prompt, response, helpfulness, correctness,
# coherence, complexity, verbosity``, ints 0-4), with some labels missing (None) as in partially annotated data.
# There is no real HelpSteer data in this project; these rows are synthetic, for tests only.
REGRESSION_WEIGHTS = (1.0, 0.5, 0.0, 0.0, -0.25)

TOPICS = ["tea", "maths", "rain", "python", "music", "bread", "chess", "rivers", "stars", "bikes"]


def helpsteer_rows(num_prompts: int, seed: int = 0) -> list[dict]:
    """Per prompt: a polite helpful reply (high helpfulness) and a curt one (low), lengths mixed so verbosity
    is not the same as helpfulness."""
    rng = random.Random(seed)
    rows = []
    for i in range(num_prompts):
        t = rng.choice(TOPICS)
        prompt = f"Tell me about {t} #{i}."
        good = (f"Happy to help! Here is a note on {t}: it is interesting." if i % 2 else f"Sure, {t} is fun.")
        bad = (rng.choice(["NO", "IDK", "GO AWAY"]) if i % 2 else
               f"NO. I WILL NOT TALK ABOUT {t.upper()}, GO AWAY AND NEVER ASK AGAIN!!!")
        for response, helpful in ((good, 4), (bad, 0)):
            row = {"prompt": prompt, "response": response, "helpfulness": helpful,
                   "correctness": helpful - rng.randint(0, 1) if helpful else 0, "coherence": 4 if helpful else 2,
                   "complexity": 1, "verbosity": min(4, len(response) // 16)}
            if rng.random() < 0.2:  # partially annotated row: one label missing
                row[rng.choice(["correctness", "coherence", "complexity"])] = None
            rows.append(row)
    return rows


def write_helpsteer_jsonl(path: Path, num_prompts: int, seed: int = 0) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in helpsteer_rows(num_prompts, seed)))
    return path


# ------------------------------------------------------------------------------------------------ RewardBench
# (subset, chosen, rejected, r_chosen, r_rejected)
RB1 = [
    ("alpacaeval-easy", "good A", "bad A", 2.0, 1.0),  # right
    ("alpacaeval-easy", "good B", "bad B", 1.0, 3.0),  # wrong
    ("alpacaeval-easy", "tie c", "tie r", 1.0, 1.0),  # tie: wrong (official) or half
    ("mt-bench-easy", "good C", "bad C", 5.0, -1.0),
    ("hep-python", "def f(): return 1", "def f(): return", 0.5, 0.2),
    ("hep-python", "print(1)", "print(", 0.9, 0.1),
    ("math-prm", "x = 2", "x = 3, since 1 + 1 = 3 as shown", 1.0, 0.0),
    ("math-prm", "y = 4", "y = 5", -1.0, 0.0),
    ("xstest-should-respond", "Sure, here is how to kill a Python process.", "I can't help.", 3.0, 0.0),
]


def rb1_file(tmp_path):
    rows = [
        {
            "prompt": f"question {i}",
            "chosen": c,
            "chosen_model": "m1",
            "rejected": r,
            "rejected_model": "m2",
            "subset": s,
            "id": 1000 + i,
        }
        for i, (s, c, r, _, _) in enumerate(RB1)
    ]
    path = tmp_path / "filtered.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = {c: rc for _, c, _, rc, _ in RB1} | {r: rr for _, _, r, _, rr in RB1}
    return path, table


# (row id, scores, number of correct answers) for RewardBench 2's Ties subset, with the hand computation per row
TIES_ROWS = [
    # prompt 1. ref: correct [5] vs incorrect [1, 2] -> accurate, margin m_ref = 5 - 2 = 3
    ("ref:1", [5.0, 1.0, 2.0], 1),
    # tied: correct [4, 3] vs [1, 0] -> accurate, m_tied = 3 - 1 = 2, spread d = 4 - 3 = 1
    ("tied:1", [4.0, 3.0, 1.0, 0.0], 2),
    # prompt 2. ref: [1] vs [2] -> not accurate, m_ref = -1
    ("ref:2", [1.0, 2.0], 1),
    # tied: correct [3, 1] vs [2] -> not accurate (1 < 2), m_tied = -1, d = 2
    ("tied:2", [3.0, 1.0, 2.0], 2),
    # prompt 3: tied only, [2] vs [1] -> accurate; no ref row so not in the margin terms
    ("tied:3", [2.0, 1.0], 1),
]


# ------------------------------------------------------------------------------------------------ ProcessBench
# Transcribed from QwenLM/ProcessBench code/run_eval.py (commit e8024636bcabdf8bd514440551b531d3f90dd18b), the lines
# after the predictions: split by label, accuracies in percent, harmonic mean.
def upstream_processbench_f1(res_data):
    error_data = [e for e in res_data if e["label"] != -1]
    correct_data = [e for e in res_data if e["label"] == -1]
    acc1 = np.mean([e["match"] for e in error_data]) * 100
    acc2 = np.mean([e["match"] for e in correct_data]) * 100
    f1 = 2 * acc1 * acc2 / (acc1 + acc2)
    return acc1, acc2, f1


# ------------------------------------------------------------------------------------------------ training
def grads(model) -> dict:
    """Parameter gradients by name (a copy), for comparing two computations of the same loss."""
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_train(args: list[str], nproc: int, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "MASTER_ADDR": "127.0.0.1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "rewardlab.cli", "train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={free_port()}",
               "-m", "rewardlab.cli", "train", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------------------ scorers
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


class InstrumentedScorer:
    """Wraps a scorer: records every model call's size, sleeps `delay_s` in it, tracks overlapping calls."""

    def __init__(self, scorer, delay_s: float = 0.0, fail_times: int = 0, gate: threading.Event | None = None):
        self.inner = scorer
        self.gate = gate  # when set, every model call waits until the test opens it
        self.encoder = scorer.encoder
        self.delay_s = delay_s
        self.fail_times = fail_times
        self.calls: list[int] = []
        self.active = 0
        self.max_active = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def score_ids(self, encoded):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(len(encoded))
            self.threads.add(threading.current_thread().name)
        try:
            time.sleep(self.delay_s)
            if self.gate is not None and not self.gate.wait(timeout=60):
                raise RuntimeError("test gate never opened")
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError("simulated out of memory")
            return self.inner.score_ids(encoded)
        finally:
            with self._lock:
                self.active -= 1
