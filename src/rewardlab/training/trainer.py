"""The Bradley-Terry reward-model trainer: one explicit loop on top of `accelerate`.

accelerate provides devices, mixed precision, DDP / DeepSpeed wrapping, gradient synchronisation and
checkpoint state; this module provides the data order, the loss, the logging and the outputs. It runs
unchanged under ``accelerate launch`` and ``deepspeed``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import torch

from rewardlab.config import TrainConfig, config_to_dict
from rewardlab.data.splits import load_training_pairs
from rewardlab.data.templates import ConversationEncoder, tokenizer_adds_bos
from rewardlab.fitting.batching import (
    fit_batch_size,
    plan_lanes,
    plan_micro_batches,
    step_indices,
    total_steps,
)
from rewardlab.fitting.optim import TrainResult, build_optimizer, build_scheduler, set_seed
from rewardlab.losses import bradley_terry_loss, pairwise_accuracy, reward_centering_penalty
from rewardlab.metrics import accuracy_with_interval, interval_note
from rewardlab.modeling import lean
from rewardlab.modeling.forward import (
    pack_shared_context,
    packed_pair_rewards,
    packed_token_multiplicity,
    pad_batch,
    sequence_rewards,
    unwrap_peft,
)
from rewardlab.modeling.moe import MoeRouting, load_balancing_loss, moe_routing, set_zero3_leaf_modules
from rewardlab.modeling.pair_rows import (
    PairRowsUnsupported,
    RowSegments,
    load_with_pair_rows,
    pack_pair_rows,
    pair_rows_rewards,
    uses_pair_rows,
)
from rewardlab.training.accelerator import accelerator_device_kwargs
from rewardlab.training.checkpoint import (
    latest_checkpoint,
    prepare_run_folder,
    resume_checkpoint,
    run_identity,
    save_checkpoint,
    select_checkpoint,
)
from rewardlab.training.data import TokenizedPairs, tokenize_pairs
from rewardlab.training.parallel import MicroBatchRunner, plan_workers

MICRO_PROGRESS_DELAY_S = 5.0  # a step shorter than this shows no micro-batch bar


class RewardModule(torch.nn.Module):
    """Wraps a sequence-classification model so DDP/DeepSpeed see one forward: ids -> rewards [N]; with `routing`
    (a mixture of experts trained with a router loss), training forwards return (rewards, load-balancing loss)."""

    def __init__(self, model: Any, routing: MoeRouting | None = None):
        super().__init__()
        self.model = model
        # padding-free pair rows when the model was loaded with their attention function (see pair_rows.py)
        self.pair_rows = uses_pair_rows(model)
        self.routing = routing

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                last_index: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                chosen_index: torch.Tensor | None = None, rejected_index: torch.Tensor | None = None,
                segments: RowSegments | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        logits = [] if self.routing is not None and self.training else None
        if segments is not None:  # padding-free pair rows
            rewards = pair_rows_rewards(self.model, input_ids, position_ids, segments, chosen_index, rejected_index,
                                        logits)
            weights = segments.multiplicity
        elif position_ids is not None:  # shared-context packed pairs
            rewards = packed_pair_rewards(self.model, input_ids, attention_mask, position_ids, chosen_index,
                                          rejected_index, logits)
            weights = (packed_token_multiplicity(attention_mask, chosen_index, rejected_index)
                       if logits is not None else None)
        else:
            rewards = sequence_rewards(self.model, input_ids, attention_mask, last_index, logits)
            weights = attention_mask
        if logits is None:
            return rewards
        # over each conversation's real tokens as padded sequences count them, whatever the layout (moe.py)
        return rewards, load_balancing_loss(logits, self.routing.num_experts, self.routing.top_k, weights)


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision name for a config precision ('auto': bf16 where supported)."""
    if precision == "fp32":
        return "no"
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    try:
        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "no"
    except (AttributeError, RuntimeError):
        return "no"


def _sparse_embedding_gradients(model: Any) -> torch.nn.Parameter | None:
    """Let the input embedding produce sparse gradients (rows of the tokens seen) in a single-process run.

    A dense embedding gradient is a zero-filled [vocab, hidden] tensor plus an accumulation per micro-batch
    (~0.2 s per micro-batch for SmolLM2's 49K x 576 table on 2 CPU cores); sparse ones are summed cheaply and
    made dense once per optimizer step (`densify_gradients`): the same sum, so the same update. Returns the
    embedding weight, or None when not applicable (untrained or shared embedding, custom modules).
    """
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if type(emb) is not torch.nn.Embedding or not emb.weight.requires_grad:
        return None
    if sum(p is emb.weight for _, p in model.named_parameters(remove_duplicate=False)) != 1:
        return None  # tied to another module that needs a dense gradient
    emb.sparse = True
    return emb.weight


