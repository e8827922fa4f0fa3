"""`ServeConfig`: every knob of the reward-model server, documented once (in each field's ``help``)."""

from __future__ import annotations

import dataclasses

from rewardlab.config import field

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclasses.dataclass
class ServeConfig:
    host: str = field("127.0.0.1", "Interface to bind. Loopback by default: exposing a model server is a choice.")
    port: int = field(8000, "TCP port to listen on.")
    api_key: str | None = field(None, "If set, scoring and /metrics need 'Authorization: Bearer KEY' or "
                                      "'X-API-Key: KEY' (401 otherwise); /health stays open for probes.")
    max_body_bytes: int = field(64 * 1024 * 1024, "Largest request body accepted; larger ones get 413 before any "
                                                  "parsing. Sized for OpenRLHF, which POSTs a whole rollout at once: "
                                                  "1,024 queries of ~16 KB with their prompts, JSON-escaped.")
    max_items_per_request: int = field(4096, "Most conversations (or query strings) in one request; more is 413. "
                                             "A request is split into forward passes of max_batch_size, never "
                                             "refused for being larger than one.")
    max_text_chars: int = field(256 * 1024, "Longest text (a query, or a conversation's contents together) in "
                                            "characters; longer is 413 naming the item, before any tokenizing, so "
                                            "one request cannot hold the tokenizer for seconds.")
    max_queue: int = field(8192, "Most conversations waiting for the model across all requests; a request that "
                                 "would exceed it gets 503 (retry later) instead of growing memory without bound.")
    max_batch_tokens: int = field(16384, "Tokens computed per forward pass: the prefix tree's, every prefix the "
                                         "batch's sequences share counted once (padded tokens, longest x count, for "
                                         "kinds that pad); bounds activation memory whatever the traffic.")
    max_batch_size: int = field(64, "Most conversations per forward pass.")
    max_wait_ms: float = field(2.0, "How long the batcher waits for more requests to join a batch that is not "
                                    "full yet. Small: under load the queue fills while the model runs anyway.")
    model_name: str = field("reward-model", "Name reported by /health and in responses.")

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        for name in ("max_body_bytes", "max_items_per_request", "max_text_chars", "max_queue", "max_batch_tokens",
                     "max_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.max_items_per_request > self.max_queue:
            raise ValueError(f"max_items_per_request ({self.max_items_per_request}) exceeds max_queue "
                             f"({self.max_queue}): such a request could never be admitted; lower the first or "
                             "raise the second")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty; pass a non-empty key or leave it unset")

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS
