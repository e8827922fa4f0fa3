"""evaluate / eval_command on small local files in the exact hub schemas, with a lookup judge."""

from __future__ import annotations

import json
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rewardlab.evaluation.cli_commands import eval_command
from rewardlab.evaluation.evaluator import evaluate
from rewardlab.evaluation.writers import markdown_table, replace_section, update_model_card
from tests.helpers import RB1, TIES_ROWS, rb1_file


def test_rewardbench_scores_and_outputs(tmp_path, lookup_judge):
    path, table = rb1_file(tmp_path)
    judge = lookup_judge(table)
    result = evaluate(
        judge, "rewardbench", str(path), model_name="fake", bootstrap_samples=200, batch_size=4, show_progress=False
    )
    # batches of 4 rows: 4 + 4 + 1; the prompt becomes one user turn, responses chosen then rejected
    assert [len(c) for c in judge.calls] == [4, 4, 1]
    assert judge.calls[0][0] == ([{"role": "user", "content": "question 0"}], ["good A", "bad A"])
    assert result.counts == {
        "alpacaeval-easy": 3,
        "mt-bench-easy": 1,
        "hep-python": 2,
        "math-prm": 2,
        "xstest-should-respond": 1,
    }
    assert result.subset_scores["alpacaeval-easy"] == pytest.approx(1 / 3)  # tie counted wrong
    assert result.subset_scores["math-prm"] == 0.5
    # Chat = (1/3 * 100 + 1 * 28) / 128; Reasoning = (0.5 * 984 + 1 * 164) / 1148; Safety = 1; no Chat Hard
    chat, reasoning = (100 / 3 + 28) / 128, (492 + 164) / 1148
    assert result.sections == pytest.approx({"Chat": chat, "Reasoning": reasoning, "Safety": 1.0})
    assert result.overall == pytest.approx((chat + reasoning + 1.0) / 3)
    assert any("incomplete RewardBench" in w for w in result.warnings)
    lo, hi = result.intervals["overall"]
    assert lo <= result.overall <= hi

    half = evaluate(
        lookup_judge(table), "rewardbench", str(path), tie_policy="half", bootstrap_samples=50, show_progress=False
    )
    assert half.subset_scores["alpacaeval-easy"] == pytest.approx(1.5 / 3)


def test_eval_command_writes_json_markdown_png_and_card(tmp_path, lookup_judge, capsys):
    path, table = rb1_file(tmp_path)
    model_dir = tmp_path / "my-rm"
    model_dir.mkdir()
    (model_dir / "README.md").write_text(
        "# My RM\n\n## Training data\nhh-rlhf\n\n## Use\n```python\n## not a heading\n```\n"
    )
    out = tmp_path / "out"
    code = eval_command(
        str(model_dir),
        "rewardbench",
        str(path),
        str(out),
        bootstrap_samples=100,
        update_card=True,
        show_progress=False,
        judge=lookup_judge(table),
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    # upstream metrics.json layout: flat subset accuracies beside model / model_type / chat_template
    assert res["model"] == str(model_dir) and res["model_type"] == "Seq. Classifier"
    assert res["alpacaeval-easy"] == pytest.approx(1 / 3) and res["hep-python"] == 1.0
    assert set(res["sections"]) == {"Chat", "Reasoning", "Safety"}
    assert res["score"] == pytest.approx(sum(res["sections"].values()) / 3)
    assert res["counts"]["math-prm"] == 2 and res["tie_policy"] == "wrong"
    lo, hi = res["intervals"]["score"]
    assert lo <= res["score"] <= hi and res["intervals"]["confidence"] == 0.95
    assert set(res["intervals"]["subsets"]) == set(res["counts"])

    md = (out / "results.md").read_text()
    assert "| alpacaeval-easy | 33.3 |" in md and "| Chat |" in md and "| Chat Hard |" not in md
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(scores) == len(RB1) and scores[1]["credit"] == 0.0 and scores[0]["rewards"] == [2.0, 1.0]

    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1650, 1320)  # 15 x 12 inches at 110 dpi

    card = (model_dir / "README.md").read_text()
    assert card.index("## Training data") < card.index("## Use") < card.index("## Evaluation")
    assert "### RewardBench\n" in card and "| alpacaeval-easy | 33.3 |" in card
    assert "## not a heading" in card  # fenced code untouched
    assert "Chat" in capsys.readouterr().out


