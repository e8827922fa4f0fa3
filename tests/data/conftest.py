"""Shared fixtures of the data tests: fixture paths, the real rows in ../shared, a tiny local tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = REPO / ".." / "shared" / "data"
HH_HARMLESS = SHARED_DATA / "hh-rlhf-harmless-base" / "pairs.jsonl.gz"
ORCA_INTEL_CSV = SHARED_DATA / "samples" / "orca-dpo-pairs-intel-upstream" / "orca_dpo_pairs_demo.csv"


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


@pytest.fixture(scope="session")
def word_tokenizer():
    return make_word_tokenizer()
