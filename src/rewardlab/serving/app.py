"""`create_app(scorer, config)`: the FastAPI reward-model server.

Endpoints:
- ``POST /v1/score``: ``{"conversations": [[{"role", "content"}, ...], ...]}`` -> ``{"rewards": [...]}``;
  each conversation is chat-templated exactly as `RewardScorer.score` does it.
- ``POST /get_reward``: OpenRLHF's protocol, ``{"query": [text, ...]}`` -> ``{"rewards": [...]}``; each text is
  already chat-formatted, so it is tokenized as is (a leading BOS string is dropped when the tokenizer adds its
  own, so BOS is never doubled) and left-truncated to the scorer's ``max_length``.
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
from rewardlab.serving.metrics import ServerMetrics
from rewardlab.serving.middleware import BodyLimitMiddleware, MetricsMiddleware

ENDPOINTS = ("/v1/score", "/get_reward", "/health", "/metrics")


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


class ScoreResponse(BaseModel):
    rewards: list[float]
    truncated: int = Field(description="How many of the conversations were cut from the left to max_length.")
    model: str


class RewardRequest(BaseModel):
    """OpenRLHF's body; its other keys (e.g. ``prompts``, ``labels``) are accepted and ignored."""

    query: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class RewardResponse(BaseModel):
    rewards: list[float]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model: str
    queue_depth: int


def encode_text(encoder: Any, text: str) -> tuple[list[int], bool]:
    """Token ids of already chat-formatted `text`: no doubled BOS, left-truncated. Returns (ids, truncated).

    `encoder` is the scorer's `ConversationEncoder`, so raw text and templated conversations share one rule.
    """
    if encoder.bos_text and text.startswith(encoder.bos_text):
        text = text[len(encoder.bos_text) :]
    ids = encoder.tokenizer(text, add_special_tokens=True)["input_ids"]
    if len(ids) > encoder.max_length:
        return ids[-encoder.max_length :], True
    return ids, False


def _encode_conversations(encoder: Any, conversations: Sequence[Sequence[dict[str, str]]]
                          ) -> list[tuple[list[int], bool]]:
    return [encoder.encode(conv) for conv in conversations]


def _encode_texts(encoder: Any, texts: Sequence[str]) -> list[tuple[list[int], bool]]:
    return [encode_text(encoder, t) for t in texts]


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
    """Build the server around `scorer` (a `RewardScorer`, or anything with `.encoder` and `.score_ids`).

    The scorer's own ``batch_size``/``max_tokens_per_batch`` split what the batcher hands it into forward
    passes; `serve_command` sets them from `config` (``max_batch_size``/``max_batch_tokens``).
    """
    config = config or ServeConfig()
    encoder = scorer.encoder
    has_template = bool(getattr(encoder.tokenizer, "chat_template", None))
    metrics = ServerMetrics(ENDPOINTS)
    batcher = MicroBatcher(scorer.score_ids, max_batch_tokens=config.max_batch_tokens,
                           max_batch_size=config.max_batch_size, max_queue=config.max_queue,
                           max_wait_ms=config.max_wait_ms, observer=metrics.observe_batch)
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
        code = 422 if exc.status_code == 400 else exc.status_code
        detail = f"malformed request body: {exc.detail}" if exc.status_code == 400 else exc.detail
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

    def check_count(n: int) -> None:
        if n > config.max_items_per_request:
            raise HTTPException(413, f"{n} items in one request; the limit is {config.max_items_per_request} "
                                     "(max_items_per_request): split the request")

    async def rewards_for(encoded: list[tuple[list[int], bool]]) -> list[float]:
        try:
            return await batcher.submit([ids for ids, _ in encoded])
        except QueueFull as e:
            raise HTTPException(503, f"server busy: {e}; retry later", headers={"Retry-After": "1"}) from None
        except Exception as e:
            raise HTTPException(500, f"model call failed: {type(e).__name__}: {e}") from None

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=guarded)
    async def score(body: ScoreRequest) -> ScoreResponse:
        if not has_template:
            raise HTTPException(400, "the model's tokenizer has no chat template; send formatted text to "
                                     "/get_reward instead")
        check_count(len(body.conversations))
        conversations = [[m.model_dump() for m in conv] for conv in body.conversations]
        encoded = await off_loop(_encode_conversations, encoder, conversations)
        rewards = await rewards_for(encoded)
        return ScoreResponse(rewards=rewards, truncated=sum(cut for _, cut in encoded), model=config.model_name)

    @app.post("/get_reward", response_model=RewardResponse, dependencies=guarded)
    async def get_reward(body: RewardRequest) -> RewardResponse:
        check_count(len(body.query))
        encoded = await off_loop(_encode_texts, encoder, body.query)
        return RewardResponse(rewards=await rewards_for(encoded))

    @app.get("/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        return HealthResponse(status="ok", model=config.model_name, queue_depth=batcher.queue_depth)

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=guarded)
    async def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last = outermost: sees the 413s too
    return app
