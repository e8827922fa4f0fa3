"""The shared scorer: one object that turns conversations into rewards, used by the CLI, the evaluator,
the server and the labeller.

`RewardJudge` is the interface the evaluator works through; `RewardScorer` (a scalar reward model) and
the pairwise preference model both implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]


PAIRWISE_NO_REWARD = ("this is a pairwise preference model: it compares two responses to a prompt and gives no "
                      "reward to a single response. Compare responses instead: `rewardlab label` (best-of-n by "
                      "knockout, chosen/rejected pairs), `rewardlab eval`, or POST /compare on `rewardlab serve`")


@runtime_checkable
class RewardJudge(Protocol):
    """Anything that can rank candidate responses to a shared context.

    `rank_responses` takes groups ``(context_messages, [response_1, ..., response_n])`` and returns, per group,
    one number per response: higher means better; equal numbers mean a tie. A scalar reward model returns
    its rewards; a pairwise model returns e.g. win probabilities or round-robin win counts.
    """

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]: ...


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class RewardScorer:
    """Scalar reward model scorer: ``score(conversations) -> list[float]``.

    Conversations are chat-templated (leading doubled BOS removed), left-truncated to `max_length` and scored
    in padding-free prefix-tree rows of at most `batch_size` conversations and `max_tokens_per_batch` computed
    tokens, every prefix they share computed once (`score_ids`); padded batches for a model without the rows
    attention. Scores are returned in input order and do not depend on the batching.
    """

    kind = "bradley_terry"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_length: int = 4096,
        batch_size: int = 16,
        max_tokens_per_batch: int | None = None,
        show_progress: bool = False,
    ):
        from rewardlab.data.templates import ConversationEncoder

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.encoder = ConversationEncoder(tokenizer, max_length)
        self.batch_size = batch_size
        self.max_tokens_per_batch = max_tokens_per_batch
        self.show_progress = show_progress
        self.truncated = 0  # conversations truncated so far (counted, reported by callers)
        self.tokens_submitted = 0  # tokens of the sequences scored so far
        self.tokens_computed = 0  # tokens the model ran for them (shared prefixes once; padded batches: padding too)
        # query tokens per attention call in a prefix-tree row (`modeling.prefix_tree.pack_tree_blocks`); None:
        # 512 on CPU, 2048 on accelerators, where each call's launch costs more than the masked-out work it saves
        self.block_tokens: int | None = None

    @classmethod
    def from_pretrained(
        cls,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> RewardScorer:
        from rewardlab.modeling.pair_rows import load_with_pair_rows

        device = device or default_device()
        dtype = dtype or ("bfloat16" if device == "cuda" else "float32")
        # padding-free rows, each context computed once (see modeling/pair_rows.py); plain SDPA where refused
        rm, tok = load_with_pair_rows(model, dtype=dtype, trust_remote_code=trust_remote_code)
        return cls(rm.to(device), tok, **kwargs)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def system_folded(self) -> int:
        """Conversations encoded so far whose system turns were folded into the first user turn (the chat
        template renders no system turn; see `data.templates`)."""
        return self.encoder.system_folded

    def encode(self, conversations: Sequence[Sequence[Message]]) -> list[list[int]]:
        encoded = []
        for conv in conversations:
            ids, cut = self.encoder.encode(conv)
            self.truncated += cut
            encoded.append(ids)
        return encoded

    def plan_batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped into batches, longest first, bounded by count and padded tokens."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in order:
            if batches:
                cur = batches[-1]
                longest = lengths[cur[0]]  # sorted: the first is the longest
                fits_count = len(cur) < self.batch_size
                fits_tokens = self.max_tokens_per_batch is None or longest * (len(cur) + 1) <= self.max_tokens_per_batch
                if fits_count and fits_tokens:
                    cur.append(i)
                    continue
            batches.append([i])
        return batches

    def plan_rows(self, encoded: Sequence[Sequence[int]]) -> list[list[int]]:
        """Padding-free prefix-tree rows: indices of `encoded` per row, at most `batch_size` sequences and
        `max_tokens_per_batch` tokens COMPUTED (every shared prefix once) per row; sequences sharing a prefix
        share a row wherever they came from (`modeling.prefix_tree.plan_tree_rows`)."""
        from rewardlab.modeling.prefix_tree import plan_tree_rows

        return plan_tree_rows(encoded, self.batch_size, self.max_tokens_per_batch)

    def _progress(self, items: Any, unit: str) -> Any:
        if not self.show_progress:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, desc="scoring", unit=unit)

    def score_groups(self, groups: Sequence[Sequence[Sequence[int]]]) -> list[list[float]]:
        """Rewards of token sequences, per group (`score_ids` of them all: grouping changes nothing, since the
        rows share whatever prefixes the token ids share)."""
        flat = self.score_ids([s for seqs in groups for s in seqs])
        out, k = [], 0
        for seqs in groups:
            out.append(flat[k : k + len(seqs)])
            k += len(seqs)
        return out

    def score_ids(self, encoded: Sequence[Sequence[int]]) -> list[float]:
        """One reward per token sequence, read at its last token, in input order.

        With the shared-context rows attention, the sequences are laid out as prefix trees built from the ids
        themselves (`plan_rows`): a prompt sent with each of its responses, a system prompt shared by every
        conversation, an identical sequence or one that is a prefix of another are computed once. Otherwise
        padded batches (`plan_batches`). The numbers equal one-sequence-at-a-time scores within float noise.
        `tokens_submitted` / `tokens_computed` count the tokens given and the tokens the model ran.
        """
        import torch

        from rewardlab.modeling.forward import pad_batch, sequence_rewards
        from rewardlab.modeling.pair_rows import row_rewards, uses_pair_rows
        from rewardlab.modeling.prefix_tree import pack_tree_blocks

        if not encoded:
            return []
        self.tokens_submitted += sum(len(e) for e in encoded)
        scores = [0.0] * len(encoded)
        with torch.inference_mode():
            if uses_pair_rows(self.model):
                block = self.block_tokens or (512 if self.device.type == "cpu" else 2048)
                for row in self._progress(self.plan_rows(encoded), "row"):
                    ids, pos, segments, last, n = pack_tree_blocks([encoded[i] for i in row], block)
                    rewards = row_rewards(self.model, ids.to(self.device), pos.to(self.device), segments,
                                          torch.tensor(last)).tolist()
                    self.tokens_computed += n
                    for i, r in zip(row, rewards):
                        scores[i] = r
                return scores
            for batch in self._progress(self.plan_batches([len(e) for e in encoded]), "batch"):
                ids, mask, last = pad_batch([encoded[i] for i in batch], self.tokenizer.pad_token_id)
                rewards = sequence_rewards(self.model, ids.to(self.device), mask.to(self.device), last)
                self.tokens_computed += ids.numel()
                for i, r in zip(batch, rewards.tolist()):
                    scores[i] = r
        return scores

    def score(self, conversations: Sequence[Sequence[Message]]) -> list[float]:
        """One reward per conversation (each a list of ``{"role", "content"}`` ending with the scored turn)."""
        return self.score_ids(self.encode(conversations))

    def rank_responses(self, groups: Sequence[tuple[Sequence[Message], Sequence[str]]]) -> list[list[float]]:
        """Rewards of each group's responses; a group's shared context is computed once (see `score_groups`)."""
        return self.score_groups([
            self.encode([[*context, {"role": "assistant", "content": r}] for r in responses])
            for context, responses in groups])


def rank_with_scores(score: Any, groups: Any) -> list[list[float]]:
    """`RewardJudge.rank_responses` for any per-conversation ``score(conversations) -> list[float]``."""
    conversations, sizes = [], []
    for context, responses in groups:
        sizes.append(len(responses))
        conversations.extend([*context, {"role": "assistant", "content": r}] for r in responses)
    flat = list(score(conversations)) if conversations else []
    out, k = [], 0
    for n in sizes:
        out.append(flat[k : k + n])
        k += n
    return out


def conversation_from_row(row: Any, where: str) -> list[Message]:
    """A row of a scoring file: ``{"messages": [...]}``, ``{"prompt": str|messages, "response": str}``, or a list."""
    from rewardlab.data.schema import DataError, RowRejected, normalize_messages

    try:
        if isinstance(row, list):
            return normalize_messages(row, "<row>")
        if isinstance(row, dict):
            for key in ("messages", "conversation", "conversations"):
                if key in row:
                    return normalize_messages(row[key], key)
            if "prompt" in row and "response" in row:
                prompt = row["prompt"]
                ctx = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else normalize_messages(
                    prompt, "prompt")
                if not isinstance(row["response"], str):
                    raise RowRejected("wrong field type", "response", "expected a string")
                return [*ctx, {"role": "assistant", "content": row["response"]}]
        raise RowRejected("unknown format", "<row>", "expected 'messages' or 'prompt' + 'response'")
    except RowRejected as e:
        raise DataError(f"{where}: {e}") from None


def reward_fields(scorer: Any, conversations: Sequence[Sequence[Message]]) -> list[dict[str, Any]]:
    """What scoring adds to each conversation's row: ``reward``, plus the per-attribute (regression) or
    per-objective (multi-objective: ``scores``, ``corrected``, ``gates``) details of scorers that have them."""
    if not callable(getattr(scorer, "score", None)):  # a kind that only compares (pairwise)
        raise ValueError(PAIRWISE_NO_REWARD)
    if hasattr(scorer, "score_details"):
        return [{"reward": d["score"], **{k: v for k, v in d.items() if k != "score"}}
                for d in scorer.score_details(conversations)]
    return [{"reward": r} for r in scorer.score(conversations)]


def score_file(scorer: Any, input_path: str, output_path: str | None = None) -> int:
    """Score every row of a JSONL file with any scorer but the pairwise kind's; write each row with its
    `reward_fields` (atomically) or to stdout. Returns the number of rows."""
    import json
    import sys

    from rewardlab.data.readers import iter_rows
    from rewardlab.data.schema import DataError, RowRejected

    rows, conversations = [], []
    for where, row in iter_rows(input_path):
        if isinstance(row, RowRejected):
            raise DataError(f"{where}: {row}")
        conversations.append(conversation_from_row(row, where))
        rows.append(row if isinstance(row, dict) else {"messages": row})
    fields = reward_fields(scorer, conversations)
    lines = "".join(json.dumps({**row, **f}, ensure_ascii=False) + "\n" for row, f in zip(rows, fields))
    if output_path:
        from rewardlab.io_utils import atomic_write_text

        atomic_write_text(output_path, lines)
    else:
        sys.stdout.write(lines)
    return len(rows)