def densify_gradients(params: list[torch.nn.Parameter]) -> None:
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.to_dense()


def apply_optimisation_settings(optimizer: Any, scheduler: Any, cfg: TrainConfig) -> None:
    """After a resume with resume_allow_changes: the checkpoint restored its own learning rate, betas and weight
    decay into the optimizer and the scheduler's peak; the current config's take over from here (Adam's moments
    are kept). The schedule's shape (steps, warm-up, kind) already follows the current config."""
    opt = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrappers
    sched = getattr(scheduler, "scheduler", scheduler)
    for group, decay in zip(opt.param_groups, (cfg.weight_decay, 0.0)):  # the groups `build_optimizer` makes
        group.update(initial_lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2), weight_decay=decay)
    sched.base_lrs = [cfg.learning_rate] * len(opt.param_groups)
    for group, fn in zip(opt.param_groups, sched.lr_lambdas):
        group["lr"] = cfg.learning_rate * fn(sched.last_epoch)
    sched._last_lr = [group["lr"] for group in opt.param_groups]


def _enable_gradient_checkpointing(model: Any) -> None:
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False


def _load_model(cfg: TrainConfig, quant: Any, log: Any) -> tuple[Any, Any]:
    """Shared context: the pair-rows attention (SDPA per pair, padding-free); an architecture that refuses a
    registered attention function falls back to SDPA with 4-D masks. Otherwise flash-attention-2 or SDPA."""
    from rewardlab.modeling.loading import default_attn_implementation, load_reward_model

    kwargs = {"trust_remote_code": cfg.trust_remote_code, "quantization_config": quant}
    if not cfg.shared_context:
        return load_reward_model(cfg.model, attn_implementation=default_attn_implementation(), **kwargs)
    return load_with_pair_rows(cfg.model, on_fallback=lambda msg: log(f"{msg} with 4-D masks"), **kwargs)


def pair_forward(module: Any, data: TokenizedPairs, idx: list[int], pad_id: int, device: Any,
                 shared_context: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor | None]:
    """Chosen and rejected of the pairs `idx` in ONE forward pass. Returns r_c [m], r_r [m], margin [m], tokens,
    and the router load-balancing loss of a mixture of experts trained with one (else None).

    With `shared_context`, each pair's shared context is computed once: all pairs in one padding-free row when the
    model has the pair-rows attention (else one 4-D-masked row per pair).
    """
    m = len(idx)
    inner = getattr(module, "module", module)  # under DDP / DeepSpeed, the RewardModule
    if shared_context and getattr(inner, "pair_rows", False):
        ids, pos, segments, ci, ri, ntok = pack_pair_rows([data.chosen[i] for i in idx],
                                                          [data.rejected[i] for i in idx])
        try:
            rewards = module(input_ids=ids.to(device), position_ids=pos.to(device), chosen_index=ci.to(device),
                             rejected_index=ri.to(device), segments=segments)
        except PairRowsUnsupported:  # an architecture that drops attention kwargs: 4-D masks from now on
            inner.pair_rows = False
            return pair_forward(module, data, idx, pad_id, device, shared_context)
    elif shared_context:
        ids, mask4d, pos, ci, ri, ntok = pack_shared_context([data.chosen[i] for i in idx],
                                                             [data.rejected[i] for i in idx], pad_id)
        rewards = module(input_ids=ids.to(device), attention_mask=mask4d.to(device), position_ids=pos.to(device),
                         chosen_index=ci.to(device), rejected_index=ri.to(device))
    else:
        seqs = [data.chosen[i] for i in idx] + [data.rejected[i] for i in idx]
        ids, mask, last = pad_batch(seqs, pad_id)
        rewards = module(input_ids=ids.to(device), attention_mask=mask.to(device), last_index=last.to(device))
        ntok = int(mask.sum())
    rewards, aux = rewards if isinstance(rewards, tuple) else (rewards, None)
    margin = torch.tensor([data.margin[i] or 0.0 for i in idx], dtype=torch.float32, device=rewards.device)
    return rewards[:m], rewards[m:], margin, ntok, aux


