"""`create_app(scorer, config)`: the FastAPI reward-model server, for a model of any kind (see kinds.py).

Endpoints:
- ``POST /v1/rewards``: ``{"conversations": [[{"role", "content"}, ...], ...]}`` -> ``{"rewards": [...]}``;
  each conversation is chat-templated exactly as `RewardScorer.score` does it. (It was ``/v1/score`` until
  2026-12; that path now answers 410 naming this one: vLLM's and SGLang's ``/v1/score`` take other bodies.)
- ``POST /get_reward``: OpenRLHF's protocol, ``{"query": [text, ...], "prompts": [...], "labels": [...]}`` ->
  ``{"rewards": [...], "scores": [...], "extra_logs": {...}}`` as its ``serve_rm`` replies (`kinds.openrlhf_reply`).
  Each text is already chat-formatted, so it is tokenized as is, except that a text stopping at the template's
  end-of-turn token gets the rest of the turn (ChatML's ``"\n"``) appended, as training rendered it; a leading
  BOS string is dropped when the tokenizer adds its own; left-truncated to the scorer's ``max_length``.
  A pairwise model answers 400 (it gives no reward to one response).
- ``POST /compare``: ``{"comparisons": [{"prompt", "response_a", "response_b"}, ...]}`` -> ``{"prob_a_better":
  [...]}``: the pairwise model's P(A better) averaged over both orderings; for reward models the Bradley-Terry
  probability of their rewards (400 for regression, whose rewards define none).
- vLLM's ``/classify``, ``/pooling``, ``/v1/models`` and SGLang's ``/classify`` (``text``) and ``/v1/classify``
  (see peers.py).
- ``GET /health`` (open, for probes) and ``GET /metrics`` (Prometheus text).

Every model call goes through one `MicroBatcher` (see batching.py): no handler ever runs the model itself. A
request larger than one forward pass is submitted ``max_batch_size`` items at a time, and its texts are tokenized
a slice at a time (`tokenize_slices`), so a big request never holds the small ones behind it for its whole length.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, field_validator

from rewardlab.serving.batching import MicroBatcher, QueueFull
from rewardlab.serving.config import ServeConfig
from rewardlab.serving.kinds import (
    NotServed,
    ServedModel,
    encode_text,
    openrlhf_reply,
    reward_columns,
    served_model,
)
from rewardlab.serving.metrics import ServerMetrics
from rewardlab.serving.middleware import BodyLimitMiddleware, MetricsMiddleware, Refused

ENDPOINTS = ("/v1/rewards", "/get_reward", "/compare", "/classify", "/v1/classify", "/pooling", "/v1/models",
             "/v1/score", "/health", "/metrics")
# Characters tokenized per turn of the tokenizer thread: ~0.1 s of a fast tokenizer on one core, the longest a small
# request waits behind a big one's tokenization (issue 18.6: one 8 MB body held all others ~18 s).
TOKENIZE_SLICE_CHARS = 64 * 1024
V1_SCORE_MOVED = (
    "/v1/score is not served: rewardlab's conversation scoring moved to POST /v1/rewards (same body, same answer), "
    "because vLLM's and SGLang's /v1/score take other bodies (vLLM: cross-encoder text_1/text_2 pairs). A reward "
    "for chat-formatted text: POST /classify (vLLM's or SGLang's body) or /get_reward (OpenRLHF's).")
__all__ = ["create_app", "encode_text"]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ScoreRequest(BaseModel):
    conversations: Annotated[list[Annotated[list[ChatMessage], Field(min_length=1)]], Field(min_length=1)]

    @field_validator("conversations")
    @classmethod
    def _ends_with_response(cls, conversations: list[list[ChatMessage]]) -> list[list[ChatMessage]]:
        for i, conv in enumerate(conversations):
            if conv[-1].role != "assistant":
                raise ValueError(f"conversation {i} ends with a {conv[-1].role!r} turn; the scored response must be "
                                 "the last turn, with role 'assistant'")
        return conversations


class KindDetails(BaseModel):
    """Per-conversation details of the kinds that have them; absent from the answer otherwise."""

    scores: list[dict[str, float]] | None = Field(None, description="Regression: per-attribute scores; "
                                                                    "multi-objective: raw per-objective scores.")
    corrected: list[dict[str, float]] | None = Field(None, description="Multi-objective: objective scores after "
                                                                       "the verbosity de-correlation.")
    gates: list[dict[str, float]] | None = Field(None, description="Multi-objective: the gate's weights of the "
                                                                   "corrected scores in the reward.")
    step_scores: list[list[float]] | None = Field(None, description="Process: P(step correct) of each step; the "
                                                                    "reward aggregates them (min, last, ...).")


class ScoreResponse(KindDetails):
    rewards: list[float]
    truncated: int = Field(description="How many of the conversations were cut from the left to max_length.")
    model: str


class RewardRequest(BaseModel):
    """OpenRLHF's body; its other keys (e.g. ``labels``) are accepted and ignored, and so is ``prompts`` except by
    a multi-objective model, whose gate reads it (one formatted prompt per query)."""

    query: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    prompts: Any = None


class RewardResponse(BaseModel):
    """OpenRLHF ``serve_rm``'s reply: its client reads ``rewards``, ``scores`` (one float per query each) and
    ``extra_logs`` (``{name: [one float per query]}``)."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


