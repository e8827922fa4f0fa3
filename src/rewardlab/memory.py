"""How much device memory reward-model training needs: a documented estimator and the README's "what fits" table.

Everything here is pure arithmetic on a model's shape (no torch, no hub). `estimate_training_memory` returns
bytes per device for the four parts of training memory; `fits_table` renders them for the recipe's models.
`benchmarks/memory_check.py` compares the estimate with the peak memory of rewardlab's real trainer on the
CPU and is where `ACTIVATION_FACTOR` below comes from.

Model states (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter
Models", section 3.1 and figure 1). For P parameters of which T are trained, with Adam:

* weights      P x weight_bytes
* gradients    T x weight_bytes (gradients have the weights' dtype)
* optimizer    T x (4 [fp32 master copy, only when the weights are 16-bit] + 4 [m] + 4 [v]): the paper's
               K = 12 bytes per parameter for mixed precision, 8 for plain fp32 training

ZeRO partitions these over the N data-parallel devices: stage 1 the optimizer state, stage 2 the gradients as
well, stage 3 the weights as well (each device keeps 1/N). ZeRO-Offload (Ren et al. 2021) keeps the optimizer
state, and the fp32 gradients it updates from, in host memory: `offload_optimizer` removes the optimizer term
from the device and reports the host bytes as `host_optimizer`.

Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
section 4.1, eq. 1): one transformer layer stores ``s*b*h*(34 + 5*a*s/h)`` bytes for a 16-bit forward of b rows
of s tokens, hidden size h and a heads, without recomputation. Of the 34, 16 are the MLP's two 4h-wide tensors
(2 x 2 bytes x 4h/h) and 18 the rest (attention inputs, q/k/v, the attention output, norms, dropout masks).
For a gated MLP (SwiGLU/GeGLU, intermediate size I: Llama, Mistral, Gemma), Hugging Face's layer keeps four
I-wide tensors (gate, up, act(gate), act(gate)*up), so with ``intermediate_size`` given the coefficient is
``18 + 8*I/h`` (34 for I = 2h; 50 for Llama-3's 3.5h; 82 for Gemma-2B's 8h). Counting the tensors autograd
saves in a Hugging Face Llama forward (``torch.autograd.graph.saved_tensors_hooks``) gives the same within
10%. The ``5*a*s^2*b`` part is the attention softmax (and its dropout) that an eager attention keeps; PyTorch
SDPA and flash-attention recompute it and keep O(s), so it counts only with ``attention_scores_stored=True``.
rewardlab's shared-context packing instead passes a [b, 1, s, s] boolean mask, which SDPA converts to the
activation dtype and saves for backward in every layer: ``s*s*b*activation_bytes`` per layer
(``packed_attention_mask``). With full recomputation (gradient checkpointing) each layer keeps only its input,
``2*s*b*h`` bytes, and the backward pass rebuilds one layer at a time (section 4.2): ``L * 2sbh`` + one layer.
Korthikanti et al. count saved tensors only; the backward pass of a layer also holds the gradients of its
activations next to them, so one more layer's worth is added in both modes (measured on the CPU: a forward +
backward of a tiny Llama peaks at 0.93x this estimate without and 1.12x with checkpointing).
Activation bytes scale with ``activation_bytes / 2``. ``ACTIVATION_FACTOR`` multiplies all activation bytes
to cover what the real trainer adds on top (allocator fragmentation, loss and step temporaries).

A reward-model step puts chosen and rejected of each pair into one forward. rewardlab packs a pair into one row
``[shared context | chosen | rejected]`` (``shared_context: true``), so a pair of conversations of ``seq_len``
tokens whose common context is a fraction f of them is a row of ``seq_len * (2 - f)`` tokens; f = 0 is the
worst case and also what two unshared rows cost. Reward models have no vocabulary-sized logits (the score head
reads one hidden state per sequence), so there is no ``s * vocab`` term.

Mixture of experts (Mixtral, Qwen-MoE): the model states count every expert (all are trained and, under
ZeRO-3, a sparse MoE block is gathered whole: rewardlab registers it as a ZeRO-3 leaf module), while each token's
activations are those of the `num_experts_per_tok` experts it is routed to plus any shared expert, so
`model_shape` reports the gated-MLP width a token passes through, ``top_k * I_expert + I_shared``, as its
``intermediate_size`` (the routing's own tensors, [tokens, experts] logits, are negligible beside it). The
per-expert token buffers of transformers' expert loop add about one more copy of the routed tokens' hidden states
per layer. `active_params` gives the parameters one token uses (Mixtral-8x7B: 46.7B in all, ~12.9B active as
Mistral AI states; both with the LM head, which a reward model replaces by the score head).

Not modelled (hence the headroom in `fits_table`): the CUDA context (~0.5-1 GiB), NCCL and DeepSpeed
communication buckets (``reduce_bucket_size``/``allgather_bucket_size`` 5e8 in rewardlab/recipes/deepspeed: ~1 GiB each in
bf16), allocator fragmentation, and the transient buffers of the optimizer step (PyTorch's foreach AdamW on GPU
allocates about one fp32 copy of the trained parameters while the activations are already freed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GIB = 1024**3

# Measured peak / estimated activation bytes of rewardlab's trainer on the CPU (fp32, SDPA, Hugging Face Llama
# layers): the median over the checkpointing-off runs of benchmarks/memory_check.py, after subtracting the
# trainer's fixed overhead (range 1.27-2.28; 1.27-1.52 for the tiny models whose memory is mostly activations).
# It covers the backward pass's temporaries and CPU allocator fragmentation beyond the counted tensors; it is a
# CPU calibration applied to the GPU table too (the same layer code saves the same tensors), not a GPU measurement.
ACTIVATION_FACTOR = 1.5

# Architectures of the recipe's models, copied from their config.json on the hub (the numbers only, so nothing
# is downloaded): google/gemma-2b, mistralai/Mistral-7B-Instruct-v0.2, meta-llama/Meta-Llama-3-8B-Instruct.
# Keys are Hugging Face config names, so `model_shape` reads these and real configs alike.
REFERENCE_MODELS: dict[str, dict[str, Any]] = {
    "gemma-2b": {"hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18, "num_attention_heads": 8,
                 "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 256000, "tie_word_embeddings": True},
    "mistral-7b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32000,
                   "tie_word_embeddings": False},
    "llama-3-8b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
                   "tie_word_embeddings": False},
    # mistralai/Mixtral-8x7B-Instruct-v0.1: Mistral-7B's attention, 8 experts of Mistral's MLP per layer, top-2
    "mixtral-8x7b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 32000,
                     "tie_word_embeddings": False, "num_local_experts": 8, "num_experts_per_tok": 2},
}

# Memory that nvidia-smi reports for the cards in the table (GiB): H100/A100 80GB 81559 MiB; A40/A6000/L40S 48GB
# about 46068 MiB.
GPU_MEMORY_GIB = {"80 GB": 79.6, "48 GB": 45.0}
# Share of a GPU's memory the estimate may use: the rest is for what the estimator leaves out (module docstring).
USABLE_FRACTION = 0.9

# The table's training setups: (label, zero_stage, offload_optimizer, weight_bytes, master_fp32). Stage 0 is
# accelerate DDP with bf16 autocast, which keeps fp32 weights (rewardlab/recipes/accelerate/ddp.yaml); the DeepSpeed
# stages keep bf16 weights with fp32 master copies (rewardlab/recipes/deepspeed/*.json).
TABLE_SETUPS = (
    ("DDP (ZeRO-0)", 0, False, 4, False),
    ("ZeRO-2", 2, False, 2, True),
    ("ZeRO-2 + offload", 2, True, 2, True),
    ("ZeRO-3", 3, False, 2, True),
    ("ZeRO-3 + offload", 3, True, 2, True),
)


def _get(config: Mapping[str, Any] | Any, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)


def model_shape(config: Mapping[str, Any] | Any) -> dict[str, int]:
    """The estimator's shape arguments from a transformers config (or a dict with the same keys): num_params,
    hidden_size, num_layers, num_heads, vocab_size and intermediate_size.

    ``num_params`` counts a Llama/Mistral/Gemma-style decoder as a one-label sequence-classification model:
    embeddings (once, tied or not: the LM head is replaced by the score head), per layer q/k/v/o projections
    (grouped-query k/v), a gated MLP (3 matrices) and two norms, the final norm and the h x 1 score head. A
    mixture of experts (``num_local_experts`` or ``num_experts``) has, per layer, that many gated MLPs of
    ``moe_intermediate_size`` (else ``intermediate_size``), a router (experts x h) and, with
    ``shared_expert_intermediate_size``, a shared expert and its 1 x h gate (Qwen-MoE); every layer is taken to be
    sparse (true of Mixtral, Qwen1.5-MoE and Qwen3-MoE). ``intermediate_size`` is then the gated width a token
    runs through (module docstring).
    """
    h = _get(config, "hidden_size")
    layers = _get(config, "num_hidden_layers")
    heads = _get(config, "num_attention_heads")
    kv_heads = _get(config, "num_key_value_heads") or heads
    head_dim = _get(config, "head_dim") or h // heads
    vocab = _get(config, "vocab_size")
    attention = 2 * h * heads * head_dim + 2 * h * kv_heads * head_dim  # q, o + k, v
    mlp, inter = _mlp_params(config)
    per_layer = attention + mlp + 2 * h  # + two RMSNorms
    num_params = vocab * h + layers * per_layer + h + h  # + final norm + score head
    return {"num_params": num_params, "hidden_size": h, "num_layers": layers, "num_heads": heads, "vocab_size": vocab,
            "intermediate_size": inter}


def _mlp_params(config: Mapping[str, Any] | Any, active: bool = False) -> tuple[int, int]:
    """(MLP parameters per layer -- all experts, or with `active` those one token uses --, the gated width a token
    passes through)."""
    h = _get(config, "hidden_size")
    experts = _get(config, "num_local_experts") or _get(config, "num_experts") or 0
    if not experts:
        inter = _get(config, "intermediate_size")
        return 3 * h * inter, inter
    top_k = _get(config, "num_experts_per_tok")
    expert = _get(config, "moe_intermediate_size") or _get(config, "intermediate_size")
    shared = _get(config, "shared_expert_intermediate_size") or 0
    used = top_k if active else experts
    params = used * 3 * h * expert + experts * h + (3 * h * shared + h if shared else 0)  # + router (+ shared gate)
    return params, top_k * expert + shared


def active_params(config: Mapping[str, Any] | Any) -> int:
    """Parameters one token uses (`model_shape`'s count with only its top-k experts per layer): compute per token,
    not memory, follows this for a mixture of experts."""
    shape = model_shape(config)
    return shape["num_params"] - shape["num_layers"] * (_mlp_params(config)[0] - _mlp_params(config, active=True)[0])


def estimate_training_memory(
    num_params: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    vocab_size: int,
    seq_len: int,
    micro_batch_pairs: int,
    num_gpus: int = 1,
    zero_stage: int = 0,
    offload_optimizer: bool = False,
    gradient_checkpointing: bool = True,
    weight_bytes: int = 2,
    master_fp32: bool = True,
    lora_trainable_params: int | None = None,
    shared_context_fraction: float = 0.0,
    activation_bytes: int = 2,
    intermediate_size: int | None = None,
    attention_scores_stored: bool = False,
    packed_attention_mask: bool = True,
    activation_factor: float = ACTIVATION_FACTOR,
) -> dict[str, float]:
    """Peak training memory per device, in bytes, as the module docstring derives it.

    Args:
        num_params: all parameters of the reward model (`model_shape`).
        seq_len: tokens per conversation (the config's max_length).
        micro_batch_pairs: pairs per forward per device (micro_batch_size).
        num_gpus: data-parallel devices the ZeRO stages partition over.
        weight_bytes: bytes per stored weight (2 for bf16 DeepSpeed, 4 for fp32 weights under autocast or fp32).
        master_fp32: Adam keeps an fp32 master copy (16-bit weights); False for fp32 weights.
        lora_trainable_params: trained parameters when only adapters (+ head) train; None trains all.
        shared_context_fraction: share of a conversation that is the context common to chosen and rejected.
        activation_bytes: bytes per activation element (2 under bf16/fp16 autocast, 4 in fp32).
        intermediate_size: MLP width of a gated MLP (None: Korthikanti's GPT layer, 34sbh).
        attention_scores_stored: the attention keeps its s x s softmax (eager attention, not SDPA/flash).
        packed_attention_mask: a [b, 1, s, s] mask per layer (rewardlab's shared_context packing, the default).
        activation_factor: measured peak / saved activations (`ACTIVATION_FACTOR`).

    Returns:
        bytes per device: weights, gradients, optimizer, activations, total; host_optimizer (host bytes per
        device under offload); and tokens_per_row (the packed row length used).
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    if offload_optimizer and zero_stage == 0:
        raise ValueError("offload_optimizer needs ZeRO stage 1, 2 or 3 (DeepSpeed offloads partitions)")
    if not 0.0 <= shared_context_fraction < 1.0:
        raise ValueError(f"shared_context_fraction must be in [0, 1), got {shared_context_fraction}")
    n = num_gpus
    trained = num_params if lora_trainable_params is None else lora_trainable_params
    per_layer_params = (num_params - vocab_size * hidden_size) / num_layers

    weights = num_params * weight_bytes / (n if zero_stage >= 3 else 1)
    if zero_stage >= 3:  # the layer being computed and the prefetched next one are gathered in full
        weights += 2 * max(per_layer_params, vocab_size * hidden_size) * weight_bytes
    if weight_bytes > activation_bytes and not master_fp32:
        # autocast over fp32 weights: each matmul's 16-bit copy of its weight is kept for the backward pass
        weights += num_params * activation_bytes

    gradients = trained * weight_bytes / (n if zero_stage >= 2 else 1)
    if zero_stage == 0 and n > 1:  # DDP all-reduces from flat buckets, a second copy of the gradients
        gradients *= 2  # (accelerate's default gradient_as_bucket_view=False)

    optimizer_total = trained * ((4 if master_fp32 else 0) + 8) / (n if zero_stage >= 1 else 1)
    host_optimizer = optimizer_total + (trained * 4 / n if offload_optimizer else 0)  # + its fp32 gradients
    optimizer = 0.0 if offload_optimizer else optimizer_total
    host_optimizer = host_optimizer if offload_optimizer else 0.0

    # Activations: one packed row of `row` tokens per pair. Korthikanti's coefficients are bytes at 2 bytes per
    # element, so they scale by activation_bytes / 2.
    row = seq_len * (2.0 - shared_context_fraction)
    tokens_h = micro_batch_pairs * row * hidden_size  # s*b*h
    scale = activation_bytes / 2
    per_token_h = 34.0 if intermediate_size is None else 18.0 + 8.0 * intermediate_size / hidden_size
    full_layer = per_token_h * tokens_h * scale
    if attention_scores_stored:
        full_layer += 5 * num_heads * row * row * micro_batch_pairs * scale
    if packed_attention_mask:
        full_layer += row * row * micro_batch_pairs * activation_bytes
    outside = 3 * 2 * tokens_h * scale  # embedding output, final norm, the hidden-state gradient flowing back
    # The backward pass of a layer holds gradients of its activations next to them: one more layer's worth.
    backward = full_layer
    if gradient_checkpointing:  # each layer keeps its input (2sbh); backward rebuilds one layer at a time
        activations = num_layers * 2 * tokens_h * scale + full_layer + backward + outside
    else:
        activations = num_layers * full_layer + backward + outside
    activations *= activation_factor

    total = weights + gradients + optimizer + activations
    return {"weights": weights, "gradients": gradients, "optimizer": optimizer, "activations": activations,
            "total": total, "host_optimizer": host_optimizer, "tokens_per_row": row}


def _fits(total_bytes: float, gpu: str) -> bool:
    return total_bytes <= USABLE_FRACTION * GPU_MEMORY_GIB[gpu] * GIB


def fits_rows(models: Mapping[str, Mapping[str, Any]] | None = None, max_lengths: tuple[int, ...] = (1024, 2048, 4096),
              num_gpus: int = 8, micro_batch_pairs: int = 1, shared_context_fraction: float = 0.0
              ) -> list[dict[str, Any]]:
    """One record per model x max_length x setup x gradient checkpointing: GiB per device and what fits."""
    rows = []
    for name, config in (models or REFERENCE_MODELS).items():
        shape = model_shape(config)
        for label, stage, offload, wbytes, master in TABLE_SETUPS:
            for length in max_lengths:
                for ckpt in (True, False):
                    est = estimate_training_memory(**shape, seq_len=length, micro_batch_pairs=micro_batch_pairs,
                                                   num_gpus=num_gpus, zero_stage=stage, offload_optimizer=offload,
                                                   gradient_checkpointing=ckpt, weight_bytes=wbytes,
                                                   master_fp32=master, shared_context_fraction=shared_context_fraction)
                    rows.append({"model": name, "params_b": shape["num_params"] / 1e9, "setup": label,
                                 "max_length": length, "gradient_checkpointing": ckpt,
                                 "gib": {k: v / GIB for k, v in est.items() if k != "tokens_per_row"},
                                 "fits": {gpu: _fits(est["total"], gpu) for gpu in GPU_MEMORY_GIB}})
    return rows


def _cell(row: dict[str, Any]) -> str:
    fits = [gpu.split()[0] for gpu, ok in row["fits"].items() if ok]
    verdict = "both" if len(fits) == len(GPU_MEMORY_GIB) else (f"{fits[0]} only" if fits else "**no**")
    return f"{row['gib']['total']:.1f} ({verdict})"


def fits_table(models: Mapping[str, Mapping[str, Any]] | None = None, max_lengths: tuple[int, ...] = (1024, 2048, 4096),
               num_gpus: int = 8, micro_batch_pairs: int = 1, shared_context_fraction: float = 0.0) -> str:
    """Markdown: rows model x setup, columns max_length x gradient checkpointing; cells GiB per device (fits)."""
    rows = fits_rows(models, max_lengths, num_gpus, micro_batch_pairs, shared_context_fraction)
    cells = {(r["model"], r["setup"], r["max_length"], r["gradient_checkpointing"]): r for r in rows}
    header = ["model", "setup"] + [f"{n} ckpt {'on' if c else 'off'}" for n in max_lengths for c in (True, False)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for name in models or REFERENCE_MODELS:
        for label, *_ in TABLE_SETUPS:
            first = cells[(name, label, max_lengths[0], True)]
            model_cell = f"{name} ({first['params_b']:.2f}B)"
            lines.append("| " + " | ".join([model_cell, label] + [_cell(cells[(name, label, n, c)])
                                                                  for n in max_lengths for c in (True, False)]) + " |")
    budget = ", ".join(f"{gpu}: {USABLE_FRACTION * cap:.1f} GiB usable" for gpu, cap in GPU_MEMORY_GIB.items())
    lines.append("")
    lines.append(f"GiB per device on {num_gpus} GPUs, micro batch {micro_batch_pairs} pair, bf16; in brackets the "
                 f"GPUs it fits on ({budget}, i.e. {USABLE_FRACTION:.0%} of what nvidia-smi reports). "
                 f"max_length is tokens per conversation; a pair is one packed row of "
                 f"{2 - shared_context_fraction:g} x max_length tokens (no shared context: the worst case).")
    return "\n".join(lines)
