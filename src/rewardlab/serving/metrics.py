"""Server metrics in the Prometheus text format, without a client library (a few counters and histograms).

All updates happen on the event loop thread (the batcher reports after awaiting the model), so no locks.
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Callable, Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
BATCH_TOKEN_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144)


class Histogram:
    """Cumulative-bucket histogram as Prometheus expects (``le`` upper bounds, plus ``+Inf``)."""

    def __init__(self, buckets: Sequence[float]):
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def render(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        lines, running = [], 0
        for bound, n in zip(self.bounds, self.counts):
            running += n
            lines.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        braces = f"{{{labels}}}" if labels else ""
        lines.append(f"{name}_sum{braces} {self.total:.6f}")
        lines.append(f"{name}_count{braces} {self.count}")
        return lines


class ServerMetrics:
    """Requests and errors by endpoint and status code, latency, queue depth and batch shapes."""

    def __init__(self, endpoints: Sequence[str], queue_depth: Callable[[], int] = lambda: 0,
                 tokens_computed: Callable[[], int] | None = None):
        self.endpoints = tuple(endpoints)
        self.queue_depth = queue_depth
        # the model's own count of tokens it ran (RewardScorer.tokens_computed), when it keeps one: exact where a
        # batch was cut into several rows; else the batcher's budgeted tokens stand for it
        self.tokens_computed = tokens_computed
        self.tokens_submitted_total = 0
        self.tokens_budgeted_total = 0
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.latency = {e: Histogram(LATENCY_BUCKETS) for e in (*self.endpoints, "other")}
        self.batch_size = Histogram(BATCH_SIZE_BUCKETS)
        self.batch_tokens = Histogram(BATCH_TOKEN_BUCKETS)
        self.model_seconds = Histogram(LATENCY_BUCKETS)

    def endpoint(self, path: str) -> str:
        """Known routes keep their path; anything else is 'other' (unbounded label values would leak memory)."""
        return path if path in self.endpoints else "other"

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        endpoint = self.endpoint(path)
        self.requests[(endpoint, status)] += 1
        self.latency[endpoint].observe(seconds)

    def observe_batch(self, size: int, batch_tokens: int, seconds: float, submitted_tokens: int = 0) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(batch_tokens)
        self.model_seconds.observe(seconds)
        self.tokens_submitted_total += submitted_tokens
        self.tokens_budgeted_total += batch_tokens

    def errors(self) -> collections.Counter[int]:
        out: collections.Counter[int] = collections.Counter()
        for (_, status), n in self.requests.items():
            if status >= 400:
                out[status] += n
        return out

    def render(self) -> str:
        lines = ["# HELP rewardlab_requests_total HTTP requests by endpoint and status code.",
                 "# TYPE rewardlab_requests_total counter"]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f'rewardlab_requests_total{{endpoint="{endpoint}",code="{status}"}} {n}')
        lines += ["# HELP rewardlab_errors_total HTTP responses with status >= 400, by code.",
                  "# TYPE rewardlab_errors_total counter"]
        for status, n in sorted(self.errors().items()):
            lines.append(f'rewardlab_errors_total{{code="{status}"}} {n}')
        lines += ["# HELP rewardlab_queue_depth Conversations waiting for the model.",
                  "# TYPE rewardlab_queue_depth gauge",
                  f"rewardlab_queue_depth {self.queue_depth()}",
                  "# HELP rewardlab_request_latency_seconds Time from request start to response start.",
                  "# TYPE rewardlab_request_latency_seconds histogram"]
        for endpoint, hist in self.latency.items():
            if hist.count:
                lines += hist.render("rewardlab_request_latency_seconds", f'endpoint="{endpoint}"')
        lines += ["# HELP rewardlab_batch_size Conversations per model call.",
                  "# TYPE rewardlab_batch_size histogram", *self.batch_size.render("rewardlab_batch_size"),
                  "# HELP rewardlab_batch_tokens Tokens per model call as the batch budget counts them: the "
                  "prefix tree's (every shared prefix once) for models that score prefix-tree rows, else padded "
                  "(longest x count).",
                  "# TYPE rewardlab_batch_tokens histogram", *self.batch_tokens.render("rewardlab_batch_tokens"),
                  "# HELP rewardlab_tokens_submitted_total Tokens of the sequences sent to the model (each "
                  "sequence in full, as clients send them).",
                  "# TYPE rewardlab_tokens_submitted_total counter",
                  f"rewardlab_tokens_submitted_total {self.tokens_submitted_total}",
                  "# HELP rewardlab_tokens_computed_total Tokens the model actually ran for them (shared prefixes "
                  "once; padding included where a model runs padded batches).",
                  "# TYPE rewardlab_tokens_computed_total counter",
                  f"rewardlab_tokens_computed_total "
                  f"{self.tokens_computed() if self.tokens_computed else self.tokens_budgeted_total}",
                  "# HELP rewardlab_model_seconds Wall time of each model call.",
                  "# TYPE rewardlab_model_seconds histogram", *self.model_seconds.render("rewardlab_model_seconds")]
        return "\n".join(lines) + "\n"
