"""Comparing two short AdamW trajectories whose gradients differ only by floating-point rounding.

Why a plain ``allclose(atol=1e-5)`` on the weights is wrong for this: Adam moves every weight by about
``lr * m / sqrt(v)``, roughly ``lr`` whatever the size of its gradient. Where one gradient component is itself near
zero, a different summation order (pair rows vs padded batches, two threads vs one, AVX-512/AMX vs AVX2 kernels)
changes it by an amount comparable to the component, and Adam turns that into a step of a different size or sign:
that one weight may then differ by up to ``2 * lr`` per step. Measured on an AVX-512/AMX CPU: 1 of 26,944 weights of
the tiny Llama differed by 2.0e-5 after three steps at lr 1e-3, every other by less than 1e-6 (on AVX2 all by less
than 1e-5). Everywhere else the steps agree to rounding.

So the check is: every weight within the largest gap two Adam trajectories can open (``2 * lr * steps``), and all
but a small fraction of the weights within ``atol``. A real divergence (a wrong gradient, a skipped or doubled
micro-batch) changes Adam's second and later steps of most weights by a good fraction of lr and fails the second
(the callers also compare the logged losses).
"""

from __future__ import annotations

import torch


def assert_same_adam_trajectory(got: torch.Tensor, want: torch.Tensor, *, lr: float, steps: int, atol: float = 1e-5,
                                max_fraction_off: float = 1e-3) -> None:
    """`got`, `want`: flat weights (N,) after `steps` AdamW steps at `lr` from the same start."""
    assert got.shape == want.shape
    gap = (got - want).abs()
    bound = 2 * lr * steps
    assert gap.max().item() <= bound, f"a weight differs by {gap.max().item():.3g} > 2 * lr * steps = {bound:.3g}"
    off = int((gap > atol).sum())
    assert off <= max_fraction_off * gap.numel(), f"{off} of {gap.numel()} weights differ by more than {atol}"
