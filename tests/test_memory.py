"""The training-memory estimator on hand-computed values, its monotonicity, and the README table."""

import pytest

from rewardlab.memory import (
    GIB,
    REFERENCE_MODELS,
    TABLE_SETUPS,
    active_params,
    estimate_training_memory,
    fits_rows,
    fits_table,
    model_shape,
)

# A 1B-parameter shape with round numbers: embeddings 1000 x 1000 = 1e6, each of 10 layers (1e9 - 1e6) / 10.
ONE_B = {"num_params": 10**9, "hidden_size": 1000, "num_layers": 10, "num_heads": 10, "vocab_size": 1000}
PER_LAYER = (10**9 - 10**6) / 10


def est(**kw):
    args = {**ONE_B, "seq_len": 100, "micro_batch_pairs": 1, "activation_factor": 1.0, **kw}
    return estimate_training_memory(**args)


def test_zero3_over_8_gpus_shards_weights_gradients_and_adam():
    m = est(num_gpus=8, zero_stage=3, weight_bytes=2, master_fp32=True)
    # bf16 weights 2 bytes / 8 GPUs, plus the gathered working set: 2 layers (bigger than the embedding) x 2 bytes
    assert m["weights"] == pytest.approx(2e9 / 8 + 2 * PER_LAYER * 2)
    assert m["gradients"] == pytest.approx(2e9 / 8)
    assert m["optimizer"] == pytest.approx(12e9 / 8)  # fp32 master + m + v = 12 bytes per parameter
    assert m["total"] == pytest.approx(m["weights"] + m["gradients"] + m["optimizer"] + m["activations"])


def test_zero_stages_partition_optimizer_then_gradients_then_weights():
    base = dict(num_gpus=8, weight_bytes=2, master_fp32=True)
    s0, s1, s2 = (est(zero_stage=k, **base) for k in (0, 1, 2))
    assert s0["optimizer"] == pytest.approx(12e9) and s1["optimizer"] == pytest.approx(12e9 / 8)
    assert s1["gradients"] == pytest.approx(2e9)  # stage 1 leaves gradients whole
    assert s2["gradients"] == pytest.approx(2e9 / 8)
    assert s0["weights"] == s1["weights"] == s2["weights"] == pytest.approx(2e9)


def test_sixteen_bytes_per_parameter_for_single_device_adam():
    # ZeRO paper: 2 (bf16 weights) + 2 (grads) + 12 (Adam) = 16; plain fp32: 4 + 4 + 8 = 16 as well
    mixed = est(weight_bytes=2, master_fp32=True)
    fp32 = est(weight_bytes=4, master_fp32=False, activation_bytes=4)
    for m in (mixed, fp32):
        assert m["weights"] + m["gradients"] + m["optimizer"] == pytest.approx(16e9)
    assert fp32["optimizer"] == pytest.approx(8e9)


def test_autocast_over_fp32_weights_keeps_a_16_bit_copy_and_ddp_a_gradient_bucket_copy():
    one = est(weight_bytes=4, master_fp32=False, activation_bytes=2)
    assert one["weights"] == pytest.approx(4e9 + 2e9)
    ddp = est(weight_bytes=4, master_fp32=False, activation_bytes=2, num_gpus=8)
    assert ddp["gradients"] == pytest.approx(2 * 4e9)  # param.grad + the all-reduce bucket


def test_offload_moves_optimizer_state_to_the_host():
    on_device = est(num_gpus=8, zero_stage=2)
    off = est(num_gpus=8, zero_stage=2, offload_optimizer=True)
    assert off["optimizer"] == 0.0 and on_device["host_optimizer"] == 0.0
    assert off["host_optimizer"] == pytest.approx(12e9 / 8 + 4e9 / 8)  # Adam state + fp32 gradient partition
    assert off["total"] == pytest.approx(on_device["total"] - 12e9 / 8)
    with pytest.raises(ValueError, match="offload"):
        est(offload_optimizer=True)


