"""`rewardlab serve MODEL`: the one plain function the CLI calls (it only parses arguments)."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from rewardlab.serving.config import ServeConfig

API_KEY_ENV = "REWARDLAB_API_KEY"


def served_endpoints(kind: Any) -> str:
    """The answering routes a model of `kind` (a `rewardlab.kinds.registry.Kind`) is served with: the reward routes
    when it answers a reward, /compare when it answers a probability."""
    routes = []
    if kind.gives_reward:
        routes.append("POST /v1/rewards, POST /get_reward (OpenRLHF), POST /classify /v1/classify /pooling (vLLM, "
                      "SGLang)")
    if "probability" in kind.answers:
        routes.append("POST /compare")
    return ", ".join(routes)


def serve_command(model: str, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                  device: str | None = None, dtype: str | None = None, max_length: int | None = None,
                  trust_remote_code: bool = False, log_level: str = "info", aggregation: str | None = None,
                  **config_overrides: Any) -> int:
    """Load `model` (any kind, `rewardlab.kinds.load_scorer`) and serve it until interrupted. Returns the exit code.

    `api_key` falls back to ``$REWARDLAB_API_KEY`` (a key on the command line is visible to every local user
    in the process list). `config_overrides` are other `ServeConfig` fields (max_queue, max_batch_tokens, ...).
    """
    import uvicorn

    from rewardlab.kinds import kind_of, load_scorer
    from rewardlab.serving.app import create_app

    known = {f.name for f in dataclasses.fields(ServeConfig)}
    unknown = set(config_overrides) - known
    if unknown:
        raise ValueError(f"unknown serve options {sorted(unknown)}; known: {sorted(known)}")
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    config_overrides.setdefault("model_name", model)
    config = ServeConfig(host=host, port=port, api_key=api_key, **config_overrides)
    if not config.is_loopback and config.api_key is None:
        print(f"[rewardlab] warning: serving on {host} without an API key: anyone who can reach this port can "
              f"use the model (set --api-key or ${API_KEY_ENV})", file=sys.stderr)
    scorer = load_scorer(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code, max_length=max_length,
                         batch_size=config.max_batch_size, max_tokens_per_batch=config.max_batch_tokens,
                         aggregation=aggregation)
    app = create_app(scorer, config)
    print(f"[rewardlab] serving {model} ({scorer.kind}) on http://{host}:{port} ({served_endpoints(kind_of(scorer))}, "
          "GET /health, "
          "GET /v1/models, GET /metrics)", file=sys.stderr)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level)
    return 0
