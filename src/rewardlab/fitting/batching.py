"""Deterministic data order and micro-batch planning.

The training order is a stream: epoch e is a seeded permutation of all pairs, epochs laid end to end, and
optimizer step s consumes stream positions [s*B, (s+1)*B). Every step therefore sees a full global batch,
and resuming at step s needs nothing but s. Within a step, pairs may be sorted by length before being cut
into micro-batches: the step's gradient (a sum over its pairs) is unchanged, padding shrinks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def total_steps(num_pairs: int, batch_size: int, num_epochs: float, max_steps: int | None = None) -> int:
    """Optimizer steps of a run: `max_steps` when set (fewer or more than `num_epochs` would give: the stream
    of epochs is endless), else ceil(pairs x epochs / batch)."""
    if num_pairs <= 0:
        raise ValueError("no training pairs")
    if max_steps is not None:
        return max_steps
    return max(1, math.ceil(num_pairs * num_epochs / batch_size))


def fit_batch_size(num_pairs: int, batch_size: int, unit: int) -> int:
    """The global batch to train with: `batch_size`, or, when that is more than the pairs, the most pairs that
    whole micro-batches on every process (`unit` = micro_batch_size x processes) hold.

    A batch larger than the data would repeat pairs within one step: with the recipes' 256 a 36-row file ran a
    single 6-minute step. Raises ValueError when the pairs do not fill even one micro-batch per process.
    """
    if batch_size <= num_pairs:
        return batch_size
    if num_pairs < unit:
        raise ValueError(f"{num_pairs} training pairs cannot fill one micro-batch per process ({unit} pairs); "
                         "lower --micro_batch_size or add data")
    return num_pairs // unit * unit


def epoch_permutation(num_pairs: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_pairs)


def step_indices(step: int, num_pairs: int, batch_size: int, seed: int) -> list[int]:
    """The pair indices of optimizer step `step` (0-based)."""
    out: list[int] = []
    pos = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(pos, num_pairs)
        perm = epoch_permutation(num_pairs, seed, epoch)
        take = min(batch_size - len(out), num_pairs - offset)
        out.extend(perm[offset : offset + take].tolist())
        pos += take
    return out


def plan_micro_batches(
    indices: Sequence[int],
    lengths: Sequence[int],
    micro_batch_size: int,
    world_size: int = 1,
    rank: int = 0,
    length_grouping: bool = True,
) -> list[list[int]]:
    """Cut one step's pairs into micro-batches and return this rank's share.

    With length grouping, pairs are sorted longest first so each micro-batch holds similar lengths; chunk k
    goes to rank k % world_size, so every rank runs the same number of micro-batches.
    """
    order = sorted(indices, key=lambda i: -lengths[i]) if length_grouping else list(indices)
    chunks = [order[i : i + micro_batch_size] for i in range(0, len(order), micro_batch_size)]
    if len(chunks) % world_size:
        raise ValueError(
            f"{len(chunks)} micro-batches cannot be shared evenly by {world_size} processes; "
            "make batch_size a multiple of micro_batch_size * number of processes"
        )
    return chunks[rank::world_size]


def plan_lanes(indices: Sequence[int], costs: Sequence[float], micro_batch_size: int, lanes: int,
               length_grouping: bool = True) -> list[list[list[int]]]:
    """Share one step's pairs among `lanes` workers that run side by side (`parallel_micro_batches`).

    Each lane gets whole micro-batches (the counts differ by at most one) and the pairs are placed so the lanes'
    total costs (e.g. tokens each pair runs through the model) are as even as a greedy fill plus swaps make them:
    the step ends when its slowest lane does. The pairs, and so the step's gradient (a sum over them), are the
    same as with `plan_micro_batches`; only which pairs share a micro-batch differs. Returns, per lane, its
    micro-batches (a lane may be empty when there are fewer micro-batches than lanes).
    """
    if len(indices) % micro_batch_size:
        raise ValueError(f"{len(indices)} pairs are not a whole number of micro-batches of {micro_batch_size}")
    chunks = len(indices) // micro_batch_size
    capacity = [(chunks // lanes + (k < chunks % lanes)) * micro_batch_size for k in range(lanes)]
    members: list[list[int]] = [[] for _ in range(lanes)]
    load = [0.0] * lanes
    for i in sorted(indices, key=lambda i: -costs[i]):  # longest first, each to the lightest lane with room
        k = min((k for k in range(lanes) if len(members[k]) < capacity[k]), key=lambda k: load[k])
        members[k].append(i)
        load[k] += costs[i]
    improved = True
    while improved:  # swap pairs between the heaviest lane and another while that lowers the heavier of the two
        # (each swap lowers the sum of squared loads, so this ends)
        improved = False
        heavy = max(range(lanes), key=lambda k: load[k])
        for other in range(lanes):
            best = None  # (the heavier of the two after the swap, a, b)
            for a in members[heavy]:
                for b in members[other]:
                    d = costs[a] - costs[b]
                    after = max(load[heavy] - d, load[other] + d)
                    if 0 < d and after < load[heavy] and (best is None or after < best[0]):
                        best = (after, a, b)
            if best is not None:
                _, a, b = best
                d = costs[a] - costs[b]
                members[heavy][members[heavy].index(a)] = b
                members[other][members[other].index(b)] = a
                load[heavy] -= d
                load[other] += d
                improved = True
                break
    position = {i: p for p, i in enumerate(indices)}
    out = []
    for share in members:
        order = sorted(share, key=lambda i: -costs[i] if length_grouping else position[i])
        out.append([order[j : j + micro_batch_size] for j in range(0, len(order), micro_batch_size)])
    return out
