"""Every encoder family goes through the whole product: train, predict, export, and the export
loads in `transformers` with Workbench's probabilities. Tiny random checkpoints with real
tokenizers (WordPiece for BERT and DistilBERT, byte-level BPE for RoBERTa) are written here."""

from __future__ import annotations

import pytest
import torch
from reviews_data import NEGATIVE, POSITIVE, write_reviews

from workbench.config import RunConfig
from workbench.engine import export_model, load_predictor, train

transformers = pytest.importorskip("transformers")
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

TEXTS = ["a wonderful film with a warm heart", "rude staff and awful coffee", "ok"]
CORPUS = POSITIVE + NEGATIVE


def _wordpiece(folder):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        CORPUS * 5, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(folder)
    return tok.get_vocab_size(), tok.token_to_id("[PAD]")


def _byte_bpe(folder):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.train_from_iterator(
        CORPUS * 5,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>"))
    )
    tok.decoder = __import__("tokenizers").decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    )
    fast.save_pretrained(folder)
    return tok.get_vocab_size(), tok.token_to_id("<pad>")


def _checkpoint(family: str, folder):
    small = dict(
        num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=80
    )
    torch.manual_seed(0)
    if family == "roberta":
        vocab, pad = _byte_bpe(folder)
        config = transformers.RobertaConfig(
            vocab_size=vocab, hidden_size=32, pad_token_id=pad, type_vocab_size=1, **small
        )
        model = transformers.RobertaModel(config)
    elif family == "distilbert":
        vocab, pad = _wordpiece(folder)
        config = transformers.DistilBertConfig(
            vocab_size=vocab,
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            max_position_embeddings=80,
            pad_token_id=pad,
        )
        model = transformers.DistilBertModel(config)
    else:
        vocab, pad = _wordpiece(folder)
        config = transformers.BertConfig(
            vocab_size=vocab, hidden_size=32, pad_token_id=pad, **small
        )
        model = transformers.BertModel(config)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_a_family_trains_predicts_and_exports_for_transformers(family, tmp_path):
    folder = _checkpoint(family, tmp_path / family)
    data = write_reviews(tmp_path / "reviews.csv", repeats=3)
    config = RunConfig(
        data=str(data),
        model=str(folder),
        output=str(tmp_path / "run"),
        epochs=2,
        batch_size=8,
        max_length=32,
        learning_rate=1e-3,
        precision="fp32",
    )
    result = train(config)
    assert result.status == "completed", result.error
    ours = load_predictor(result.run_dir).probabilities(TEXTS)

    exported = export_model(result.run_dir, tmp_path / "export", "hf")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(exported).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(exported)
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=32, return_tensors="pt")
    if family == "distilbert":
        batch.pop("token_type_ids", None)
    with torch.no_grad():
        theirs = model(**batch).logits.softmax(-1).numpy()
    assert abs(theirs - ours).max() <= 1e-5
    assert model.config.id2label == {0: "negative", 1: "positive"}
