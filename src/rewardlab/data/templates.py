"""Chat-template rendering and tokenization of conversations, as the recipe does it, minus its defects.

- Text = ``apply_chat_template(messages, tokenize=False, add_generation_prompt=False)``.
- Doubled BOS: when the template writes the BOS token *and* the tokenizer adds one, the leading BOS string
  is removed from the text (the recipe's ``.replace(bos_token, "")`` removes *every* occurrence, which
  corrupts templates whose BOS string also marks turns, e.g. ChatML models with bos ``<|im_start|>``).
- System turns: some templates refuse them (Gemma-it and Gemma-2-it raise "System role not supported", the
  original Mistral-Instruct/Mixtral template raises "Conversation roles must alternate") and some drop them
  without a word (Phi-3-mini's first template, Mistral-7B-Instruct-v0.3's tool template). Whether a template
  renders a system turn is detected once per tokenizer by rendering a probe; where it does not, each system
  turn is folded into the user turn after it as ``system + "\\n\\n" + user`` (what Llama-2 and the later
  Mistral templates do themselves), and the conversations touched are counted.
- Over-long sequences are truncated from the LEFT to `max_length` (the reward is read at the end), counted.

The conformance matrix in tests/modeling/test_chat_templates.py runs the real templates of the recipe's models
(tests/fixtures/chat_templates/*.json) through every function here.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence
from typing import Any

#: Between a folded system prompt and the user turn it joins.
SYSTEM_FOLD_SEPARATOR = "\n\n"
_SYSTEM_PROBE = "rewardlab-system-probe-8d1f"
_CONTENT_PROBE = "rewardlab-content-probe-41c9"
# tokenizer -> (chat template the answer was computed for, answer); weak keys, so tokenizers are not kept alive
_accepts_system_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _apply_template(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "the tokenizer has no chat template; use an instruct model's tokenizer or set one "
            "(tokenizer.chat_template = ...) before training"
        )
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=False)


def template_accepts_system(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders a leading system turn (text included, no exception).

    Probed once per tokenizer and template: a system + user + assistant conversation is rendered; a template
    that raises, or that renders without the system text, does not accept system turns.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return True  # nothing to refuse it; render_chat reports the missing template itself
    try:
        cached = _accepts_system_cache.get(tokenizer)
    except TypeError:  # an object that cannot be weakly referenced: probe every time
        cached = None
    if cached is not None and cached[0] == template:
        return cached[1]
    probe = [{"role": "system", "content": _SYSTEM_PROBE}, {"role": "user", "content": "Hi."},
             {"role": "assistant", "content": "Hello."}]
    try:
        accepted = _SYSTEM_PROBE in _apply_template(tokenizer, probe)
    except Exception:  # jinja's TemplateError from raise_exception, or anything else the template raises
        accepted = False
    try:
        _accepts_system_cache[tokenizer] = (template, accepted)
    except TypeError:
        pass
    return accepted


def has_system_turn(messages: Sequence[dict[str, str]]) -> bool:
    return any(m["role"] == "system" for m in messages)


def fold_system_turns(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Each system turn joined to the front of the user turn after it: ``system + "\\n\\n" + user``.

    An empty system prompt folds to nothing. A system turn with no user turn after it cannot be folded
    and raises ValueError.
    """
    out: list[dict[str, str]] = []
    pending: list[str] = []
    for m in messages:
        if m["role"] == "system":
            if m["content"].strip():
                pending.append(m["content"])
            continue
        if pending:
            if m["role"] != "user":
                raise ValueError(f"a system turn is followed by a {m['role']!r} turn, not a user turn; the chat "
                                 "template refuses system turns, so it must be folded into a user turn")
            m = {**m, "content": SYSTEM_FOLD_SEPARATOR.join([*pending, m["content"]])}
            pending = []
        out.append(m)
    if pending:
        raise ValueError("a system turn has no user turn after it; the chat template refuses system turns, so "
                         "it must be folded into a user turn")
    return out


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]], accepts_system: bool | None = None) -> str:
    """The chat-template text of a conversation; system turns folded into the next user turn where the
    template refuses them (`accepts_system`: the caller's cached `template_accepts_system`, else probed)."""
    if accepts_system is None:
        accepts_system = template_accepts_system(tokenizer)
    if not accepts_system and has_system_turn(messages):
        messages = fold_system_turns(messages)
    return _apply_template(tokenizer, messages)


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return len(ids) > 0 and ids[0] == bos


