"""Mixture-of-experts reward models: what the router is, its load-balancing loss, and the expert modules.

A sparse MoE layer sends each token to `top_k` of `num_experts` expert MLPs chosen by a linear router. Training
only the reward loss lets the router collapse onto a few experts; Switch Transformer's load-balancing term
(Fedus et al. 2021, eqs. 4-6) pulls it back::

    aux = num_experts * sum_e f_e * P_e

f_e: the share of top-k assignments that went to expert e, P_e: the mean router probability of e, both over
every real token of every MoE layer (transformers' ``load_balancing_loss_func``: a balanced router gives
``top_k``). The peers that name this term for reward models do not add it: TRL's RewardTrainer
(huggingface/trl trl/trainer/reward_trainer.py @ 00b6d2b) reads ``output_router_logits`` into
``aux_loss_enabled`` but its ``compute_loss`` never uses it, and a ``*ForSequenceClassification`` model returns
no ``aux_loss``; OpenRLHF (OpenRLHF/OpenRLHF openrlhf/trainer/rm_trainer.py @ 0082bf1) adds
``aux_loss * aux_loss_coef`` but takes ``aux_loss`` from its reward model's output, which is the backbone's
(openrlhf/models/model.py: ``return (reward, outputs)``), a ``MoeModelOutputWithPast`` with router logits and
no ``aux_loss`` field. rewardlab computes it from the router logits transformers records (the model's
``_can_record_outputs["router_logits"]``), weighted per token (`load_balancing_loss`) so that padding never
counts and prefix-tree rows give the value of padded sequences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch


@dataclasses.dataclass(frozen=True)
class MoeRouting:
    num_experts: int
    top_k: int


def _config(model: Any) -> Any:
    from rewardlab.modeling.forward import unwrap_peft

    return getattr(unwrap_peft(model), "config", None)


def moe_routing(model: Any) -> MoeRouting | None:
    """Experts and top-k of a transformers MoE model whose routers transformers records; None for a dense model."""
    from rewardlab.modeling.forward import unwrap_peft

    config = _config(model)
    if config is None:
        return None
    experts = next((getattr(config, k) for k in ("num_local_experts", "num_experts", "n_routed_experts")
                    if isinstance(getattr(config, k, None), int)), 0)
    top_k = getattr(config, "num_experts_per_tok", None)
    records = getattr(type(unwrap_peft(model)), "_can_record_outputs", None) or {}
    if experts < 2 or not isinstance(top_k, int) or "router_logits" not in records:
        return None
    return MoeRouting(experts, top_k)


def load_balancing_loss(router_logits: Sequence[torch.Tensor], num_experts: int, top_k: int,
                        token_weights: torch.Tensor) -> torch.Tensor:
    """Switch Transformer's load-balancing loss over weighted tokens (float32 scalar).

    router_logits: one [T, E] tensor per MoE layer (the T tokens of the forward, flattened);
    token_weights: [T] or any shape with T elements: how many conversations each token stands for. 0 for
    padding, 1 for a token of one sequence, n for a prefix-tree token shared by n sequences: the loss is then
    the one over each conversation's tokens *as separate padded sequences would count them* (a pair's shared
    context twice), whatever the layout. With 0/1 weights it is transformers'
    ``load_balancing_loss_func(gate_logits, num_experts, top_k, attention_mask)`` (tested against it).
    """
    w = token_weights.reshape(-1).float()
    device = router_logits[0].device
    w = w.to(device)
    counts = torch.zeros(num_experts, dtype=torch.float32, device=device)  # weighted top-k assignments
    probs = torch.zeros(num_experts, dtype=torch.float32, device=device)  # weighted router probabilities
    total = w.new_zeros(())
    for logits in router_logits:
        if logits.shape[0] != w.numel():
            raise ValueError(f"router logits for {logits.shape[0]} tokens, token weights for {w.numel()}")
        p = torch.softmax(logits.float(), dim=-1)  # [T, E]
        chosen = torch.topk(p, top_k, dim=-1).indices  # [T, k]
        counts = counts.scatter_add(0, chosen.reshape(-1), w.repeat_interleave(top_k))
        probs = probs + (p * w[:, None]).sum(0)
        total = total + w.sum()
    return num_experts * ((counts / total) * (probs / total)).sum()


def router_modules(model: Any) -> list[torch.nn.Module]:
    """The router modules whose outputs transformers records as ``router_logits``."""
    from rewardlab.modeling.forward import unwrap_peft

    base = unwrap_peft(model)
    spec = (getattr(type(base), "_can_record_outputs", None) or {}).get("router_logits")
    target = getattr(spec, "target_class", spec)
    if not isinstance(target, type):
        return []
    return [m for m in base.modules() if isinstance(m, target)]


def sparse_moe_block_classes(model: Any) -> list[type]:
    """The classes of the modules that hold a router (Mixtral's ``MixtralSparseMoeBlock``, Qwen-MoE's
    ``Qwen2MoeSparseMoeBlock``): under DeepSpeed ZeRO-3 they must be leaf modules, gathered whole, because
    which experts a forward calls depends on the routing and differs between ranks."""
    routers = {id(m) for m in router_modules(model)}
    from rewardlab.modeling.forward import unwrap_peft

    classes: list[type] = []
    for module in unwrap_peft(model).modules():
        if any(id(child) in routers for child in module.children()) and type(module) not in classes:
            classes.append(type(module))
    return classes


def set_zero3_leaf_modules(model: Any) -> list[str]:
    """Register the sparse MoE blocks as ZeRO-3 leaf modules (``deepspeed.utils.set_z3_leaf_modules``): ZeRO-3
    then gathers a block's parameters, all experts, when the block is entered, instead of hooking each expert:
    which experts run, and in what order, depends on the routing, so it differs between forwards and between
    ranks, and ZeRO-3's per-module gathers and prefetch (which replay the recorded module order) go wrong or wait
    on a rank that never calls that expert (deepspeed/utils/z3_leaf_module.py, ``set_z3_leaf_modules``
    docstring). Returns the class names registered."""
    classes = sparse_moe_block_classes(model)
    if classes:
        from deepspeed.utils import set_z3_leaf_modules

        set_z3_leaf_modules(model, classes)
    return [c.__name__ for c in classes]


def expert_parameter_names(model: Any) -> list[str]:
    """Suffixes (``experts.gate_up_proj``, ``experts.down_proj``) of the routed experts' fused 3-D weights
    [experts, out, in], for peft's ``target_parameters``. transformers 5 stores a layer's experts as one tensor,
    not as ``nn.Linear`` modules, so peft's ``all-linear`` reaches the attention and shared-expert projections but,
    for architectures peft has no conversion for (Qwen2-MoE in peft 0.21; Mixtral it converts), no routed expert."""
    from rewardlab.modeling.forward import unwrap_peft

    names: list[str] = []
    for name, param in unwrap_peft(model).named_parameters():
        parts = name.split(".")
        if param.ndim == 3 and len(parts) >= 2 and "expert" in parts[-2] and ".".join(parts[-2:]) not in names:
            names.append(".".join(parts[-2:]))
    return names
