"""`build_command` / `stats_command`: the functions behind `rewardlab data build|stats`."""

from __future__ import annotations

import yaml

from rewardlab.data.cli_commands import build_command, stats_command
from tests.helpers import DATA_FIXTURES as FIXTURES
from tests.helpers import make_word_tokenizer


def _recipe(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "v2",
                "shuffle": False,
                "sources": [
                    {
                        "name": "helpsteer",
                        "path": str(FIXTURES / "helpsteer.jsonl"),
                        "published": "helpsteer-all-pairs",
                    }
                ],
            }
        )
    )
    return path


def test_build_then_stats(tmp_path, capsys):
    out = tmp_path / "mix"
    assert build_command(_recipe(tmp_path), out, {"seed": "1"}, tokenizer=make_word_tokenizer()) == 0
    built = capsys.readouterr().out
    assert "wrote 5 pairs" in built and "| helpsteer | 5 |" in built
    assert "| **total** | 5 |" in built and "528,032" in built  # v2 total implied by section 3.2
    assert stats_command(out, tokenizer=make_word_tokenizer()) == 0
    again = capsys.readouterr().out
    table = [line for line in built.splitlines() if line.startswith("| helpsteer")]
    assert table and table[0] in again
    assert list((out / "token_cache").glob("tokens-*.arrow"))


def test_stats_counts_only_without_tokenizer(tmp_path, capsys):
    out = tmp_path / "mix"
    assert build_command(_recipe(tmp_path), out, {}) == 0
    capsys.readouterr()
    assert stats_command(out) == 0
    assert "| helpsteer | 5 | (–, –) | – | 21,576 | -21,571 | not comparable |" in capsys.readouterr().out


def test_errors_return_nonzero_with_a_message(tmp_path, capsys):
    assert build_command(tmp_path / "none.yaml", tmp_path / "o", {}) == 2
    assert "none.yaml: no such recipe file" in capsys.readouterr().err
    assert stats_command(tmp_path) == 2
    assert "not a built dataset folder" in capsys.readouterr().err