@torch.no_grad()
def evaluate_pairs(module: Any, data: TokenizedPairs, accelerator: Any, pad_id: int, batch_size: int,
                   seed: int = 0, shared_context: bool = False) -> dict[str, Any]:
    """Held-out loss and accuracy (with a 95% bootstrap interval); pairs sharded over processes."""
    from accelerate.utils import gather_object

    was_training = module.training
    module.eval()
    mine = list(range(accelerator.process_index, len(data), accelerator.num_processes))
    mine.sort(key=lambda i: -(len(data.chosen[i]) + len(data.rejected[i])))
    results = []
    for k in range(0, len(mine), batch_size):
        idx = mine[k : k + batch_size]
        with accelerator.autocast():
            rc, rr, margin, _, _ = pair_forward(module, data, idx, pad_id, accelerator.device, shared_context)
        for i, c, r in zip(idx, rc.tolist(), rr.tolist()):
            results.append((i, c, r))
    results = sorted(gather_object(results)) if accelerator.num_processes > 1 else sorted(results)
    module.train(was_training)
    if not results:
        return {}
    chosen = torch.tensor([c for _, c, _ in results])
    rejected = torch.tensor([r for _, _, r in results])
    margins = torch.tensor([data.margin[i] or 0.0 for i, _, _ in results])
    out = accuracy_with_interval(chosen.tolist(), rejected.tolist(), seed=seed)
    out["loss"] = float(bradley_terry_loss(chosen, rejected, margins).mean())
    out["margin"] = float((chosen - rejected).mean())
    out["reward_mean"] = float(torch.cat([chosen, rejected]).mean())
    return out


