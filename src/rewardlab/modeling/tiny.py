"""Tiny randomly initialised models built from a config, for tests and benchmarks (no hub, no download).

The tokenizer is byte-level (every UTF-8 byte is a token) with Mistral-style special tokens: the tokenizer
adds ``<s>`` itself AND the chat template writes ``{{ bos_token }}`` (the doubled-BOS case), eos ``</s>``
appears inside the chat text, and there is no pad token (the pad == eos case). Exactly the traps the
recipe's models set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MISTRAL_STYLE_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}<<SYS>>{{ message['content'] }}<</SYS>>"
    "{% elif message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% else %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)


def build_byte_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    tokenizer.chat_template = MISTRAL_STYLE_TEMPLATE
    return tokenizer


def build_template_tokenizer(chat_template: str, bos_token: str | None, eos_token: str, pad_token: str | None = None,
                             special_tokens: tuple[str, ...] | list[str] = (), add_bos_token: bool = True) -> Any:
    """A byte-level tokenizer carrying another model's chat template and special tokens (each one token), for
    testing a real template offline: the tokens the template writes are single ids as in the real vocabulary,
    and the tokenizer adds `bos_token` itself when `add_bos_token`, as Llama/Mistral/Gemma tokenizers do."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    named = [t for t in dict.fromkeys([bos_token, eos_token, pad_token, *special_tokens]) if t]
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in named])
    if add_bos_token and bos_token:
        bos_id = tk.token_to_id(bos_token)
        tk.post_processor = processors.TemplateProcessing(
            single=f"{bos_token} $A", pair=f"{bos_token} $A {bos_token} $B", special_tokens=[(bos_token, bos_id)])
    extra = [t for t in special_tokens if t not in (bos_token, eos_token, pad_token)]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos_token, eos_token=eos_token,
                                        pad_token=pad_token, unk_token="<unk>", extra_special_tokens=extra)
    tokenizer.chat_template = chat_template
    return tokenizer


def build_tiny_model_dir(path: str | Path, hidden_size: int = 32, num_layers: int = 2, seed: int = 0,
                         architecture: str = "llama", rope_theta: float = 10000.0) -> Path:
    """Write a tiny causal LM + tokenizer folder (safetensors) to `path` and return it.

    `architecture`: "llama", or a mixture of experts: "mixtral" (4 experts, top-2, as Mixtral's 8 / top-2) or
    "qwen2_moe" (4 routed experts, top-2, plus the gated shared expert of Qwen1.5-MoE).
    `rope_theta` other than Llama's default 10,000 makes a loader that drops it show (issue 16.4)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, MixtralConfig, Qwen2MoeConfig

    path = Path(path)
    tokenizer = build_byte_tokenizer()
    common = dict(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                  num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=None,
                  tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": rope_theta})
    if architecture == "llama":
        config = LlamaConfig(**common)
    elif architecture == "mixtral":
        config = MixtralConfig(**common, num_local_experts=4, num_experts_per_tok=2)
    elif architecture == "qwen2_moe":
        config = Qwen2MoeConfig(**common, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=hidden_size,
                                shared_expert_intermediate_size=hidden_size * 2)
    else:
        raise ValueError(f"unsupported tiny architecture {architecture!r} (llama, mixtral or qwen2_moe)")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def llama_config_for_params(billions: float, vocab_size: int = 32000, max_position_embeddings: int = 8192) -> Any:
    """A Llama config of roughly `billions` parameters (for GPU benchmarks with random weights)."""
    from transformers import LlamaConfig

    shapes = {1.0: (2048, 5632, 22, 32, 4), 1.5: (2048, 8192, 24, 32, 8), 2.0: (2560, 6912, 26, 32, 8)}
    h, inter, layers, heads, kv = shapes[min(shapes, key=lambda b: abs(b - billions))]
    return LlamaConfig(vocab_size=vocab_size, hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv,
                       max_position_embeddings=max_position_embeddings)
