"""Routes that speak the bodies clients written for vLLM's and SGLang's pooling servers send (issue 16.7).

Read from their code (versions of 2026):
- vLLM ``POST /classify`` (vllm/entrypoints/pooling/classify/protocol.py, commit dff4cad): ``{"model", "input":
  str | [str] | [int] | [[int]]}`` or ``{"model", "messages": [...]}`` (one conversation), ``use_activation``,
  ``truncate_prompt_tokens``; reply ``{"id": "classify-...", "object": "list", "created", "model", "data":
  [{"index", "label", "probs", "num_classes"}], "usage": {...}}``. ``probs`` = the score head's outputs through
  the activation vLLM picks from the model's config (`classification_activation`), raw with
  ``use_activation: false``.
- vLLM ``POST /pooling`` (pooling/protocol.py, commit 343bacaf): the same inputs plus ``task``; reply ``data:
  [{"index", "object": "pooling", "data": [floats]}]``. Sequence reward models are its ``classify`` task, so
  ``data`` is what /classify's ``probs`` is; per-token tasks (``token_classify``, ``embed``...) answer 400.
- vLLM ``GET /v1/models``: ``{"object": "list", "data": [{"id", "object": "model", ...}]}``; clients read
  ``data[0]["id"]``.
- SGLang ``POST /classify`` (python/sglang/srt/entrypoints/http_server.py: an ``EmbeddingReqInput``): ``{"text":
  str | [str]}`` or ``{"input_ids": ...}``; reply ``{"embedding": [raw outputs], "meta_info": {...}}``, a list of
  them for a list (its docs read ``response["embedding"][0]`` as the reward). Same path as vLLM's, other body: the
  body says which client is calling (``text``/``input_ids`` SGLang, ``input``/``messages`` vLLM) and it gets its
  own peer's reply.
- SGLang ``POST /v1/classify`` (docs/supported_models/classify_models.md): vLLM's body and reply. SGLang computes
  ``probs`` as a softmax over the outputs, which is always ``[1.0]`` for a one-output reward model; here they are
  vLLM's (sigmoid for one output), the only reading in which they carry the reward.

Texts are encoded as the model was trained (exactly one BOS, the template's end of turn completed, left
truncation): ``add_special_tokens`` is accepted and does not change that. The ``model`` field is accepted whatever
it names (vLLM answers 404 to another name; a reward server has one model).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from rewardlab.serving.config import ServeConfig
from rewardlab.serving.kinds import MULTI_OBJECTIVE_NEEDS_MESSAGES, NotServed, ServedModel, output_vector

Activation = Literal["identity", "sigmoid", "softmax"]


def classification_activation(problem_type: str | None, num_labels: int) -> Activation:
    """The activation vLLM applies to a sequence classifier's outputs, transcribed from
    vllm-project/vllm vllm/model_executor/layers/pooler/activations.py (commit 1c71367):
    ``get_classification_activation_function`` (by ``config.problem_type``, aligned with transformers'
    ForSequenceClassificationLoss) and ``PoolerClassify`` (sigmoid below 2 labels, else softmax)."""
    if problem_type == "regression":
        return "identity"
    if problem_type == "multi_label_classification":
        return "sigmoid"
    if problem_type == "single_label_classification":
        return "sigmoid" if num_labels < 2 else "softmax"  # PoolerClassify
    return "sigmoid" if num_labels < 2 else "softmax"


def activate(values: Sequence[float], activation: Activation) -> list[float]:
    """`values` through `activation` (float64 maths, returned as floats)."""
    if activation == "identity":
        return [float(v) for v in values]
    if activation == "sigmoid":
        return [1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)) for v in values]
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


class PeerMessage(BaseModel):
    """An OpenAI-style chat message as vLLM takes it: ``content`` a string or a list of ``{"type": "text", "text"}``
    parts (joined with newlines, as vLLM's "string" content format does)."""

    role: Annotated[str, Field(min_length=1)]
    content: str | list[dict[str, Any]] | None = None

    def as_message(self) -> dict[str, str]:
        if self.content is None or isinstance(self.content, str):
            return {"role": self.role, "content": self.content or ""}
        texts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"content part of type {part.get('type')!r} is not served; only text parts")
            texts.append(part["text"])
        return {"role": self.role, "content": "\n".join(texts)}


class _PoolingFields(BaseModel):
    model: str | None = None
    user: str | None = None
    truncate_prompt_tokens: Annotated[int, Field(ge=-1)] | None = None
    use_activation: bool | None = None
    task: str | None = None  # /pooling only
    encoding_format: str = "float"  # /pooling only