def test_activation_formula_hand_computed():
    # seq_len 100, no shared context: one row of 200 tokens; s*b*h = 200 * 1 * 1000 = 2e5; 16-bit; GPT layer (34).
    sbh = 200 * 1000
    off = est(gradient_checkpointing=False, packed_attention_mask=False)
    assert off["tokens_per_row"] == 200
    # 10 layers x 34sbh + one layer's backward gradients + 3 hidden states (embedding, final norm, gradient)
    assert off["activations"] == pytest.approx(10 * 34 * sbh + 34 * sbh + 6 * sbh)
    on = est(gradient_checkpointing=True, packed_attention_mask=False)
    # 10 layer inputs (2sbh) + one layer rebuilt + its backward gradients + 3 hidden states
    assert on["activations"] == pytest.approx(10 * 2 * sbh + 2 * 34 * sbh + 6 * sbh)
    assert on["activations"] < off["activations"]
    # eager attention keeps 5*a*s^2*b bytes per layer (a = 10 heads, s = 200)
    scores = est(gradient_checkpointing=False, packed_attention_mask=False, attention_scores_stored=True)
    assert scores["activations"] - off["activations"] == pytest.approx(11 * 5 * 10 * 200 * 200)
    # the packed [b, 1, s, s] mask in the activation dtype, once per layer (and once when checkpointing)
    assert est(gradient_checkpointing=False)["activations"] - off["activations"] == pytest.approx(11 * 200 * 200 * 2)
    assert est()["activations"] - on["activations"] == pytest.approx(2 * 200 * 200 * 2)
    # a gated MLP of width I keeps 18 + 8 I / h: I = 2h is the GPT layer's 34, I = 4h gives 50
    assert est(gradient_checkpointing=False, packed_attention_mask=False, intermediate_size=2000)[
        "activations"] == pytest.approx(off["activations"])
    assert est(gradient_checkpointing=False, packed_attention_mask=False, intermediate_size=4000)[
        "activations"] == pytest.approx(11 * 50 * sbh + 6 * sbh)
    # fp32 activations double every byte; the calibration factor scales all of them
    assert est(gradient_checkpointing=False, packed_attention_mask=False, activation_bytes=4)[
        "activations"] == pytest.approx(2 * off["activations"])
    assert est(gradient_checkpointing=False, packed_attention_mask=False, activation_factor=1.5)[
        "activations"] == pytest.approx(1.5 * off["activations"])


def test_shared_context_packing_shortens_the_row():
    assert est(shared_context_fraction=0.5)["tokens_per_row"] == 150  # context once + two replies of 50
    assert est(shared_context_fraction=0.5)["activations"] < est()["activations"]
    with pytest.raises(ValueError, match="shared_context_fraction"):
        est(shared_context_fraction=1.0)


def test_lora_trains_few_parameters():
    m = est(lora_trainable_params=10**7)
    assert m["weights"] == pytest.approx(2e9)  # the frozen base is still on the device
    assert m["gradients"] == pytest.approx(2e7) and m["optimizer"] == pytest.approx(12e7)


@pytest.mark.parametrize("key,values", [("seq_len", [256, 1024, 4096]), ("micro_batch_pairs", [1, 2, 4]),
                                        ("num_params", [10**9, 2 * 10**9, 7 * 10**9])])
@pytest.mark.parametrize("ckpt", [True, False])
def test_total_grows_with_length_batch_and_size(key, values, ckpt):
    totals = [est(**{key: v}, gradient_checkpointing=ckpt, num_gpus=8, zero_stage=3)["total"] for v in values]
    assert totals == sorted(totals) and len(set(totals)) == len(totals)


def test_more_gpus_and_higher_stages_never_cost_more():
    shape = model_shape(REFERENCE_MODELS["mistral-7b"])
    common = dict(**shape, seq_len=4096, micro_batch_pairs=1)
    by_gpus = [estimate_training_memory(**common, num_gpus=n, zero_stage=3)["total"] for n in (2, 4, 8, 16)]
    assert by_gpus == sorted(by_gpus, reverse=True)
    by_stage = [estimate_training_memory(**common, num_gpus=8, zero_stage=k)["total"] for k in (0, 1, 2, 3)]
    assert by_stage == sorted(by_stage, reverse=True)
    ckpt = [estimate_training_memory(**common, num_gpus=8, gradient_checkpointing=c)["total"] for c in (True, False)]
    assert ckpt[0] < ckpt[1]


def test_model_shape_counts_a_reward_model_by_hand():
    # build_tiny_model_dir's shape: h 64, intermediate 128, 2 layers, 4 heads of 16, 2 kv heads, 259 byte tokens.
    # embeddings 259*64 = 16576; per layer q,o 2*64*64 = 8192, k,v 2*64*32 = 4096, MLP 3*64*128 = 24576, norms 128
    # -> 36992; final norm 64, score head 64: 16576 + 2*36992 + 128 = 90688, which is also
    # sum(p.numel()) of AutoModelForSequenceClassification.from_config(config with num_labels=1) (the benchmark
    # records model_shape against the real count for every model it trains).
    config = {"vocab_size": 259, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2}
    assert model_shape(config) == {"num_params": 90688, "hidden_size": 64, "num_layers": 2, "num_heads": 4,
                                   "vocab_size": 259, "intermediate_size": 128}
    # an object with attributes (a transformers config) reads the same
    assert model_shape(type("Config", (), config)())["num_params"] == 90688


