"""`create_app(scorer, config)`: the FastAPI reward-model server, for a model of any kind (see kinds.py).

Endpoints:
- ``POST /v1/score``: ``{"conversations": [[{"role", "content"}, ...], ...]}`` -> ``{"rewards": [...]}``;
  each conversation is chat-templated exactly as `RewardScorer.score` does it.
- ``POST /get_reward``: OpenRLHF's protocol, ``{"query": [text, ...]}`` -> ``{"rewards": [...]}``; each text is
  already chat-formatted, so it is tokenized as is (a leading BOS string is dropped when the tokenizer adds its
  own, so BOS is never doubled) and left-truncated to the scorer's ``max_length``.
  Regression and multi-objective models add ``scores`` (per attribute / objective; multi-objective also
  ``corrected`` and ``gates``) to both answers; a pairwise model answers 400 (it gives no reward to one response).
- ``POST /compare``: ``{"comparisons": [{"prompt", "response_a", "response_b"}, ...]}`` -> ``{"prob_a_better":
  [...]}``: the pairwise model's P(A better) averaged over both orderings; for reward models the Bradley-Terry
  probability of their rewards (400 for regression, whose rewards define none).
- ``GET /health`` (open, for probes) and ``GET /metrics`` (Prometheus text).

Every model call goes through one `MicroBatcher` (see batching.py): no handler ever runs the model itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, field_validator

from rewardlab.serving.batching import MicroBatcher, QueueFull
from rewardlab.serving.config import ServeConfig
from rewardlab.serving.kinds import NotServed, ServedModel, encode_text, reward_columns, served_model
from rewardlab.serving.metrics import ServerMetrics
from rewardlab.serving.middleware import BodyLimitMiddleware, MetricsMiddleware

ENDPOINTS = ("/v1/score", "/get_reward", "/compare", "/health", "/metrics")
__all__ = ["create_app", "encode_text"]


class Refused(HTTPException):
    """400 for a well-formed request that this model does not serve (kept 400: only the framework's own bare 400
    for an unparsable body is answered as 422)."""

    def __init__(self, detail: str):
        super().__init__(400, detail)


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


class ScoreResponse(KindDetails):
    rewards: list[float]
    truncated: int = Field(description="How many of the conversations were cut from the left to max_length.")
    model: str


class RewardRequest(BaseModel):
    """OpenRLHF's body; its other keys (e.g. ``labels``) are accepted and ignored, and so is ``prompts`` except by
    a multi-objective model, whose gate reads it (one formatted prompt per query)."""

    query: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    prompts: Any = None


class RewardResponse(KindDetails):
    rewards: list[float]


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


def _encode_conversations(served: ServedModel, conversations: Sequence[Sequence[dict[str, str]]]
                          ) -> list[tuple[Any, bool]]:
    return [served.conversation_item(conv) for conv in conversations]


def _encode_texts(served: ServedModel, texts: Sequence[str], prompts: Sequence[str | None]) -> list[tuple[Any, bool]]:
    return [served.text_item(t, p) for t, p in zip(texts, prompts)]


def _encode_comparisons(served: ServedModel, comparisons: Sequence[Comparison]) -> list[Any]:
    return [item for c in comparisons for item in served.comparison_items(c.context(), c.response_a, c.response_b)]


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
    batcher = MicroBatcher(served.score_items, max_batch_tokens=config.max_batch_tokens,
                           max_batch_size=config.max_batch_size, max_queue=config.max_queue,
                           max_wait_ms=config.max_wait_ms, observer=metrics.observe_batch,
                           item_tokens=served.item_tokens)
    metrics.queue_depth = lambda: batcher.queue_depth
    # Tokenizing runs off the event loop too, in ONE thread: a fast tokenizer used from several threads at once
    # can fail ("Already borrowed"), and one thread beside the model thread is all a CPU server should spend.
    tokenize_pool: list[ThreadPoolExecutor] = []

    async def off_loop(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(tokenize_pool[0], fn, *args)

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

    def check_template() -> None:
        if not has_template:
            raise Refused("the model's tokenizer has no chat template; send formatted text to /get_reward instead")

    def check_rewards() -> None:
        try:
            served.check_rewards()
        except NotServed as e:
            raise Refused(str(e)) from None

    async def results_for(items: list[Any]) -> list[Any]:
        try:
            return await batcher.submit(items)
        except QueueFull as e:
            raise HTTPException(503, f"server busy: {e}; retry later", headers={"Retry-After": "1"}) from None
        except Exception as e:
            raise HTTPException(500, f"model call failed: {type(e).__name__}: {e}") from None

    @app.post("/v1/score", response_model=ScoreResponse, response_model_exclude_none=True, dependencies=guarded)
    async def score(body: ScoreRequest) -> ScoreResponse:
        check_rewards()
        check_template()
        check_count(len(body.conversations))
        conversations = [[m.model_dump() for m in conv] for conv in body.conversations]
        encoded = await off_loop(_encode_conversations, served, conversations)
        results = await results_for([item for item, _ in encoded])
        return ScoreResponse(**reward_columns(results), truncated=sum(cut for _, cut in encoded),
                             model=config.model_name)

    @app.post("/get_reward", response_model=RewardResponse, response_model_exclude_none=True, dependencies=guarded)
    async def get_reward(body: RewardRequest) -> RewardResponse:
        check_rewards()
        check_count(len(body.query))
        try:
            prompts = served.text_prompts(len(body.query), body.prompts)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        encoded = await off_loop(_encode_texts, served, body.query, prompts)
        return RewardResponse(**reward_columns(await results_for([item for item, _ in encoded])))

    @app.post("/compare", response_model=CompareResponse, dependencies=guarded)
    async def compare(body: CompareRequest) -> CompareResponse:
        if served.kind != "pairwise":
            check_template()
        check_count(2 * len(body.comparisons), "items (2 per comparison)")
        try:
            items = await off_loop(_encode_comparisons, served, body.comparisons)
        except NotServed as e:
            raise Refused(str(e)) from None
        probs = served.probabilities(await results_for(items))
        return CompareResponse(prob_a_better=probs, model=config.model_name)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        return HealthResponse(status="ok", model=config.model_name, queue_depth=batcher.queue_depth)

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=guarded)
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last = outermost: sees the 413s too
    return app
