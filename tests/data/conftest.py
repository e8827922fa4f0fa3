"""Fixtures of the data tests (plain helpers: tests/helpers.py)."""

from __future__ import annotations

import pytest

from tests.helpers import make_word_tokenizer


@pytest.fixture(scope="session")
def word_tokenizer():
    return make_word_tokenizer()