def train(cfg: TrainConfig, quiet: bool = False) -> TrainResult:
    """Train a Bradley-Terry reward model as `cfg` says; writes a standard HF model folder to cfg.output_dir."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from tqdm.auto import tqdm

    from rewardlab.preflight import check_training_inputs

    check_training_inputs(cfg)  # a missing file fails now, not after the model loads (or 30-50 s of hub retries)
    # A second train() in the same process (notebooks, tests, sweeps) may change the precision: accelerate keeps
    # its settings in process-wide singletons, so clear them (the process group itself, if any, is kept).
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    # cpu=True on CPU-only machines (gloo DDP for several processes), but not under a DeepSpeed launch, which
    # cpu=True would silently turn into plain DDP (training/accelerator.py).
    # step_scheduler_with_optimizer=False: our step count is already global, so the schedule must advance once
    # per optimizer step, not once per process (accelerate's default assumes per-process dataloaders).
    accelerator = Accelerator(mixed_precision=resolve_precision(cfg.precision), step_scheduler_with_optimizer=False,
                              **accelerator_device_kwargs())
    is_main = accelerator.is_main_process

    def log(msg: str) -> None:
        if is_main and not quiet:
            tqdm.write(f"[rewardlab] {msg}")

    out_dir = Path(cfg.output_dir)
    if is_main:  # before anything loads: refuse a folder the run would damage or another run's checkpoints
        prepare_run_folder(cfg.output_dir, resume=cfg.resume, overwrite=cfg.overwrite,
                           inputs=(cfg.data, cfg.eval_data, cfg.model), log=log)
    world = accelerator.num_processes
    if cfg.batch_size % (cfg.micro_batch_size * world):
        raise ValueError(f"batch_size ({cfg.batch_size}) must be a multiple of micro_batch_size "
                         f"({cfg.micro_batch_size}) x processes ({world})")
    # The data before the model: reading takes seconds, and a file too small for the batch is known at once.
    train_pairs, eval_pairs, report = load_training_pairs(cfg, log)
    requested_batch = cfg.batch_size
    cfg = dataclasses.replace(cfg, batch_size=fit_batch_size(len(train_pairs), cfg.batch_size,
                                                             cfg.micro_batch_size * world))
    if cfg.batch_size != requested_batch:
        log(f"note: batch_size {requested_batch} is more than the {len(train_pairs)} training pairs; using "
            f"{cfg.batch_size}, i.e. one optimizer step per epoch. For more steps set a smaller --batch_size "
            "or more --num_epochs")
    identity = run_identity(config_to_dict(cfg), train_pairs, eval_pairs)  # what a checkpoint must match
    # --resume: the checkpoint is checked (files intact, same run) before the model loads
    chosen = select_checkpoint(out_dir, identity, cfg.resume_allow_changes, log) if cfg.resume else None
    set_seed(cfg.seed)

    quant = None
    if cfg.load_in_4bit:
        from rewardlab.modeling.lora import quantization_config_4bit

        quant = quantization_config_4bit()
    model, tokenizer = _load_model(cfg, quant, log)
    if cfg.gradient_checkpointing:
        _enable_gradient_checkpointing(model)
    ds_plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if cfg.lora_r:
        from rewardlab.modeling.lora import add_lora

        model = add_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log(f"LoRA r={cfg.lora_r}: {trainable:,} trainable parameters (adapters + score head)")
    routing = moe_routing(model)
    if cfg.router_aux_loss_coef and routing is None:
        raise ValueError(f"router_aux_loss_coef is {cfg.router_aux_loss_coef} but {cfg.model} is not a mixture of "
                         "experts (no router logits): set it to 0")
    moe_info = None
    if routing is not None:
        moe_info = {"num_experts": routing.num_experts, "top_k": routing.top_k,
                    "router_aux_loss_coef": cfg.router_aux_loss_coef}
        if ds_plugin is not None and ds_plugin.zero_stage == 3:  # before prepare() partitions the model
            moe_info["zero3_leaf_modules"] = set_zero3_leaf_modules(unwrap_peft(model))
        log(f"mixture of experts: {routing.num_experts} experts, top-{routing.top_k}; router load-balancing loss "
            + (f"x {cfg.router_aux_loss_coef}" if cfg.router_aux_loss_coef else "off (router_aux_loss_coef 0)"))
    lean_counts = None
    # not with ZeRO-3 / FSDP: they gather a layer's weights only when that layer itself is called
    if cfg.lean_activations and ds_plugin is None and getattr(accelerator.state, "fsdp_plugin", None) is None:
        lean_counts = lean.install(model)  # after LoRA: MLPs whose projections it wrapped keep their own forward
        log(f"lean activations: {lean_counts['mlp']} gated MLPs, {lean_counts['norm']} RMSNorms")
    pad_id = tokenizer.pad_token_id

    encoder = ConversationEncoder(tokenizer, cfg.max_length)
    train_data = tokenize_pairs(train_pairs, encoder, "tokenizing train", show_progress=is_main and not quiet)
    eval_data = tokenize_pairs(eval_pairs, encoder, "tokenizing held-out", show_progress=is_main and not quiet)
    truncated = train_data.truncated + eval_data.truncated
    system_folded = train_data.system_folded + eval_data.system_folded
    log(f"{len(train_data)} training pairs, {len(eval_data)} held-out pairs; "
        f"{truncated} conversations truncated from the left to {cfg.max_length} tokens")
    if system_folded:
        log(f"{system_folded} pairs had their system prompt folded into the first user turn (the chat template "
            "does not render system turns)")
    lengths = train_data.pair_lengths()

    steps = total_steps(len(train_data), cfg.batch_size, cfg.num_epochs, cfg.max_steps)
    grad_accum = cfg.batch_size // (cfg.micro_batch_size * world)
    accelerator.gradient_accumulation_steps = grad_accum
    if ds_plugin is not None:  # no dataloader goes through prepare(), so tell DeepSpeed the batch sizes
        ds_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.micro_batch_size
        ds_plugin.deepspeed_config["gradient_accumulation_steps"] = grad_accum
        ds_plugin.deepspeed_config["train_batch_size"] = cfg.batch_size
    sparse_params = []
    if world == 1 and ds_plugin is None and not cfg.lora_r:
        weight = _sparse_embedding_gradients(unwrap_peft(model))
        sparse_params = [weight] if weight is not None else []
    module = RewardModule(model, routing if cfg.router_aux_loss_coef else None)
    optimizer = build_optimizer(module, cfg)
    scheduler = build_scheduler(optimizer, cfg, steps)
    module, optimizer, scheduler = accelerator.prepare(module, optimizer, scheduler)
    module.train()

    summary: dict[str, Any] = {"num_train_pairs": len(train_data), "num_eval_pairs": len(eval_data),
                               "dropped_rows": dict(report.dropped), "truncated_conversations": truncated,
                               "system_folded_pairs": system_folded,
                               "total_steps": steps, "world_size": world,
                               "distributed_type": accelerator.distributed_type.value,
                               "zero_stage": ds_plugin.zero_stage if ds_plugin is not None else None,
                               "mixed_precision": accelerator.mixed_precision, "lean_activations": lean_counts}
    if moe_info is not None:
        summary["moe"] = moe_info
    if cfg.batch_size != requested_batch:
        summary["batch_size_requested"] = requested_batch  # the config saved with the model has the one used
    train_log: list[dict[str, Any]] = []
    eval_log: list[dict[str, Any]] = []
    start_step = 0
    if cfg.resume:
        found = resume_checkpoint(accelerator, out_dir, identity, cfg.resume_allow_changes, log, chosen)
        if found is None:
            log(f"--resume: no complete checkpoint in {out_dir / 'checkpoints'}; starting from scratch")
        else:
            ckpt, state = found
            start_step = state["step"]
            train_log, eval_log = state["train_log"], state["eval_log"]
            summary["eval_before"] = state.get("eval_before")
            log(f"resumed from {ckpt} at step {start_step}/{steps}")
            if cfg.resume_allow_changes:
                apply_optimisation_settings(optimizer, scheduler, cfg)

    writer = None
    if is_main and start_step == 0:  # a new run: an earlier run's TensorBoard events must not mix with or stay
        shutil.rmtree(out_dir / "logs", ignore_errors=True)  # beside this one's (the folder is rewardlab's)
    if is_main and cfg.report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        # resumed: events the interrupted run wrote after its checkpoint are dropped (purge_step)
        writer = SummaryWriter(str(out_dir / "logs"), purge_step=start_step + 1 if start_step else None)

    if start_step == 0 and cfg.eval_before_training and len(eval_data):
        summary["eval_before"] = evaluate_pairs(module, eval_data, accelerator, pad_id, cfg.eval_batch_size,
                                   shared_context=cfg.shared_context)
        log(f"held-out accuracy before training: {_fmt_acc(summary['eval_before'])}")

    workers, threads_each = plan_workers(cfg.parallel_micro_batches, grad_accum, torch.get_num_threads(),
                                         on_cpu=accelerator.device.type == "cpu",
                                         single_process=world == 1 and ds_plugin is None)
    if workers > 1:
        log(f"CPU: {workers} micro-batches at a time, {threads_each} torch thread(s) each "
            "(parallel_micro_batches: 1 runs them one after another)")
    runner = MicroBatchRunner(workers, threads_each)
    summary["parallel_micro_batches"] = workers  # what ran, after auto and the CPU / single-process conditions
    costs = train_data.pair_costs(cfg.shared_context) if workers > 1 else None
    accumulate_lock = threading.Lock()  # accelerate counts micro-batches in a plain attribute: one at a time

    def run_micro_batch(mb: list[int]) -> torch.Tensor:
        """Forward + backward of one micro-batch; its metric sums (loss, correct, margin, reward sum, reward
        square sum, tokens, router loss, micro-batches with one)."""
        # accumulate(): no gradient all-reduce (DDP) / no engine step (DeepSpeed) until the last micro-batch
        with contextlib.ExitStack() as stack:
            with accumulate_lock:
                stack.enter_context(accelerator.accumulate(module))
            stack.enter_context(accelerator.autocast())
            rc, rr, margin, ntok, aux = pair_forward(module, train_data, mb, pad_id, accelerator.device,
                                                     cfg.shared_context)
            per_pair = bradley_terry_loss(rc, rr, margin if train_data.has_margin else None)
            if cfg.center_rewards_coefficient:
                per_pair = per_pair + cfg.center_rewards_coefficient * reward_centering_penalty(rc, rr)
            # Sum over this micro-batch / global batch size: the accumulated gradient is exactly the mean
            # over the step's pairs; x world because DDP averages gradients over processes, x accumulation
            # steps because accelerate (or the DeepSpeed engine) divides every backward by them.
            loss = per_pair.sum() * (world * grad_accum / cfg.batch_size)
            if aux is not None:  # the router's load-balancing loss of this micro-batch: the same division makes
                loss = loss + cfg.router_aux_loss_coef * aux  # it the mean over the step's micro-batches
            accelerator.backward(loss)
        with torch.no_grad():
            both = torch.cat([rc, rr]).double()
            return torch.tensor([per_pair.sum().item(), pairwise_accuracy(rc, rr).sum().item(),
                                 (rc - rr).sum().item(), both.sum().item(), (both**2).sum().item(), ntok,
                                 0.0 if aux is None else aux.item(), float(aux is not None)], dtype=torch.float64)

    progress = tqdm(total=steps, initial=start_step, desc="training", unit="step", disable=not is_main or quiet)
    micro_lock = threading.Lock()

    def micro_progress(step: int) -> Any:
        """A bar over this step's micro-batches: a 256-pair CPU step takes minutes, and one bar over the steps
        stood still at 0 for all of them. It appears only when the step outlasts MICRO_PROGRESS_DELAY_S."""
        return tqdm(total=grad_accum, desc=f"step {step + 1}/{steps}", unit="micro-batch", leave=False, position=1,
                    delay=MICRO_PROGRESS_DELAY_S, disable=not is_main or quiet or grad_accum < 2)

    def run_counted(mb: list[int], bar: Any) -> torch.Tensor:
        part = run_micro_batch(mb)
        with micro_lock:  # lanes finish micro-batches from several threads
            bar.update(1)
        return part
    # Test hook: slow each step down so a crash test can kill the run mid-way (never set in normal use).
    step_delay = float(os.environ.get("REWARDLAB_TEST_STEP_DELAY", "0"))
    try:
        for step in range(start_step, steps):
            if step_delay:
                time.sleep(step_delay)
            t0 = time.perf_counter()
            idx = step_indices(step, len(train_data), cfg.batch_size, cfg.seed)
            with micro_progress(step) as bar:
                if workers > 1:  # lanes of micro-batches side by side, their tokens evened out
                    lanes = plan_lanes(idx, costs, cfg.micro_batch_size, workers, cfg.length_grouping)
                    parts = [p for lane in runner.map_lanes(lambda mb: run_counted(mb, bar), lanes) for p in lane]
                else:
                    micro = plan_micro_batches(idx, lengths, cfg.micro_batch_size, world, accelerator.process_index,
                                               cfg.length_grouping)
                    parts = [run_counted(mb, bar) for mb in micro]
            sums = torch.zeros(8, dtype=torch.float64)  # loss, correct, margin, reward sum, reward sq sum, tokens,
            # router loss sum, micro-batches
            for part in parts:  # in a fixed order: the same sums in every run
                sums += part
            densify_gradients(sparse_params)
            grad_norm = None
            if cfg.max_grad_norm:
                grad_norm = accelerator.clip_grad_norm_(module.parameters(), cfg.max_grad_norm)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if world > 1:
                sums = accelerator.reduce(sums.to(accelerator.device), reduction="sum").cpu()
            elapsed = time.perf_counter() - t0
            n = cfg.batch_size
            rmean = sums[3] / (2 * n)
            record = {"step": step + 1, "loss": float(sums[0] / n), "accuracy": float(sums[1] / n),
                      "margin": float(sums[2] / n), "reward_mean": float(rmean),
                      "reward_std": float(max(sums[4] / (2 * n) - rmean**2, 0.0) ** 0.5), "learning_rate": lr,
                      "grad_norm": float(grad_norm) if grad_norm is not None else None,
                      "tokens_per_second": float(sums[5] / elapsed), "pairs_per_second": n / elapsed,
                      "epoch": (step + 1) * n / len(train_data)}
            if sums[7]:  # a mixture of experts' load-balancing loss (not in `loss`, the preference loss)
                record["router_aux_loss"] = float(sums[6] / sums[7])
            train_log.append(record)
            if writer is not None and (step + 1) % cfg.logging_steps == 0:
                for key, value in record.items():
                    if key != "step" and value is not None:
                        writer.add_scalar(f"train/{key}", value, step + 1)
            progress.update(1)
            progress.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.2f}", lr=f"{lr:.2e}")
            last = step + 1 == steps
            if len(eval_data) and (last or (cfg.eval_steps and (step + 1) % cfg.eval_steps == 0)):
                ev = evaluate_pairs(module, eval_data, accelerator, pad_id, cfg.eval_batch_size,
                                       shared_context=cfg.shared_context)
                ev["step"] = step + 1
                eval_log.append(ev)
                log(f"step {step + 1}: held-out {_fmt_acc(ev)}, loss {ev['loss']:.4f}")
                if writer is not None:
                    for key in ("loss", "accuracy", "margin"):
                        writer.add_scalar(f"eval/{key}", ev[key], step + 1)
            if cfg.save_steps and (step + 1) % cfg.save_steps == 0 and not last:
                state = {"step": step + 1, "train_log": train_log, "eval_log": eval_log,
                         "eval_before": summary.get("eval_before"), **identity}
                path = save_checkpoint(accelerator, out_dir, step + 1, state, cfg.save_total_limit)
                log(f"checkpoint {path}")
    finally:  # the worker threads end with the loop, also when it raises
        runner.close()
        progress.close()
    if writer is not None:
        writer.close()

    summary["eval_after"] = eval_log[-1] if eval_log else None
    summary["bos_token"] = tokenizer.bos_token
    summary["bos_is_turn_marker"] = bool(tokenizer.bos_token) and not tokenizer_adds_bos(tokenizer) and (
        tokenizer.bos_token in encoder.text([{"role": "user", "content": "a"}]))
    if sparse_params:  # the returned model is an ordinary one
        unwrap_peft(model).get_input_embeddings().sparse = False
    lean.uninstall(model)
    _save_final(accelerator, module, tokenizer, cfg, summary, train_log, eval_log)
    return TrainResult(out_dir, summary, accelerator.unwrap_model(module).model.eval(), tokenizer)


def _fmt_acc(e: dict[str, Any]) -> str:
    note = interval_note(e["num_pairs"], e["accuracy_ci_low"], e["accuracy_ci_high"])
    if note:
        return f"{e['accuracy']:.4f} on {e['num_pairs']} pairs ({note})"
    return f"{e['accuracy']:.4f} [{e['accuracy_ci_low']:.4f}, {e['accuracy_ci_high']:.4f}] on {e['num_pairs']} pairs"


def _save_final(accelerator: Any, module: Any, tokenizer: Any, cfg: TrainConfig, summary: dict[str, Any],
                train_log: list, eval_log: list) -> None:
    """Write the model folder: weights gathered from all processes (ZeRO-3 included), then files renamed in."""
    from rewardlab.io_utils import AtomicDirectory, atomic_write_json, atomic_write_text, disk_full, is_disk_full
    from rewardlab.modeling.saving import save_model_folder
    from rewardlab.training.curves import plot_training_curve
    from rewardlab.training.model_card import render_model_card

    out_dir = Path(cfg.output_dir)
    state_dict = accelerator.get_state_dict(module)  # gathers 16-bit weights under ZeRO-3
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    state_dict = {k.removeprefix("model."): v for k, v in state_dict.items()}
    model = accelerator.unwrap_model(module).model
    model.config.use_cache = True
    config = config_to_dict(cfg)
    # The whole folder is built aside and swapped in: an earlier run's model, eval/ results and curve go, this
    # run's checkpoints and logs come along; a failure (a full disk) leaves the folder as it was.
    try:
        with AtomicDirectory(out_dir, overwrite=cfg.overwrite, command="train", carry=("checkpoints", "logs"),
                             inputs=(cfg.data, cfg.eval_data, cfg.model)) as tmp:
            # LoRA: the adapter folder (adapters + trained score head); else the gathered full weights
            save_model_folder(model, tokenizer, tmp, state_dict=None if hasattr(model, "peft_config") else state_dict)
            atomic_write_json(tmp / "training_summary.json",
                              {"config": config, "summary": summary, "train_log": train_log, "eval_log": eval_log})
            if train_log:
                before = [{**summary["eval_before"], "step": 0}] if summary.get("eval_before") else []
                plot_training_curve(train_log, before + eval_log, tmp / "training_curve.png",
                                    title=f"{cfg.model} on {cfg.data}")
            atomic_write_text(tmp / "README.md", render_model_card(config, summary, str(out_dir)))
    except Exception as e:
        if not is_disk_full(e):  # AtomicDirectory has already told a full disk by its free space
            raise
        kept = latest_checkpoint(out_dir)
        raise disk_full(f"disk full while writing the model to {out_dir}: the partial output was removed and "
                        f"{out_dir} is as it was (an earlier model in it included); "
                        + (f"the latest checkpoint {kept} is intact: free some space and run again with --resume"
                           if kept else "this run's weights are lost (no checkpoints: set save_steps to keep "
                                        "some): free some space and run again")) from e

