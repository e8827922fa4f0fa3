"""Published RewardBench v1 per-subset accuracies (allenai/reward-bench results, copied under ../shared/data)
turned into section scores the way upstream's `calculate_scores_per_section` does."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from rewardlab.evaluation.aggregation import overall_score, section_scores
from rewardlab.evaluation.constants import LEGACY_2024_09_WEIGHTS, ROW_COUNTS, SUBSETS

RESULTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rewardbench-results"
pytestmark = pytest.mark.shared


def _load(rel: str) -> dict:
    path = RESULTS / rel
    if not path.exists():
        pytest.skip(f"published results not available at {path} (the shared data folder is absent)")
    return json.loads(path.read_text())


GPM = "eval-set/general-preference/GPM-{}.json"

# Upstream's arithmetic (`calculate_scores_per_section`) with upstream's EXAMPLE_COUNTS as of allenai/reward-bench
# 05a9005 (XSTest weighted 154/250 since 2024-09-10) on the published per-subset numbers; the overall score is the
# mean of the four sections. test_upstream_conformance.py runs upstream's function itself on these files.
EXPECTED = {
    "Llama-3.1-8B-Instruct": (
        {"Chat": 0.932961, "Chat Hard": 0.861842, "Safety": 0.912162, "Reasoning": 0.956898},
        0.915966,
    ),
    "Gemma-2-9B": ({"Chat": 0.935754, "Chat Hard": 0.877193, "Safety": 0.922973, "Reasoning": 0.957106}, 0.923256),
    "Gemma-2-2B": ({"Chat": 0.818436, "Chat Hard": 0.728070, "Safety": 0.879730, "Reasoning": 0.844192}, 0.817607),
    "Gemma-2B": ({"Chat": 0.784916, "Chat Hard": 0.662281, "Safety": 0.843243, "Reasoning": 0.804656}, 0.773774),
}


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_gpm_section_scores(model):
    metrics = _load(GPM.format(model))
    sections, overall = EXPECTED[model]
    got = section_scores(metrics)
    assert got == pytest.approx(sections, abs=1e-6)
    assert overall_score(got) == pytest.approx(overall, abs=1e-6)


def test_gpm_llama_by_hand():
    m = _load(GPM.format("Llama-3.1-8B-Instruct"))
    # Reasoning = mean(math accuracy, pooled code accuracy) because math-prm weighs 984 = 6 * 164.
    # Code: correct 151 + 158 + 161 + 158 + 160 + 153 = 941 of 984; math 428 / 447.
    code_correct = [round(m[f"hep-{x}"] * 164) for x in ("cpp", "go", "java", "js", "python", "rust")]
    assert code_correct == [151, 158, 161, 158, 160, 153]
    reasoning = (428 / 447 + 941 / 984) / 2
    assert section_scores(m)["Reasoning"] == pytest.approx(reasoning, abs=1e-12)
    # Safety with today's upstream weights (the row counts: XSTest refuse 154, respond 250) is the pooled accuracy:
    # (0.95*100 + 0.99*100 + (144/154)*154 + 0.96*250 + (97/136)*136) / 740 = (95 + 99 + 144 + 240 + 97) / 740
    assert section_scores(m)["Safety"] == pytest.approx(675 / 740, abs=1e-12)
    assert section_scores(m, ROW_COUNTS)["Safety"] == pytest.approx(675 / 740, abs=1e-12)
    # The weights before 2024-09-10 (XSTest refuse 250, respond 154):
    # (95 + 99 + (144/154)*250 + 0.96*154 + 97) / 740 = 672.6065 / 740
    safety = (95 + 99 + 144 / 154 * 250 + 0.96 * 154 + 97) / 740
    assert section_scores(m, LEGACY_2024_09_WEIGHTS)["Safety"] == pytest.approx(safety, abs=1e-12)


@pytest.mark.parametrize(
    "rel", [GPM.format(k) for k in sorted(EXPECTED)] + ["eval-set/mightbe/Better-PairRM.metrics.json"]
)
def test_published_accuracies_are_whole_counts_of_the_real_row_counts(rel):
    # accuracy * rows must be a whole number of correct pairs: confirms ROW_COUNTS (and that the XSTest
    # weights upstream used before 2024-09-10, 250/154, were swapped relative to the rows: 144/154 * 250 is not
    # whole).
    m = _load(rel)
    assert set(SUBSETS) <= set(m)
    for subset in SUBSETS:
        correct = m[subset] * ROW_COUNTS[subset]
        assert correct == pytest.approx(round(correct), abs=1e-6), subset


def test_readme_example_metrics():
    path = RESULTS / "reward-bench_README_section-score-example.md"
    if not path.exists():
        pytest.skip(f"{path} not available")
    text = path.read_text()
    literal = re.search(r"metrics = (\{.*?\n\})", text, re.S).group(1)
    metrics = ast.literal_eval(literal)  # includes non-score keys (model, chat_template, model_type)
    assert metrics["model"] == "PKU-Alignment/beaver-7b-v1.0-cost"
    sec = section_scores(metrics)
    assert list(sec) == ["Chat", "Chat Hard", "Safety", "Reasoning"]
    # Chat: (0.5*100 + (67/95)*95 + (56/95)*95 + (16/28)*28 + 0.725*40) / 358 = (50 + 67 + 56 + 16 + 29) / 358
    assert sec["Chat"] == pytest.approx(218 / 358, abs=1e-12)
    # Reasoning = mean(math 132/447, code (103 + 104 + 116 + 109 + 90 + 106) / 984 = 628 / 984)
    assert sec["Reasoning"] == pytest.approx((132 / 447 + 628 / 984) / 2, abs=1e-12)
    # Safety = (0.97*100 + 1*100 + 1*154 + 0.284*250 + (112/136)*136) / 740 = (97 + 100 + 154 + 71 + 112) / 740
    # = 534 / 740 = 72.2, upstream's figure for this README example (81.5 with the pre-2024-09-10 weights)
    assert sec["Safety"] == pytest.approx(534 / 740, abs=1e-12)
    assert round(100 * sec["Safety"], 1) == 72.2
    legacy = section_scores(metrics, LEGACY_2024_09_WEIGHTS)["Safety"]
    assert legacy == pytest.approx((97 + 100 + 250 + 0.284 * 154 + 112) / 740, abs=1e-12)
    assert round(100 * legacy, 1) == 81.5
