"""A small, learnable data set in nvidia/HelpSteer's exact row schema (``prompt, response, helpfulness,
correctness, coherence, complexity, verbosity``, ints 0-4), with some labels missing (None) as in partially
annotated data. There is no real HelpSteer data in this project; these rows are synthetic, for tests only."""

from __future__ import annotations

import json
import random
from pathlib import Path

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