class Comparison(BaseModel):
    prompt: Annotated[str, Field(min_length=1)] | Annotated[list[ChatMessage], Field(min_length=1)]
    response_a: Annotated[str, Field(min_length=1)]
    response_b: Annotated[str, Field(min_length=1)]

    @field_validator("prompt")
    @classmethod
    def _ends_with_user_turn(cls, prompt: str | list[ChatMessage]) -> str | list[ChatMessage]:
        from rewardlab.data.schema import RowRejected, validate_context

        if isinstance(prompt, list):
            try:
                validate_context([m.model_dump() for m in prompt], "prompt")
            except RowRejected as e:
                raise ValueError(str(e)) from None
        return prompt

    def context(self) -> list[dict[str, str]]:
        if isinstance(self.prompt, str):
            return [{"role": "user", "content": self.prompt}]
        return [m.model_dump() for m in self.prompt]


class CompareRequest(BaseModel):
    comparisons: Annotated[list[Comparison], Field(min_length=1)]


class CompareResponse(BaseModel):
    prob_a_better: list[float] = Field(description="P(response_a better than response_b), per comparison.")
    model: str


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model: str
    queue_depth: int


def tokenize_slices(sizes: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` slices of items whose sizes (characters) sum to at most `budget`, one item at
    least: the units the tokenizer thread takes turns on."""
    slices: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > budget:
            slices.append((start, i))
            start, total = i, 0
        total += size
    if start < len(sizes):
        slices.append((start, len(sizes)))
    return slices


def _encode_conversations(served: ServedModel, conversations: Sequence[Sequence[dict[str, str]]]
                          ) -> list[tuple[Any, bool]]:
    return [served.conversation_item(conv) for conv in conversations]


def _encode_comparisons(served: ServedModel, comparisons: Sequence[Comparison]) -> list[Any]:
    return [item for c in comparisons for item in served.comparison_items(c.context(), c.response_a, c.response_b)]


@dataclasses.dataclass(frozen=True)
class PeerRuntime:
    """What the peer-compatible routes (peers.py) share with the app's own: the same limits, tokenizer turns and
    batcher."""

    encode_in_turns: Callable[..., Any]  # async (encode, items, sizes) -> encoded items
    results_for: Callable[..., Any]  # async (items) -> model results
    check_count: Callable[..., None]
    check_chars: Callable[..., None]
    check_rewards: Callable[[], None]
    check_template: Callable[[], None]


def _api_key_check(api_key: str | None) -> Any:
    expected = api_key.encode() if api_key else None

    async def check(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        # constant-time comparison: response timing must not reveal how much of a guess was right
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(401, "missing or wrong API key (send 'Authorization: Bearer KEY' or 'X-API-Key')",
                                headers={"WWW-Authenticate": "Bearer"})

    return check


def create_app(scorer: Any, config: ServeConfig | None = None) -> FastAPI:
    """Build the server around `scorer`: a model of any kind (`rewardlab.kinds.load_scorer`), or anything with
    ``.encoder`` and ``.score_ids`` (served as a Bradley-Terry reward model).

    The scorer's own ``batch_size``/``max_tokens_per_batch`` split what the batcher hands it into forward
    passes; `serve_command` sets them from `config` (``max_batch_size``/``max_batch_tokens``).
    """
    config = config or ServeConfig()
    served = served_model(scorer)
    has_template = bool(getattr(served.encoder.tokenizer, "chat_template", None))
    metrics = ServerMetrics(ENDPOINTS)
    if served.tokens_computed is not None:  # counted from this app's start
        start_computed, model_count = served.tokens_computed(), served.tokens_computed
        metrics.tokens_computed = lambda: model_count() - start_computed
    batcher = MicroBatcher(served.score_items, max_batch_tokens=config.max_batch_tokens,
                           max_batch_size=config.max_batch_size, max_queue=config.max_queue,
                           max_wait_ms=config.max_wait_ms, observer=metrics.observe_batch,
                           item_tokens=served.item_tokens, tree_ids=served.tree_ids)
    metrics.queue_depth = lambda: batcher.queue_depth
    # Tokenizing runs off the event loop too, in ONE thread: a fast tokenizer used from several threads at once
    # can fail ("Already borrowed"), and one thread beside the model thread is all a CPU server should spend.
    # Requests take turns on it a slice at a time (`encode_in_turns`), so a small request waits for at most one
    # slice of a big one's tokenizing, not all of it.
    tokenize_pool: list[ThreadPoolExecutor] = []

    async def off_loop(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(tokenize_pool[0], fn, *args)

    async def encode_in_turns(encode: Any, items: Sequence[Any], sizes: Sequence[int]) -> list[Any]:
        """`encode(items_slice) -> list` over `items`, one tokenizer-thread turn per `TOKENIZE_SLICE_CHARS`."""
        out: list[Any] = []
        for a, e in tokenize_slices(sizes, TOKENIZE_SLICE_CHARS):
            out.extend(await off_loop(encode, items[a:e]))
        return out

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tokenize_pool.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardlab-tokenize"))
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            tokenize_pool.pop().shutdown(wait=False)

    app = FastAPI(title="rewardlab reward model server", lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.config = batcher, metrics, config

    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def body_errors_are_422(request: Any, exc: StarletteHTTPException) -> JSONResponse:
        # A body that is not even decodable (invalid UTF-8) surfaces as a bare 400 from the framework;
        # answer it like every other malformed body: 422 with the reason.
        malformed = exc.status_code == 400 and not isinstance(exc, Refused)
        code = 422 if malformed else exc.status_code
        detail = f"malformed request body: {exc.detail}" if malformed else exc.detail
        return JSONResponse({"detail": detail}, status_code=code, headers=getattr(exc, "headers", None))

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def validation_errors(request: Any, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the offending input, which may not even be JSON-serialisable (Infinity, NaN):
        # report where and why, without the input.
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)
    guarded = [Depends(_api_key_check(config.api_key))]

    def check_count(n: int, what: str = "items") -> None:
        if n > config.max_items_per_request:
            raise HTTPException(413, f"{n} {what} in one request; the limit is {config.max_items_per_request} "
                                     "(max_items_per_request): split the request")

    def check_chars(sizes: Sequence[int], where: str) -> None:
        """413 naming the first item over `max_text_chars`, before anything is tokenized (issue 18.6)."""
        for i, n in enumerate(sizes):
            if n > config.max_text_chars:
                raise HTTPException(413, f"{where}[{i}] has {n} characters; the limit is {config.max_text_chars} "
                                         "per text (max_text_chars): shorten it or raise the limit")

    def check_template() -> None:
        if not has_template:
            raise Refused("the model's tokenizer has no chat template; send formatted text to /get_reward instead")

    def check_rewards() -> None:
        try:
            served.check_rewards()
        except NotServed as e:
            raise Refused(str(e)) from None

    async def results_for(items: list[Any]) -> list[Any]:
        """The model's results for `items`, submitted a forward pass (`max_batch_size`) at a time: a 1,024-query
        rollout runs as 16 batches that requests arriving meanwhile can queue between, not as one long call."""
        out: list[Any] = []
        try:
            for a in range(0, len(items), config.max_batch_size):
                out.extend(await batcher.submit(items[a : a + config.max_batch_size], admitted=a > 0))
        except QueueFull as e:
            raise HTTPException(503, f"server busy: {e}; retry later", headers={"Retry-After": "1"}) from None
        except Exception as e:
            raise HTTPException(500, f"model call failed: {type(e).__name__}: {e}") from None
        return out

    def conversation_chars(conversations: Sequence[Sequence[dict[str, str]]]) -> list[int]:
        return [sum(len(m["content"]) for m in conv) for conv in conversations]

    @app.post("/v1/rewards", response_model=ScoreResponse, response_model_exclude_none=True, dependencies=guarded)
    async def rewards(body: ScoreRequest) -> ScoreResponse:
        check_rewards()
        check_template()
        check_count(len(body.conversations))
        conversations = [[m.model_dump() for m in conv] for conv in body.conversations]
        sizes = conversation_chars(conversations)
        check_chars(sizes, "conversations")
        encoded = await encode_in_turns(partial(_encode_conversations, served), conversations, sizes)
        results = await results_for([item for item, _ in encoded])
        return ScoreResponse(**reward_columns(results), truncated=sum(cut for _, cut in encoded),
                             model=config.model_name)

    @app.post("/v1/score", dependencies=guarded, include_in_schema=False)
    async def moved_v1_score() -> None:
        raise HTTPException(410, V1_SCORE_MOVED)

    @app.post("/get_reward", response_model=RewardResponse, dependencies=guarded)
    async def get_reward(body: RewardRequest) -> RewardResponse:
        check_rewards()
        check_count(len(body.query))
        try:
            prompts = served.text_prompts(len(body.query), body.prompts)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        sizes = [len(q) + len(p or "") for q, p in zip(body.query, prompts)]
        check_chars([len(q) for q in body.query], "query")
        check_chars([len(p or "") for p in prompts], "prompts")

        def encode(pairs: Sequence[tuple[str, str | None]]) -> list[tuple[Any, bool]]:
            return [served.text_item(q, p) for q, p in pairs]

        encoded = await encode_in_turns(encode, list(zip(body.query, prompts)), sizes)
        return RewardResponse(**openrlhf_reply(await results_for([item for item, _ in encoded])))

    @app.post("/compare", response_model=CompareResponse, dependencies=guarded)
    async def compare(body: CompareRequest) -> CompareResponse:
        if served.kind != "pairwise":
            check_template()
        check_count(2 * len(body.comparisons), "items (2 per comparison)")
        sizes = [sum(len(m["content"]) for m in c.context()) + len(c.response_a) + len(c.response_b)
                 for c in body.comparisons]
        check_chars(sizes, "comparisons")
        try:
            items = await encode_in_turns(partial(_encode_comparisons, served), body.comparisons, sizes)
        except NotServed as e:
            raise Refused(str(e)) from None
        probs = served.probabilities(await results_for(items))
        return CompareResponse(prob_a_better=probs, model=config.model_name)

    from rewardlab.serving.peers import add_peer_routes

    add_peer_routes(app, scorer, served, config, guarded, PeerRuntime(
        encode_in_turns=encode_in_turns, results_for=results_for, check_count=check_count, check_chars=check_chars,
        check_rewards=check_rewards, check_template=check_template))

    @app.get("/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        return HealthResponse(status="ok", model=config.model_name, queue_depth=batcher.queue_depth)

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=guarded)
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last = outermost: sees the 413s too
    return app