class CompletionInput(_PoolingFields):
    """vLLM's ``ClassificationCompletionRequest`` / ``PoolingCompletionRequest`` (the fields that matter here)."""

    input: list[int] | list[list[int]] | str | list[str]
    add_special_tokens: bool = True


class ChatInput(_PoolingFields):
    """vLLM's ``ClassificationChatRequest`` / ``PoolingChatRequest``: one conversation."""

    messages: Annotated[list[PeerMessage], Field(min_length=1)]
    add_generation_prompt: bool = False
    continue_final_message: bool = False
    add_special_tokens: bool = False
    chat_template: str | None = None


class SglangInput(BaseModel):
    """SGLang's ``EmbeddingReqInput`` as its ``/classify`` reads it."""

    text: str | list[str] | None = None
    input_ids: list[int] | list[list[int]] | None = None
    model: str | None = None
    rid: str | list[str] | None = None


def _validation_422(e: ValidationError) -> HTTPException:
    errors = [{"loc": list(x.get("loc", ())), "msg": str(x.get("msg", "")), "type": str(x.get("type", ""))}
              for x in e.errors()]
    return HTTPException(422, errors)


def add_peer_routes(app: FastAPI, scorer: Any, served: ServedModel, config: ServeConfig, guarded: list[Any],
                    runtime: Any) -> None:
    """Add vLLM's ``/classify``, ``/pooling``, ``/v1/models`` and SGLang's ``/classify``, ``/v1/classify`` to `app`
    (see the module docstring); `runtime` is the app's `PeerRuntime` (limits, tokenizer turns, batcher)."""
    from rewardlab.serving.middleware import Refused

    model_config = getattr(getattr(scorer, "model", None), "config", None)
    problem_type = getattr(model_config, "problem_type", None)
    id2label = dict(getattr(model_config, "id2label", None) or {})
    vocab = len(served.encoder.tokenizer)

    def refused(e: Exception) -> HTTPException:
        return Refused(str(e))

    def text_items(texts: Sequence[str]) -> list[tuple[Any, bool]]:
        return [served.text_item(t, None) for t in texts]

    async def encode_texts(texts: list[str], where: str) -> list[Any]:
        if served.kind == "multi_objective":
            raise refused(NotServed(MULTI_OBJECTIVE_NEEDS_MESSAGES))
        runtime.check_count(len(texts))
        sizes = [len(t) for t in texts]
        runtime.check_chars(sizes, where)
        return [item for item, _ in await runtime.encode_in_turns(text_items, texts, sizes)]

    def encode_ids(lists: list[list[int]], where: str) -> list[Any]:
        runtime.check_count(len(lists))
        for i, ids in enumerate(lists):
            if not ids:
                raise HTTPException(422, f"{where}[{i}] is an empty token list")
            bad = next((t for t in ids if not 0 <= t < vocab), None)
            if bad is not None:
                raise HTTPException(422, f"{where}[{i}] holds token id {bad}, outside the vocabulary (0..{vocab - 1})")
        try:
            return [served.ids_item(ids)[0] for ids in lists]
        except NotServed as e:
            raise refused(e) from None

    async def encode_vllm(body: CompletionInput | ChatInput) -> list[Any]:
        runtime.check_rewards()
        if isinstance(body, ChatInput):
            runtime.check_template()
            if body.chat_template is not None:
                raise refused(ValueError("chat_template is not served: a reward model is read with the template "
                                         "it was trained with"))
            if body.add_generation_prompt or body.continue_final_message:
                raise refused(ValueError("add_generation_prompt / continue_final_message: a reward is read at the "
                                         "end of a complete conversation, not of an open turn"))
            try:
                conversation = [m.as_message() for m in body.messages]
            except ValueError as e:
                raise HTTPException(422, str(e)) from None
            runtime.check_chars([sum(len(m["content"]) for m in conversation)], "messages")
            return [item for item, _ in await runtime.encode_in_turns(
                lambda convs: [served.conversation_item(c) for c in convs], [conversation], [1])]
        x = body.input
        if isinstance(x, str) or (isinstance(x, list) and x and isinstance(x[0], str)):
            texts = [x] if isinstance(x, str) else list(x)
            if any(not t for t in texts):
                raise HTTPException(422, "input holds an empty text")
            return await encode_texts(texts, "input")
        if not x:
            raise HTTPException(422, "input is empty")
        return encode_ids([x] if isinstance(x[0], int) else list(x), "input")

    def cut(items: list[Any], truncate: int | None) -> list[Any]:
        """vLLM's ``truncate_prompt_tokens`` (k > 0 keeps k tokens; -1 or none: the model's limit), from the left."""
        if not truncate or truncate < 0 or served.kind == "multi_objective":
            return items
        return [ids[-truncate:] for ids in items]

    def usage(items: list[Any]) -> dict[str, Any]:
        n = sum(len(item[0] if isinstance(item, tuple) else item) for item in items)
        return {"prompt_tokens": n, "total_tokens": n, "completion_tokens": 0, "prompt_tokens_details": None}

    def probs_of(result: dict[str, Any], use_activation: bool | None) -> list[float]:
        values = output_vector(result)
        if use_activation is False:
            return values
        return activate(values, classification_activation(problem_type, len(values)))

    async def vllm_classify(body: CompletionInput | ChatInput) -> dict[str, Any]:
        items = cut(await encode_vllm(body), body.truncate_prompt_tokens)
        results = await runtime.results_for(items)
        data = []
        for i, result in enumerate(results):
            probs = probs_of(result, body.use_activation)
            best = max(range(len(probs)), key=probs.__getitem__)
            data.append({"index": i, "label": id2label.get(best), "probs": probs, "num_classes": len(probs)})
        return {"id": f"classify-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()),
                "model": config.model_name, "data": data, "usage": usage(items)}

    async def sglang_classify(body: SglangInput) -> Any:
        runtime.check_rewards()
        if (body.text is None) == (body.input_ids is None):
            raise HTTPException(422, "send exactly one of 'text' and 'input_ids'")
        if body.text is not None:
            single = isinstance(body.text, str)
            texts = [body.text] if single else list(body.text)
            if not texts or any(not t for t in texts):
                raise HTTPException(422, "text is empty or holds an empty text")
            items = await encode_texts(texts, "text")
        else:
            ids = body.input_ids or []
            if not ids:
                raise HTTPException(422, "input_ids is empty")
            single = isinstance(ids[0], int)
            items = encode_ids([ids] if single else list(ids), "input_ids")
        results = await runtime.results_for(items)
        rids = body.rid if isinstance(body.rid, list) else None
        out = [{"embedding": output_vector(r),
                "meta_info": {"id": (rids[i] if rids and i < len(rids) else body.rid if isinstance(body.rid, str)
                                     else uuid.uuid4().hex),
                              "prompt_tokens": len(item[0] if isinstance(item, tuple) else item)}}
               for i, (r, item) in enumerate(zip(results, items))]
        return out[0] if single else out

    def parse(model: type[BaseModel], raw: Any) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError as e:
            raise _validation_422(e) from None

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            raw = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as e:
            raise HTTPException(422, f"malformed request body: {e}") from None
        if not isinstance(raw, dict):
            raise HTTPException(422, "the request body must be a JSON object")
        return raw

    def vllm_body(raw: dict[str, Any]) -> CompletionInput | ChatInput:
        if "messages" in raw:
            return parse(ChatInput, raw)
        if "input" in raw:
            return parse(CompletionInput, raw)
        raise HTTPException(422, "send 'input' (texts or token ids) or 'messages' (vLLM's body), or 'text' / "
                                 "'input_ids' (SGLang's /classify body)")

    @app.post("/classify", dependencies=guarded)
    async def classify(request: Request) -> JSONResponse:
        raw = await json_body(request)
        if ("text" in raw or "input_ids" in raw) and "input" not in raw and "messages" not in raw:
            return JSONResponse(await sglang_classify(parse(SglangInput, raw)))
        return JSONResponse(await vllm_classify(vllm_body(raw)))

    @app.post("/v1/classify", dependencies=guarded)
    async def v1_classify(request: Request) -> JSONResponse:
        return JSONResponse(await vllm_classify(vllm_body(await json_body(request))))

    @app.post("/pooling", dependencies=guarded)
    async def pooling(request: Request) -> JSONResponse:
        body = vllm_body(await json_body(request))
        if body.task not in (None, "classify"):
            raise refused(ValueError(f"task {body.task!r} is not served: a sequence reward model answers the "
                                     "'classify' task (one output vector per input)"))
        if body.encoding_format != "float":
            raise refused(ValueError(f"encoding_format {body.encoding_format!r} is not served; use 'float'"))
        answer = await vllm_classify(body)
        data = [{"index": d["index"], "object": "pooling", "data": d["probs"]} for d in answer["data"]]
        return JSONResponse({"id": f"pool-{uuid.uuid4().hex}", "object": "list", "created": answer["created"],
                             "model": answer["model"], "data": data, "usage": answer["usage"]})

    created = int(time.time())

    @app.get("/v1/models", dependencies=guarded)
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{
            "id": config.model_name, "object": "model", "created": created, "owned_by": "rewardlab",
            "root": config.model_name, "parent": None, "max_model_len": served.encoder.max_length,
            "permission": []}]}