def test_reference_models_match_published_parameter_counts():
    # Published totals minus the LM head (untied models), plus the h x 1 score head.
    assert model_shape(REFERENCE_MODELS["gemma-2b"])["num_params"] == 2_506_172_416 + 2048
    assert model_shape(REFERENCE_MODELS["mistral-7b"])["num_params"] == 7_241_732_096 - 32000 * 4096 + 4096
    assert model_shape(REFERENCE_MODELS["llama-3-8b"])["num_params"] == 8_030_261_248 - 128256 * 4096 + 4096
    # Mixtral-8x7B: 46,702,792,704 in its safetensors index; 12.9B active (Mistral AI), both with the LM head
    mixtral = REFERENCE_MODELS["mixtral-8x7b"]
    assert model_shape(mixtral)["num_params"] == 46_702_792_704 - 32000 * 4096 + 4096
    assert (active_params(mixtral) + 32000 * 4096) / 1e9 == pytest.approx(12.9, abs=0.05)
    # Qwen1.5-MoE-A2.7B (60 experts of 1408, top-4, shared expert 5632): 14.3B total, 2.7B active with its LM head
    qwen = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24, "num_attention_heads": 16,
            "num_key_value_heads": 16, "vocab_size": 151936, "num_experts": 60, "num_experts_per_tok": 4,
            "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632}
    assert (model_shape(qwen)["num_params"] + 151936 * 2048) / 1e9 == pytest.approx(14.3, abs=0.05)
    assert (active_params(qwen) + 151936 * 2048) / 1e9 == pytest.approx(2.7, abs=0.05)
    # a token runs through its top-k experts (+ the shared one): the activation width
    assert model_shape(mixtral)["intermediate_size"] == 2 * 14336
    assert model_shape(qwen)["intermediate_size"] == 4 * 1408 + 5632


def test_mixtral_needs_zero3_with_the_optimizer_on_the_host_on_8x80gb():
    """46.6B parameters x 16 bytes of Adam model states = 745 GB: over 8 x 80 GB even fully sharded, so full
    fine-tuning fits only with ZeRO-3 and the optimizer state (and its fp32 gradients) in host memory."""
    shape = model_shape(REFERENCE_MODELS["mixtral-8x7b"])
    rows = {(r["setup"], r["max_length"], r["gradient_checkpointing"]): r
            for r in fits_rows({"mixtral-8x7b": REFERENCE_MODELS["mixtral-8x7b"]})}
    for setup in ("DDP (ZeRO-0)", "ZeRO-2", "ZeRO-2 + offload", "ZeRO-3"):
        assert not rows[(setup, 1024, True)]["fits"]["80 GB"], setup
    offload = rows[("ZeRO-3 + offload", 4096, True)]
    assert offload["fits"]["80 GB"] and not rows[("ZeRO-3 + offload", 4096, False)]["fits"]["80 GB"]
    est = estimate_training_memory(**shape, seq_len=4096, micro_batch_pairs=1, num_gpus=8, zero_stage=3,
                                   offload_optimizer=True)
    # host: fp32 master + m + v (12 bytes) and the fp32 gradients (4) of each GPU's eighth of the parameters
    assert est["host_optimizer"] == pytest.approx(shape["num_params"] * 16 / 8)
    assert est["optimizer"] == 0


def test_fits_table_renders_every_cell():
    table = fits_table()
    lines = table.splitlines()
    assert lines[0].startswith("| model | setup | 1024 ckpt on | 1024 ckpt off |")
    body = [line for line in lines[2:] if line.startswith("|")]
    assert len(body) == len(REFERENCE_MODELS) * len(TABLE_SETUPS)
    assert all(line.count("|") == 2 + 6 + 1 for line in body)
    rows = fits_rows()
    assert len(rows) == len(REFERENCE_MODELS) * len(TABLE_SETUPS) * 3 * 2
    by = {(r["model"], r["setup"], r["max_length"], r["gradient_checkpointing"]): r for r in rows}
    # 7B with plain DDP: 16+ bytes per parameter on every GPU is > 100 GiB, never fits
    ddp = by[("mistral-7b", "DDP (ZeRO-0)", 1024, True)]
    assert ddp["gib"]["total"] > 100 and not any(ddp["fits"].values())
    assert "mistral-7b (7.11B) | DDP (ZeRO-0) | " in table and "**no**" in table
    # the recipe's setup (ZeRO-3, 4096 tokens, checkpointing) fits on 8 x 48 GB
    z3 = by[("mistral-7b", "ZeRO-3", 4096, True)]
    assert all(z3["fits"].values()) and z3["gib"]["total"] == pytest.approx(
        estimate_training_memory(**model_shape(REFERENCE_MODELS["mistral-7b"]), seq_len=4096, micro_batch_pairs=1,
                                 num_gpus=8, zero_stage=3)["total"] / GIB)
