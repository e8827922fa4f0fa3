"""Tokenized pairs for training: chosen and rejected token ids (left-truncated), margins, truncation counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rewardlab.data.schema import PreferencePair
from rewardlab.data.templates import ConversationEncoder


@dataclasses.dataclass
class TokenizedPairs:
    chosen: list[list[int]]
    rejected: list[list[int]]
    margin: list[float | None]
    truncated: int = 0  # conversations (not pairs) cut to max_length
    system_folded: int = 0  # pairs whose system turns were folded into the first user turn (template refuses them)

    def __len__(self) -> int:
        return len(self.chosen)

    def pair_lengths(self) -> list[int]:
        return [len(c) + len(r) for c, r in zip(self.chosen, self.rejected)]

    def pair_costs(self, shared_context: bool) -> list[int]:
        """Tokens each pair runs through the model: its shared context once with `shared_context`."""
        if not shared_context:
            return self.pair_lengths()
        from rewardlab.modeling.forward import common_prefix_length

        return [len(c) + len(r) - common_prefix_length(c, r) for c, r in zip(self.chosen, self.rejected)]

    @property
    def has_margin(self) -> bool:
        return any(m is not None for m in self.margin)


def tokenize_pairs(pairs: Sequence[PreferencePair], encoder: ConversationEncoder, desc: str = "tokenizing",
                   show_progress: bool = True) -> TokenizedPairs:
    from tqdm.auto import tqdm

    out = TokenizedPairs([], [], [])
    for pair in tqdm(pairs, desc=desc, unit="pair", disable=not show_progress, leave=False):
        c, c_cut = encoder.encode(pair.chosen_messages())
        r, r_cut = encoder.encode(pair.rejected_messages())
        out.chosen.append(c)
        out.rejected.append(r)
        out.margin.append(pair.margin)
        out.truncated += int(c_cut) + int(r_cut)
        out.system_folded += int(encoder.folds_system(pair.chosen_messages()))
    return out
