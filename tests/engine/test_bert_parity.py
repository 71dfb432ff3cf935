"""Our BERT gives the same numbers as transformers' on the same checkpoint."""

from __future__ import annotations

import pytest
import torch

from workbench.engine.models.family import SEQUENCE_CLASSIFICATION
from workbench.engine.models.loading import build_model
from workbench.engine.models.registry import default_model_path
from workbench.engine.tokenizer import TextTokenizer
from workbench.engine.training.batching import collate

transformers = pytest.importorskip("transformers")


def build_classifier(folder, labels=None, dropout=None):
    """A sequence classifier: a fresh head for `labels`, or the folder's own head."""
    loaded = build_model(
        folder,
        SEQUENCE_CLASSIFICATION,
        len(labels or [0, 1]),
        keep_head=labels is None,
        dropout=dropout,
    )
    return loaded.model, labels, loaded.fresh


TEXTS = [
    "The film was a delight from start to finish.",
    "这家餐厅的菜很好吃，服务也很周到。",
    "Short.",
    "A café in Zürich served naïve crêpes — “curly quotes” and all, for €4.",
]


def _batch(folder):
    tokenizer = TextTokenizer.from_folder(folder, 128)
    ids = tokenizer.encode(TEXTS)
    return collate(ids, list(range(len(ids))), tokenizer.pad_id)


def test_minilm_hidden_states_match_transformers_bert_model():
    folder = default_model_path()
    ours, _, _ = build_classifier(folder, ["a", "b"])
    ours.eval()
    reference = transformers.BertModel.from_pretrained(folder).eval()
    ids, mask = _batch(folder)
    token_types = torch.zeros_like(ids)
    token_types[:, ids.shape[1] // 2 :] = 1  # exercise token type embeddings too
    with torch.no_grad():
        hidden, pooled = ours.bert(ids, mask, token_types)
        ref = reference(input_ids=ids, attention_mask=mask, token_type_ids=token_types)
    real = mask.bool()
    assert (hidden - ref.last_hidden_state)[real].abs().max() < 1e-4
    assert (pooled - ref.pooler_output).abs().max() < 1e-4


def test_our_tokenizer_gives_the_ids_transformers_gives():
    folder = default_model_path()
    ids, _ = _batch(folder)
    ref = transformers.AutoTokenizer.from_pretrained(folder)(
        TEXTS, padding=True, return_tensors="pt"
    )
    assert torch.equal(ids, ref["input_ids"])


@pytest.mark.parametrize("weights_file", ["safetensors", "bin"])
def test_random_bert_checkpoint_loads_from_either_weights_file(tmp_path, weights_file):
    config = transformers.BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_act="gelu_new",
    )
    torch.manual_seed(0)
    reference = transformers.BertForSequenceClassification(config).eval()
    reference.config.id2label = {0: "no", 1: "yes"}
    reference.config.label2id = {"no": 0, "yes": 1}
    reference.save_pretrained(tmp_path, safe_serialization=weights_file == "safetensors")
    ours, labels, fresh = build_classifier(tmp_path)
    ours.eval()
    assert fresh == []
    ids = torch.randint(1, 120, (3, 10))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert (got - expected).abs().max() < 1e-5


def test_a_checkpoint_that_does_not_fit_the_config_names_the_weight(tmp_path):
    from safetensors.torch import save_file

    from workbench.errors import UserError

    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    transformers.BertModel(config).save_pretrained(tmp_path)
    state = transformers.BertModel(config).state_dict()
    state["embeddings.word_embeddings.weight"] = torch.zeros(60, 16)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(UserError, match="embeddings.word_embeddings.weight"):
        build_classifier(tmp_path, ["a", "b"])


@pytest.mark.parametrize("rate", [0.0, 0.2])
def test_the_runs_dropout_replaces_every_dropout_rate_of_the_checkpoint(rate):
    model, _, _ = build_classifier(default_model_path(), ["a", "b"], dropout=rate)
    modules = list(model.modules())
    rates = [m.p for m in modules if type(m).__name__ == "Dropout"]
    rates += [m.dropout_p for m in modules if hasattr(m, "dropout_p")]
    assert len(rates) == 1 + 6 * 3 + 1  # embeddings, 3 per layer (2 hidden + attention), head
    assert set(rates) == {rate}


def test_without_a_dropout_the_checkpoints_own_rate_is_kept():
    model, _, _ = build_classifier(default_model_path(), ["a", "b"])
    assert {m.p for m in model.modules() if type(m).__name__ == "Dropout"} == {0.1}