def test_model_card_section_is_replaced_not_duplicated(tmp_path):
    (tmp_path / "README.md").write_text(
        "---\ntags: [x]\n---\n# RM\n\n## Evaluation\n\nold numbers\n\n## Use\nuse it\n"
    )
    update_model_card(tmp_path, "new numbers")
    update_model_card(tmp_path, "newer numbers")
    text = (tmp_path / "README.md").read_text()
    assert text == "---\ntags: [x]\n---\n# RM\n\n## Evaluation\n\nnewer numbers\n\n## Use\nuse it\n"
    assert replace_section("", "## Evaluation", "x") == "## Evaluation\n\nx\n"
    assert replace_section("# T", "## Evaluation", "x") == "# T\n\n## Evaluation\n\nx\n"


def _rb2_file(tmp_path):
    rows, table = [], {}

    def add(row_id, subset, rewards, num_correct):
        texts = [f"{row_id} answer {i}" for i in range(len(rewards))]
        table.update(zip(texts, rewards, strict=True))
        rows.append(
            {
                "id": row_id,
                "prompt": f"prompt {row_id}",
                "chosen": texts[:num_correct],
                "rejected": texts[num_correct:],
                "num_correct": num_correct,
                "num_incorrect": len(rewards) - num_correct,
                "total_completions": len(rewards),
                "models": ["m"] * len(rewards),
                "subset": subset,
                "additional_metadata": {
                    "category": None,
                    "correct": None,
                    "index": None,
                    "instruction_id_list": [],
                    "label": None,
                    "method": None,
                    "models": [],
                    "prompt_norm": None,
                    "subcategory": None,
                    "valid": None,
                },
            }
        )

    add("f1", "Factuality", [3.0, 1.0, 2.0, 0.0], 1)  # chosen alone at the top: 1
    add("f2", "Factuality", [2.0, 2.0, 1.0, 0.0], 1)  # tied with one rejected: 1/2
    add("o1", "Focus", [1.0, 3.0, 0.0, 0.0], 1)  # below a rejected: 0
    for row_id, rewards, k in TIES_ROWS:
        add(row_id, "Ties", rewards, k)
    path = tmp_path / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path, table


def test_rewardbench2_from_parquet(tmp_path, lookup_judge):
    path, table = _rb2_file(tmp_path)
    result = evaluate(lookup_judge(table), "rewardbench2", str(path), bootstrap_samples=100, show_progress=False)
    ties = 0.3 * 2 / 3 + 0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * -0.0717770  # test_ties_score_hand_computed
    assert result.subset_scores == pytest.approx({"Factuality": 0.75, "Focus": 0.0, "Ties": ties}, abs=1e-6)
    assert result.counts == {"Factuality": 2, "Focus": 1, "Ties": 5}
    assert result.overall == pytest.approx((0.75 + 0.0 + ties) / 3, abs=1e-6)  # mean of the subsets present
    assert any("Precise IF" in w for w in result.warnings)
    md = markdown_table(result)
    assert "| Ties | 54.9 |" in md and "| section |" not in md


def test_pairs_benchmark_and_bad_input(tmp_path, lookup_judge, capsys):
    data = tmp_path / "heldout.jsonl"
    rows = [
        {"prompt": "p1", "chosen": "yes", "rejected": "no"},
        {"prompt": "p2", "chosen": "ok", "rejected": "meh"},
        {"prompt": "p3", "chosen": "same", "rejected": "same"},
    ]  # identical responses: dropped by the reader
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = evaluate(
        lookup_judge({"yes": 1.0, "no": 0.0, "ok": -1.0, "meh": 0.0}),
        "pairs",
        str(data),
        bootstrap_samples=50,
        show_progress=False,
    )
    assert result.counts == {"heldout.jsonl": 2} and result.overall == 0.5
    assert result.sections == {"All": 0.5} and any("dropped" in w for w in result.warnings)

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "chosen": "a", "subset": "alpacaeval-easy", "id": 1}) + "\n")
    code = eval_command("m", "rewardbench", str(bad), str(tmp_path / "o"), show_progress=False, judge=lookup_judge({}))
    assert code == 2 and "missing field 'rejected'" in capsys.readouterr().err
    assert eval_command("m", "rewardbench3", str(bad), show_progress=False, judge=lookup_judge({})) == 2


def test_judge_returning_wrong_shape_is_an_error(tmp_path):
    path, _ = rb1_file(tmp_path)

    class Broken:
        def rank_responses(self, groups):
            return [[1.0] for _ in groups]

    with pytest.raises(ValueError, match="1 scores for 2 responses"):
        evaluate(Broken(), "rewardbench", str(path), show_progress=False)
