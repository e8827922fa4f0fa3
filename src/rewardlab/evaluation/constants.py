"""The numbers that define RewardBench v1 and v2, as data.

Checked against allenai/reward-bench at 05a9005 (2026-01-31): `rewardbench/constants.py`,
`analysis/get_benchmark_results.py`, `rewardbench/utils.py`, `scripts/run_rm.py`, `scripts/run_v2.py`;
and the dataset cards of allenai/reward-bench and allenai/reward-bench-2.
"""

from __future__ import annotations

REWARDBENCH_DATASET = "allenai/reward-bench"
REWARDBENCH_SPLIT = "filtered"
REWARDBENCH2_DATASET = "allenai/reward-bench-2"
REWARDBENCH2_SPLIT = "test"
MAX_LENGTH = 2048  # tokens; upstream scripts/run_rm.py and run_v2.py `--max_length` default

SECTIONS: dict[str, tuple[str, ...]] = {
    "Chat": ("alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"),
    "Chat Hard": (
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ),
    "Safety": (
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ),
    "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}
SUBSETS: tuple[str, ...] = tuple(s for subsets in SECTIONS.values() for s in subsets)

# Rows per subset in the `filtered` split (2,985 in all).
ROW_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "xstest-should-refuse": 154,
    "xstest-should-respond": 250,
    "donotanswer": 136,
    "math-prm": 447,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}

# The weights upstream averages subset accuracies with (`EXAMPLE_COUNTS` in allenai/reward-bench
# `rewardbench/constants.py`), copied value for value so that our section scores equal the leaderboard's: the row
# counts, except math-prm, up-weighted to 984 (= 6 x 164) so math weighs as much as the six code subsets together.
LEADERBOARD_WEIGHTS: dict[str, int] = {**ROW_COUNTS, "math-prm": 984}

# Upstream's weights before commit 6552e93 (2024-09-10, "Mirror change from leaderboard (#175)"): the two XSTest
# weights swapped (250 for should-refuse, 154 for should-respond), which moves Safety by up to ~9 points. Model
# cards published before that date used them (Skywork-Reward-Gemma-2-27B: Safety 92.0 with them, 91.9 today);
# for reproducing such old numbers only.
LEGACY_2024_09_WEIGHTS: dict[str, int] = {
    **LEADERBOARD_WEIGHTS,
    "xstest-should-refuse": 250,
    "xstest-should-respond": 154,
}

# Named weight sets for `rewardlab eval --weights NAME` (RewardBench v1 sections).
WEIGHT_SETS: dict[str, dict[str, int]] = {"leaderboard": LEADERBOARD_WEIGHTS, "legacy-2024-09": LEGACY_2024_09_WEIGHTS}

# Old leaderboard: a fifth section, the unweighted mean of four prior preference test sets
# (allenai/pref-test-sets), counted at half the weight of each of the four core sections.
PRIOR_SETS_SECTION = "Prior Sets"
PRIOR_SETS: tuple[str, ...] = ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")
PRIOR_SETS_SECTION_WEIGHTS: dict[str, float] = {
    "Chat": 2,
    "Chat Hard": 2,
    "Safety": 2,
    "Reasoning": 2,
    PRIOR_SETS_SECTION: 1,
}

# RewardBench 2 (split `test`, 1,865 rows): one chosen and three rejected per row (best-of-4), except Ties,
# whose rows hold several correct answers and are scored by `ties_score`. Leaderboard = mean of the six.
RB2_SUBSETS: tuple[str, ...] = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
RB2_TIES_SUBSET = "Ties"  # upstream (scripts/run_v2.py) picks it out with `subset.lower() == "ties"`
RB2_SECTION = "RewardBench 2"

TIE_POLICIES: dict[str, float] = {"wrong": 0.0, "half": 0.5}  # credit a pair gets when r_chosen == r_rejected
