import pytest

from rewardlab.data.templates import ConversationEncoder
from rewardlab.modeling.loading import PAD_TOKEN, ensure_distinct_pad_token, load_reward_model

CONV = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi there"}]


def test_pad_token_added_distinct_from_eos_and_embeddings_resized(tiny_model_dir):
    model, tok = load_reward_model(str(tiny_model_dir))
    assert tok.pad_token == PAD_TOKEN and tok.pad_token_id != tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)
    assert model.config.num_labels == 1 and model.score.out_features == 1


def test_pad_equal_to_eos_is_replaced():
    from rewardlab.modeling.tiny import build_byte_tokenizer

    tok = build_byte_tokenizer()
    tok.pad_token = tok.eos_token  # the classic pad == eos setup
    assert ensure_distinct_pad_token(tok) is True
    assert tok.pad_token_id != tok.eos_token_id


def test_bos_is_not_doubled(tiny_model_dir):
    _, tok = load_reward_model(str(tiny_model_dir))
    text = tok.apply_chat_template(CONV, tokenize=False)
    assert text.startswith("<s>")  # the template writes BOS and the tokenizer adds one too
    ids, cut = ConversationEncoder(tok, 512).encode(CONV)
    assert not cut
    assert ids[0] == tok.bos_token_id and ids[1] != tok.bos_token_id
    assert ids.count(tok.bos_token_id) == 1


def test_left_truncation_keeps_the_end_and_is_counted(tiny_model_dir):
    _, tok = load_reward_model(str(tiny_model_dir))
    full, _ = ConversationEncoder(tok, 4096).encode(CONV)
    cut_ids, cut = ConversationEncoder(tok, 10).encode(CONV)
    assert cut and len(cut_ids) == 10 and cut_ids == full[-10:]


def test_missing_chat_template_is_a_clear_error(tiny_model_dir):
    _, tok = load_reward_model(str(tiny_model_dir))
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        ConversationEncoder(tok, 64).encode(CONV)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_reward_model(str(tmp_path))


@pytest.mark.slow
def test_embedded_model_converts_once_and_gets_a_distinct_pad():
    pytest.importorskip("gguf")
    from rewardlab.modeling.embedded import embedded_model_dir, gguf_path

    try:
        gguf_path("smollm2-135m-instruct")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    folder = embedded_model_dir("smollm2-135m-instruct")
    assert (folder / "model.safetensors").exists()
    model, tok = load_reward_model("smollm2-135m-instruct")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id
    enc = ConversationEncoder(tok, 4096)
    assert not enc.adds_bos  # ChatML: <|im_start|> opens turns and must stay in the text
    assert enc.text(CONV).count("<|im_start|>") == 3  # system (default), user, assistant


def test_pickle_weights_are_never_loaded(tiny_model_dir, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")  # a pickle file
    (folder / "model.safetensors").unlink()
    with pytest.raises(OSError, match="safetensors|model.safetensors"):
        load_reward_model(str(folder))


def test_remote_code_is_off_by_default():
    import inspect

    from rewardlab.config import TrainConfig
    from rewardlab.scoring import RewardScorer

    assert TrainConfig().trust_remote_code is False
    assert inspect.signature(load_reward_model).parameters["trust_remote_code"].default is False
    assert inspect.signature(RewardScorer.from_pretrained).parameters["trust_remote_code"].default is False
