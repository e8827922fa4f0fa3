"""What the server runs for each model kind: how a request becomes micro-batcher items, and results answers.

- bradley_terry: item = a conversation's token ids; result ``{"score"}``; /compare gives sigmoid(r_a - r_b),
  the probability its loss fits.
- regression: the same items; result ``{"score", "scores"}`` (per attribute); /compare answers 400: rewards
  fitted with squared error define no preference probability.
- multi_objective: item = (token ids, prompt ids), since the gate reads the prompt (a conversation's turns
  before the response; on /get_reward, OpenRLHF's ``prompts`` field); result adds ``corrected`` and ``gates``;
  /compare gives sigmoid(t (r_a - r_b)), t the temperature learned with its gate's Bradley-Terry loss.
- pairwise: no reward for one response (/v1/rewards, /get_reward, /classify answer 400); a /compare item is one
  ordering's prompt ids, its result P(first better), and the answer the mean over both orderings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

Message = dict[str, str]
REGRESSION_NO_PROBABILITY = (
    "a regression model's rewards are attribute predictions fitted with squared error, not Bradley-Terry scores: "
    "they rank responses but define no probability that one is better; compare the rewards from /v1/rewards or "
    "/get_reward instead")
MULTI_OBJECTIVE_NEEDS_PROMPTS = (
    "a multi-objective model's gate reads the prompt: send 'prompts' (OpenRLHF's field: one formatted prompt per "
    "query, the text the query starts with), as many as 'query'")


MULTI_OBJECTIVE_NEEDS_MESSAGES = (
    "a multi-objective model's gate reads the prompt, which a bare text or token list does not separate: send "
    "'messages' (one conversation) instead, or use /get_reward with OpenRLHF's 'prompts'")


PROCESS_NEEDS_PROMPTS = (
    "a process reward model scores the steps of the solution after the prompt: send 'prompts' (OpenRLHF's field: "
    "the formatted prompt each query starts with), as many as 'query', or send 'messages' to /v1/rewards")
PROCESS_NO_PROBABILITY = (
    "a process reward model's reward aggregates per-step probabilities of being correct; it defines no probability "
    "that one solution is better than another: compare the rewards (or step_scores) from /v1/rewards instead")


class NotServed(Exception):
    """The request asks this model kind for something it does not give (answered 400 with the reason)."""


def encode_text(encoder: Any, text: str, turn_end: Any = None) -> tuple[list[int], bool]:
    """Token ids of already chat-formatted `text`: no doubled BOS, the template's rest of the turn appended when the
    text stops at its end-of-turn token (`turn_end`, a `data.templates.TurnEnd`), left-truncated.
    Returns (ids, truncated).

    `encoder` is the scorer's `ConversationEncoder`, so raw text and templated conversations share one rule.
    """
    if turn_end is not None:
        text = turn_end.complete(text)
    if encoder.bos_text and text.startswith(encoder.bos_text):
        text = text[len(encoder.bos_text) :]
    ids = encoder.tokenizer(text, add_special_tokens=True)["input_ids"]
    if len(ids) > encoder.max_length:
        return ids[-encoder.max_length :], True
    return ids, False


@dataclasses.dataclass
class ServedModel:
    """One loaded model as the server runs it (see the module docstring); build it with `served_model`."""

    kind: str
    encoder: Any  # ConversationEncoder (PairPromptEncoder for the pairwise kind)
    score_items: Callable[[list[Any]], list[Any]]  # runs in the model thread, via the micro-batcher
    item_tokens: Callable[[Any], int] = len
    compare_scale: float | None = 1.0  # P(a better) = sigmoid(scale (r_a - r_b)); None: no such probability
    turn_end: Any = None  # the template's end of a turn (TurnEnd), completed on raw texts; None: nothing to add
    generation_prompt: str = ""  # what add_generation_prompt appends (ChatML "<|im_start|>assistant\n")
    # item -> the token ids a prefix-tree model computes for it (items share a pass by their prefixes); None: padded
    tree_ids: Callable[[Any], Any] | None = None
    tokens_computed: Callable[[], int] | None = None  # the model's running count of tokens it ran, if it keeps one

    def __post_init__(self) -> None:
        # OpenRLHF's queries stop at the end-of-turn token the generator emitted, while training rendered the rest
        # of the turn too (ChatML's "\n"): the reward is read at the last token, so complete it (issue 16.5)
        if self.kind != "pairwise" and getattr(self.encoder.tokenizer, "chat_template", None):
            from rewardlab.data.templates import end_of_turn_suffix

            try:
                self.turn_end = end_of_turn_suffix(self.encoder.tokenizer)
            except ValueError:  # the template does not render the response text: nothing to complete
                self.turn_end = None
            if self.kind == "multi_objective":
                self.generation_prompt = generation_prompt(self.encoder.tokenizer)

    def check_rewards(self) -> None:
        from rewardlab.kinds.registry import get_kind

        if not get_kind(self.kind).gives_reward:
            from rewardlab.scoring import PAIRWISE_NO_REWARD

            raise NotServed(PAIRWISE_NO_REWARD)

    def conversation_item(self, conversation: Sequence[Message]) -> tuple[Any, bool]:
        ids, cut = self.encoder.encode(conversation)
        if self.kind == "multi_objective":
            return (ids, self.encoder.encode(conversation[:-1])[0]), cut
        return ids, cut

    def text_prompts(self, num_queries: int, prompts: Any) -> list[str | None]:
        """The prompt of each /get_reward query that the kind reads (multi-objective), else None each.

        Raises ValueError (answered 422) when the multi-objective kind lacks them."""
        if self.kind not in ("multi_objective", "process"):
            return [None] * num_queries  # OpenRLHF sends them anyway: accepted and ignored
        if not isinstance(prompts, list) or len(prompts) != num_queries \
                or not all(isinstance(p, str) for p in prompts):
            raise ValueError(PROCESS_NEEDS_PROMPTS if self.kind == "process" else MULTI_OBJECTIVE_NEEDS_PROMPTS)
        return prompts

    def text_item(self, text: str, prompt: str | None) -> tuple[Any, bool]:
        if self.kind == "process":  # the solution's steps follow the prompt (kinds.process.StepEncoder)
            if prompt is None:
                raise NotServed(PROCESS_NEEDS_PROMPTS)
            return self.encoder.encode_text(text, prompt)
        ids, cut = encode_text(self.encoder, text, self.turn_end)
        if prompt is not None:
            # OpenRLHF's prompt ends with the generation prompt; the gate was trained on the context alone
            if self.generation_prompt and prompt.endswith(self.generation_prompt):
                prompt = prompt[: -len(self.generation_prompt)]
            return (ids, encode_text(self.encoder, prompt)[0]), cut
        return ids, cut

    def ids_item(self, ids: Sequence[int]) -> tuple[Any, bool]:
        """A client's own token ids (vLLM's and SGLang's ``input`` / ``input_ids``), left-truncated as text is."""
        if self.kind in ("multi_objective", "process"):
            raise NotServed(PROCESS_NEEDS_PROMPTS if self.kind == "process" else MULTI_OBJECTIVE_NEEDS_MESSAGES)
        limit = self.encoder.max_length
        return (list(ids[-limit:]), True) if len(ids) > limit else (list(ids), False)

    def comparison_items(self, context: Sequence[Message], a: str, b: str) -> list[Any]:
        """The two items whose results give P(a better than b) (`probability`)."""
        if self.kind == "pairwise":
            return [self.encoder.encode(context, a, b), self.encoder.encode(context, b, a)]
        if self.compare_scale is None:
            raise NotServed(PROCESS_NO_PROBABILITY if self.kind == "process" else REGRESSION_NO_PROBABILITY)
        return [self.conversation_item([*context, {"role": "assistant", "content": r}])[0] for r in (a, b)]

    def probabilities(self, results: Sequence[Any]) -> list[float]:
        """P(a better than b) per comparison from the results of their `comparison_items`, in order."""
        import torch

        if self.kind == "pairwise":
            from rewardlab.kinds.pairwise import average_orderings

            p = torch.tensor(results, dtype=torch.float64)
            return average_orderings(p[0::2], p[1::2]).tolist()
        from rewardlab.losses import bradley_terry_probability

        r = torch.tensor([x["score"] for x in results], dtype=torch.float64)
        return bradley_terry_probability(r[0::2], r[1::2], self.compare_scale or 1.0).tolist()


