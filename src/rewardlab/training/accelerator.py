"""How the trainer asks accelerate for its devices: CPU runs, and DeepSpeed launches on a machine without CUDA.

accelerate's ``Accelerator(cpu=True)`` sets up gloo DDP for a multi-process CPU launch (MULTI_CPU) but then
ignores a DeepSpeed launch altogether: its state only turns a ``--use_deepspeed`` launch into DEEPSPEED when
``cpu`` is False (accelerate 1.15, state.py ``PartialState.__init__`` and ``AcceleratorState.__init__``). With
``cpu=False`` and no CUDA, accelerate calls ``deepspeed.init_distributed()``, DeepSpeed picks its CPU accelerator
and, without oneCCL installed, the gloo backend (deepspeed/accelerator/cpu_accelerator.py).
"""

from __future__ import annotations

import os

import torch


def deepspeed_launch() -> bool:
    """True under ``accelerate launch --use_deepspeed`` (or a config file with ``distributed_type: DEEPSPEED``)."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def skip_deepspeed_shm_build() -> None:
    """Tell DeepSpeed its shared-memory all-reduce op cannot be built, so ``init_distributed`` does not build it.

    On the CPU accelerator, DeepSpeed's TorchBackend JIT-compiles ``deepspeed_shm_comm`` (C++, ninja) at every
    start-up (deepspeed 0.19.8 comm/torch.py ``build_shm_op``), though only ``inference_all_reduce`` (tensor-parallel
    inference, module_inject/layers.py) uses it; ZeRO training talks through torch.distributed. The first build took
    244 s here (82 s of CPU), and a run killed during it leaves torch's ``lock`` file in the extension folder, after
    which every later start waits on it forever (torch/utils/file_baton.py): the "> 200 s hang at start-up".
    ``deepspeed.ops.__compatible_ops__`` is the dict ``build_shm_op`` consults (cached on first access, so the edit
    holds for the process).
    """
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def accelerator_device_kwargs() -> dict:
    """The device arguments for ``Accelerator``: ``cpu=True`` on a machine without CUDA (gloo DDP for several
    processes), except under a DeepSpeed launch, where True would silently drop DeepSpeed (see the module docstring).

    A DeepSpeed launch on the CPU also names its backend: with ``cpu=False`` and no GPU accelerate's own backend
    choice is None, after which its state says one process and rank 0 on every rank (state.py "No backend == no
    distributed training") although DeepSpeed's process group has them all; the batch sizes and data shards would
    then be wrong. The backend is DeepSpeed's CPU one (gloo, or ccl where oneCCL's bindings are installed).
    """
    if torch.cuda.is_available():
        return {"cpu": False}
    if not deepspeed_launch():
        return {"cpu": True}
    from accelerate.utils import InitProcessGroupKwargs
    from deepspeed.accelerator import get_accelerator

    skip_deepspeed_shm_build()
    backend = get_accelerator().communication_backend_name()
    return {"cpu": False, "kwargs_handlers": [InitProcessGroupKwargs(backend=backend)]}
