"""Token-length statistics, the token cache, and the comparison with the recipe's published figures."""

from __future__ import annotations

import datasets

from rewardlab.data.schema import make_pair
from rewardlab.data.sources.streaming import PAIR_FEATURES
from rewardlab.data.stats import (
    PUBLISHED,
    PUBLISHED_TOTALS,
    compare_with_published,
    conversation_text,
    length_stats,
    stats_markdown,
    tokenize_pairs,
)
from tests.helpers import make_word_tokenizer


def _pairs(rows):
    recs = [make_pair([{"role": "user", "content": q}], c, r, source=s).to_record() for q, c, r, s in rows]
    return datasets.Dataset.from_list(recs, features=PAIR_FEATURES)


def test_published_figures_are_the_recipe_table():
    assert PUBLISHED["shp-ratio2-k5"].pairs == 109526 and PUBLISHED["shp-ratio2-k5"].max_len == 5115
    assert (PUBLISHED["helpsteer-all-pairs"].avg_chosen, PUBLISHED["helpsteer-all-pairs"].avg_rejected) == (748, 710)
    # section 3.2: HH 115,547 = base + RS + online of table 3.1
    hh = sum(PUBLISHED[k].pairs for k in ("hh-rlhf-base", "hh-rlhf-rs", "hh-rlhf-online"))
    assert hh == 115547
    assert PUBLISHED_TOTALS["v1"] == 256429 and PUBLISHED_TOTALS["v2"] == 528032


def test_lengths_per_source_and_total(tmp_path):
    tok = make_word_tokenizer()
    ds = _pairs([("a b", "c", "d e f", "x"), ("a", "b c d", "e", "x"), ("q", "r", "s", "y")])
    # row 1: BOS + "user : a b" (4) + "assistant : c" (3) = 8; rejected "d e f": 1 + 4 + 5 = 10
    # row 2: 1 + "user : a" (3) + "assistant : b c d" (5) = 9; rejected "e": 1 + 3 + 3 = 7
    # row 3: 1 + 3 + 3 = 7 on both sides
    stats = length_stats(tokenize_pairs(ds, tok, cache_dir=tmp_path))
    assert stats["x"] == {"pairs": 2, "avg_chosen": 8.5, "avg_rejected": 8.5, "max_len": 10}
    assert stats["y"] == {"pairs": 1, "avg_chosen": 7.0, "avg_rejected": 7.0, "max_len": 7}
    assert stats["total"] == {"pairs": 3, "avg_chosen": 8.0, "avg_rejected": 8.0, "max_len": 10}


def test_token_lengths_are_cached_and_reused(tmp_path):
    tok = make_word_tokenizer()
    ds = _pairs([("a b", "c", "d", "x")])
    first = tokenize_pairs(ds, tok, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("tokens-*.arrow"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    again = tokenize_pairs(ds, tok, cache_dir=tmp_path)
    assert again["chosen_len"] == first["chosen_len"] and files[0].stat().st_mtime_ns == mtime
    other = make_word_tokenizer(["user", "assistant", ":", "a", "b"])  # another vocabulary: another cache file
    tokenize_pairs(ds, other, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("tokens-*.arrow"))) == 2
    with_ids = tokenize_pairs(ds, tok, cache_dir=tmp_path, keep_ids=True)
    assert with_ids[0]["chosen_input_ids"][0] == tok.bos_token_id and len(with_ids[0]["chosen_input_ids"]) == 8


def test_chat_template_text_drops_the_bos_string():
    tok = make_word_tokenizer()
    tok.chat_template = "{{ bos_token }}{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}\n{% endfor %}"
    text = conversation_text([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], tok)
    assert text == "user : hi\nassistant : yo\n"
    assert tok(text)["input_ids"].count(tok.bos_token_id) == 1  # BOS once, added by tokenizing


def test_compare_with_published():
    full = compare_with_published(7562, "capybara-3.2", 7563, 7563)
    assert full["status"] == "matches" and full["difference"] == 0
    diff = compare_with_published(7000, "capybara-3.2", 7563, 7563)
    assert diff["status"] == "differs" and diff["difference"] == -562 and "full hub split read" in diff["cause"]
    part = compare_with_published(50, "shp-ratio2-k1", 100, 348718)
    assert (
        part["status"] == "not comparable"
        and part["cause"] == "partial input: read 100 of the hub split's 348718 rows"
    )
    unknown = compare_with_published(29000, "pku-saferlhf-30k", 29000, None)
    assert unknown["status"] == "differs" and "input size unknown" in unknown["cause"]
    assert compare_with_published(10, None, 10, 10) is None


def test_markdown_has_the_table_3_1_columns():
    stats = {
        "name": "v9",
        "tokenizer": "tok",
        "published_total": None,
        "total": {"pairs": 3, "avg_chosen": 7.0, "avg_rejected": 7.0, "max_len": 9},
        "sources": {"x": {"pairs": 3, "avg_chosen": 7.0, "avg_rejected": 7.0, "max_len": 9, "published": None}},
    }
    md = stats_markdown(stats)
    assert "| Source | # Pairs | Average len (chosen, rejected) | Max len |" in md
    assert "| x | 3 | (7.0, 7.0) | 9 |" in md and "| **total** | 3 | (7.0, 7.0) | 9 | – |" in md