def reward_columns(results: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """``rewards`` and, where the kind has them, the per-attribute / per-objective details, one entry each."""
    out: dict[str, list[Any]] = {"rewards": [r["score"] for r in results]}
    for key in ("scores", "corrected", "gates", "step_scores"):
        if results and key in results[0]:
            out[key] = [r[key] for r in results]
    return out


def generation_prompt(tokenizer: Any) -> str:
    """What the chat template appends with ``add_generation_prompt=True`` (ChatML ``"<|im_start|>assistant\n"``,
    nothing for templates whose user turn already opens the answer), read by rendering a probe both ways."""
    probe = [{"role": "user", "content": "rewardlab-generation-probe"}]
    try:
        plain = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False)
        opened = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception:  # a template that refuses the probe: nothing to strip
        return ""
    return opened[len(plain) :] if opened.startswith(plain) else ""


def openrlhf_reply(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The reply of OpenRLHF's ``serve_rm``: ``rewards`` and ``scores``, one float per query each (its client does
    ``torch.as_tensor(reply["scores"])``), and ``extra_logs`` as ``{name: [one float per query]}``, which it
    concatenates per key and logs: a regression model's attributes by name, a multi-objective model's raw
    objective scores by name plus ``corrected_<name>`` and ``gate_<name>``, a process model's ``step_<aggregation>``
    for each aggregation and ``num_steps``."""
    rewards = [float(r["score"]) for r in results]
    logs: dict[str, list[float]] = {}
    for key, prefix in (("scores", ""), ("corrected", "corrected_"), ("gates", "gate_")):
        if results and key in results[0]:
            for name in results[0][key]:
                logs[f"{prefix}{name}"] = [float(r[key][name]) for r in results]
    if results and "step_scores" in results[0]:  # a process model: the reward is its aggregation; log all four
        from rewardlab.kinds.process import AGGREGATIONS, aggregate

        steps = [[x for x in r["step_scores"] if x == x] for r in results]  # a step cut off on the left is NaN
        for how in AGGREGATIONS:
            logs[f"step_{how}"] = [aggregate(s, how) for s in steps]
        logs["num_steps"] = [float(len(s)) for s in steps]
    return {"rewards": rewards, "scores": list(rewards), "extra_logs": logs}


def output_vector(result: dict[str, Any]) -> list[float]:
    """What a vLLM/SGLang-style client gets as the model's outputs for one input: the regression kind's attribute
    scores (its score head's outputs, in order), else the one reward."""
    if "scores" in result and "gates" not in result:
        return [float(v) for v in result["scores"].values()]
    return [float(result["score"])]


def served_model(scorer: Any) -> ServedModel:
    """The `ServedModel` of a loaded scorer of any kind (`rewardlab.kinds.load_scorer`), or of anything with
    ``.encoder`` and ``.score_ids`` (served as a Bradley-Terry reward model)."""
    kind = getattr(scorer, "kind", "bradley_terry")
    if kind == "pairwise":
        return ServedModel(kind, scorer.encoder, scorer.first_better_ids, compare_scale=None)
    if kind == "regression":  # its inner RewardScorer runs the prefix-tree rows
        return ServedModel(kind, scorer.encoder, scorer.details_ids, compare_scale=None, **_tree_fields(scorer.inner))
    if kind == "process":  # item: token ids carrying their step positions (kinds.process.StepIds)
        return ServedModel(kind, scorer.encoder, scorer.details_ids, compare_scale=None)
    if kind == "multi_objective":
        return ServedModel(kind, scorer.encoder,
                           lambda items: scorer.details_ids([r for r, _ in items], [p for _, p in items]),
                           item_tokens=lambda item: max(len(item[0]), len(item[1])),
                           compare_scale=float(scorer.head.log_temperature.detach().exp()))
    return ServedModel(kind, scorer.encoder, lambda items: [{"score": r} for r in scorer.score_ids(items)],
                       **_tree_fields(scorer))


def _tree_fields(scorer: Any) -> dict[str, Any]:
    """`tree_ids` and `tokens_computed` of a scorer that runs prefix-tree rows (`RewardScorer` with the rows
    attention); nothing for one that pads (its batch budget stays padded tokens)."""
    from rewardlab.modeling.pair_rows import uses_pair_rows

    model = getattr(scorer, "model", None)
    if model is None or not uses_pair_rows(model):
        return {}
    fields: dict[str, Any] = {"tree_ids": lambda item: item}
    if hasattr(scorer, "tokens_computed"):
        fields["tokens_computed"] = lambda: scorer.tokens_computed
    return fields