@dataclasses.dataclass(frozen=True)
class TurnEnd:
    """What a chat template writes after the text of the conversation's last (assistant) turn.

    ``marker`` runs through the first special token there: the end-of-turn token a model generates, so a
    generated text (an OpenRLHF query: prompt + response + EOS, decoded) ends with it. ``trailing`` is what the
    template writes after that and a generated text lacks: ``"\\n"`` for ChatML and Gemma, ``"\\n<|endoftext|>"``
    for Phi-3, ``""`` for Llama-3 and Mistral. Without any special token in the suffix, the whole suffix is the
    marker and nothing trails.
    """

    marker: str
    trailing: str

    @property
    def suffix(self) -> str:
        return self.marker + self.trailing

    def complete(self, text: str) -> str:
        """`text` as the template renders it: ``trailing`` appended to a text that ends with the marker
        (OpenRLHF's raw queries); any other text is returned unchanged."""
        if self.trailing and self.marker and text.endswith(self.marker):
            return text + self.trailing
        return text


def end_of_turn_suffix(tokenizer: Any) -> TurnEnd:
    """The template's suffix after the last assistant text, split at the end-of-turn token (see `TurnEnd`)."""
    messages = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": _CONTENT_PROBE}]
    text = render_chat(tokenizer, messages)
    at = text.rfind(_CONTENT_PROBE)
    if at < 0:
        raise ValueError("the chat template does not render the assistant turn's text; cannot find its suffix")
    suffix = text[at + len(_CONTENT_PROBE) :]
    special = {t for t in getattr(tokenizer, "all_special_tokens", []) if t}
    special |= {t for t in tokenizer.get_added_vocab()} if hasattr(tokenizer, "get_added_vocab") else set()
    first = min(((suffix.find(t), -len(t), t) for t in special if t in suffix), default=None)
    if first is None:
        return TurnEnd(suffix, "")
    end = first[0] + len(first[2])
    return TurnEnd(suffix[:end], suffix[end:])


@dataclasses.dataclass
class ConversationEncoder:
    """Encodes conversations to token ids for reward scoring; picklable (for `datasets.map(num_proc=...)`).

    ``system_folded`` counts the conversations this encoder rendered with their system turns folded into the
    first user turn (the template refuses system turns; see the module docstring).
    """

    tokenizer: Any
    max_length: int = 4096

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {self.max_length}")
        self.adds_bos = tokenizer_adds_bos(self.tokenizer)
        self.bos_text = self.tokenizer.bos_token if self.adds_bos else None
        self.accepts_system = template_accepts_system(self.tokenizer)
        self.system_folded = 0

    def folds_system(self, messages: Sequence[dict[str, str]]) -> bool:
        """Whether `messages` render with their system turns folded into a user turn."""
        return not self.accepts_system and has_system_turn(messages)

    def text(self, messages: Sequence[dict[str, str]]) -> str:
        if self.folds_system(messages):
            self.system_folded += 1
        text = render_chat(self.tokenizer, messages, self.accepts_system)
        if self.bos_text and text.startswith(self.bos_text):
            text = text[len(self.bos_text) :]
        return text

    def encode(self, messages: Sequence[dict[str, str]]) -> tuple[list[int], bool]:
        """Token ids (left-truncated to max_length) and whether truncation happened."""
        ids = self.tokenizer(self.text(messages), add_special_tokens=True)["input_ids"]
        if len(ids) > self.max_length:
            return ids[-self.max_length :], True
        return ids, False
