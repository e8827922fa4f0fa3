"""Chat-template rendering and tokenization of conversations, as the recipe does it, minus its defects.

- Text = ``apply_chat_template(messages, tokenize=False, add_generation_prompt=False)``.
- Doubled BOS: when the template writes the BOS token *and* the tokenizer adds one, the leading BOS string
  is removed from the text (the recipe's ``.replace(bos_token, "")`` removes *every* occurrence, which
  corrupts templates whose BOS string also marks turns, e.g. ChatML models with bos ``<|im_start|>``).
- Over-long sequences are truncated from the LEFT to `max_length` (the reward is read at the end), counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "the tokenizer has no chat template; use an instruct model's tokenizer or set one "
            "(tokenizer.chat_template = ...) before training"
        )
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=False)


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return len(ids) > 0 and ids[0] == bos


@dataclasses.dataclass
class ConversationEncoder:
    """Encodes conversations to token ids for reward scoring; picklable (for `datasets.map(num_proc=...)`)."""

    tokenizer: Any
    max_length: int = 4096

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {self.max_length}")
        self.adds_bos = tokenizer_adds_bos(self.tokenizer)
        self.bos_text = self.tokenizer.bos_token if self.adds_bos else None

    def text(self, messages: Sequence[dict[str, str]]) -> str:
        text = render_chat(self.tokenizer, messages)
        if self.bos_text and text.startswith(self.bos_text):
            text = text[len(self.bos_text) :]
        return text

    def encode(self, messages: Sequence[dict[str, str]]) -> tuple[list[int], bool]:
        """Token ids (left-truncated to max_length) and whether truncation happened."""
        ids = self.tokenizer(self.text(messages), add_special_tokens=True)["input_ids"]
        if len(ids) > self.max_length:
            return ids[-self.max_length :], True
        return ids, False
