"""Write rewardlab's step-labelled demo set: arithmetic word problems with step-by-step solutions, some with one
injected wrong step (src/rewardlab/data/demo/process_{train,test}.jsonl, TRL's stepwise-supervision rows).

    python scripts/make_process_demo.py            # rewrites both files, byte for byte the same each run

Every problem gets one correct solution and two solutions with one injected error each, of three kinds:
- slip: an arithmetic result off by 1-9 ("14 + 5 = 21");
- copy: a number from the problem restated wrongly ("Mia starts with 13 stickers." when the problem says 12);
- operation: the wrong operation, computed correctly ("12 - 5 = 7" where the problem says "finds 5 more").
Later steps go on consistently from the wrong value. Labels follow Math-Shepherd: a step is correct (true) while
the solution can still reach the right answer, so the injected step and every step after it are false.
Problems of the test file never occur in the train file (their texts are checked).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "rewardlab" / "data" / "demo"
NAMES = [("Mia", "She"), ("Leo", "He"), ("Ava", "She"), ("Sam", "He"), ("Zoe", "She"), ("Omar", "He"),
         ("Lily", "She"), ("Ben", "He"), ("Nora", "She"), ("Raj", "He"), ("Ivy", "She"), ("Tom", "He")]
ITEMS = ["stickers", "marbles", "apples", "cards", "books", "shells", "pencils", "coins", "stamps", "cookies"]
ADD = ["buys {v} more", "finds {v} more", "gets {v} more from a friend", "wins {v} more"]
SUB = ["gives away {v}", "loses {v}", "uses {v}", "sells {v}"]
SYMBOL = {"+": "+", "-": "-", "*": "*"}


def apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def problem_chain(rng: random.Random) -> dict:
    """A problem as a start value and a chain of operations, with its text."""
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    if rng.random() < 0.3:  # packs: a * b first
        packs, per = rng.randint(2, 9), rng.randint(2, 12)
        start_text = f"{name} buys {packs} packs of {item} with {per} in each pack."
        ops = [("*", per)]
        start, first_step = packs, ("pack", packs, per)
    else:
        start = rng.randint(5, 40)
        start_text = f"{name} has {start} {item}."
        ops, first_step = [], ("start", start, None)
    value = apply(ops[0][0], start, ops[0][1]) if ops else start
    phrases = []
    for _ in range(rng.randint(1, 2) if ops else rng.randint(1, 3)):
        if value > 8 and rng.random() < 0.5:
            op, v = "-", rng.randint(1, min(value - 1, 30))
            phrases.append(rng.choice(SUB).format(v=v))
        else:
            op, v = "+", rng.randint(1, 30)
            phrases.append(rng.choice(ADD).format(v=v))
        ops.append((op, v))
        value = apply(op, value, v)
    joined = phrases[0] if len(phrases) == 1 else ", then ".join(phrases[:-1]) + " and then " + phrases[-1]
    text = f"{start_text} {pronoun} {joined}. How many {item} does {name} have now?"
    return {"name": name, "item": item, "start": start, "ops": ops, "first": first_step, "text": text}


def solution(p: dict, error: tuple[str, int] | None, rng: random.Random) -> tuple[list[str], list[bool]]:
    """Steps and labels; `error` = (kind, index of the operation it hits; -1 = the restated start)."""
    name, item = p["name"], p["item"]
    steps, labels = [], []
    wrong = False
    kind, at = error if error else (None, None)
    start = p["start"]
    if p["first"][0] == "start":
        said = start
        if kind == "copy" and at == -1:
            said = start + rng.choice([-1, 1]) * rng.randint(1, 5)
            wrong = True
        steps.append(f"{name} starts with {said} {item}.")
        labels.append(not wrong)
        value = said
    else:
        value = start  # the pack count; the first operation multiplies
    for k, (op, v) in enumerate(p["ops"]):
        use_op, use_v = op, v
        if kind == "copy" and at == k:
            use_v = v + rng.choice([-1, 1]) * rng.randint(1, 3) if v > 3 else v + rng.randint(1, 3)
        if kind == "operation" and at == k:
            use_op = {"+": "-", "-": "+", "*": "+"}[op]
        result = apply(use_op, value, use_v)
        if kind == "slip" and at == k:
            slipped = result + rng.choice([-1, 1]) * rng.randint(1, 9)
            result = slipped if slipped >= 0 else result + rng.randint(1, 9)
        if at == k and kind is not None:
            wrong = True
        sym = SYMBOL[use_op]
        if op == "*":
            steps.append(f"Each pack has {use_v} {item}, so {value} packs hold {value} {sym} {use_v} = {result} {item}.")
        elif op == "+":
            steps.append(f"After getting {use_v} more, {name} has {value} {sym} {use_v} = {result} {item}.")
        else:
            steps.append(f"After losing {use_v}, {name} has {value} {sym} {use_v} = {result} {item}.")
        labels.append(not wrong)
        value = result
    steps.append(f"The answer is {value}.")
    labels.append(not wrong)
    return steps, labels


def error_choices(p: dict) -> list[tuple[str, int]]:
    out = [("slip", k) for k in range(len(p["ops"]))] + [("operation", k) for k in range(len(p["ops"]))]
    out += [("copy", k) for k in range(len(p["ops"]))]
    if p["first"][0] == "start":
        out.append(("copy", -1))
    return out


def rows_for(p: dict, rng: random.Random) -> list[dict]:
    rows = []
    steps, labels = solution(p, None, rng)
    rows.append({"prompt": p["text"], "completions": steps, "labels": labels, "error": None})
    for kind, at in rng.sample(error_choices(p), 2):
        steps, labels = solution(p, (kind, at), rng)
        if all(labels):  # an injected change that happens to be harmless (never by construction; kept as a guard)
            continue
        rows.append({"prompt": p["text"], "completions": steps, "labels": labels, "error": kind})
    return rows


def main(num_train: int = 300, num_test: int = 60, seed: int = 20261203) -> None:
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {"train": [], "test": []}
    for split, n in (("train", num_train), ("test", num_test)):
        count = 0
        while count < n:
            p = problem_chain(rng)
            if p["text"] in seen:
                continue
            seen.add(p["text"])
            group = rows_for(p, rng)
            rng.shuffle(group)  # the correct solution is not always first
            splits[split].extend(group)
            count += 1
    for split, rows in splits.items():
        path = OUT / f"process_{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        wrong = sum(not all(r["labels"]) for r in rows)
        print(f"{path}: {len(rows)} solutions, {wrong} with an injected error")


if __name__ == "__main__":
    main()
