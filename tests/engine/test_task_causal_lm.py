"""Causal LM: reading text and pairs, packing with document ids, label masking, the chat
template (against transformers' apply_chat_template), the loss (against transformers' own
shifted loss, and packed = separate documents), metrics, training from scratch, export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_gpt2 import EOS, write_tiny_gpt2

from workbench.config import RunConfig
from workbench.engine.data import load_table
from workbench.engine.tasks import get_task
from workbench.engine.tasks.causal_lm import (
    IGNORE,
    Document,
    pack,
    pad_rows,
    render_chat,
    render_pair,
)
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

TASK = get_task("causal-lm")
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA2 = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}"
    "{{ ' ' + message['content'] + ' ' + eos_token }}{% endif %}{% endfor %}"
)


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> Path:
    return write_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "model")


def _chat_folder(root: Path, template: str) -> Path:
    """A tiny GPT-2 whose tokenizer knows ChatML's turn markers and has a chat template."""
    folder = write_tiny_gpt2(root)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tokenizer.save(str(folder / "tokenizer.json"))
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = tokenizer.get_vocab_size()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").unlink()  # from scratch: the vocabulary grew
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    return folder


def _read(config: RunConfig):
    return TASK.read(config.with_task_defaults(), lambda p: load_table(p, header="auto"))


# ---- reading ---------------------------------------------------------------------------------
def test_plain_text_is_read_as_documents_with_packing_and_the_end_of_text_token(gpt2, tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("One document.\n\nAnother one here.\n\nA third.\n\nAnd a fourth.\n")
    read = _read(RunConfig(task="causal-lm", data=str(data), model=str(gpt2)))
    assert read.columns == {"text_column": "text"}
    tokenizer = TextTokenizer.from_folder(gpt2)
    assert read.meta == {"kind": "text", "packing": True, "eos_token_id": tokenizer.eos_id}
    assert len(read.train) + len(read.eval) == 4


def test_pairs_are_guessed_and_padded_by_default_and_empty_responses_left_out(gpt2, tmp_path):
    data = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": f"question {i}", "response": f"answer {i}" if i % 5 else ""} for i in range(20)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    read = _read(RunConfig(task="causal-lm", data=str(data), model=str(gpt2)))
    assert read.columns == {"prompt_column": "prompt", "response_column": "response"}
    assert read.meta["kind"] == "pairs" and read.meta["packing"] is False
    assert len(read.train) + len(read.eval) == 16
    assert any("4 rows of pairs.jsonl have no response" in n for n in read.notices)
    assert any("no chat template" in n and "newline" in n for n in read.notices)
    packed = _read(RunConfig(task="causal-lm", data=str(data), model=str(gpt2), packing=True))
    assert packed.meta["packing"] is True


def test_column_mistakes_name_the_flag(gpt2, tmp_path):
    data = tmp_path / "pairs.csv"
    frame = pd.DataFrame({"question": ["a", "b", "c"], "body": ["a longer text"] * 3})
    frame.to_csv(data, index=False)
    base = {"task": "causal-lm", "data": str(data), "model": str(gpt2)}
    with pytest.raises(UserError, match="--response-column"):
        _read(RunConfig(**base, prompt_column="question"))
    with pytest.raises(UserError, match="not both"):
        _read(RunConfig(**base, text_column="body", prompt_column="question"))
    with pytest.raises(UserError, match="no column 'nope'.*--response-column"):
        _read(RunConfig(**base, prompt_column="question", response_column="nope"))
    with pytest.raises(UserError, match="their own columns"):
        _read(RunConfig(**base, prompt_column="question", response_column="question"))
    # Without pair columns, the text column is the longest string column.
    assert _read(RunConfig(**base)).columns == {"text_column": "body"}


def test_max_length_beyond_the_models_positions_is_capped_and_said(gpt2, tmp_path):
    data = tmp_path / "t.txt"
    data.write_text("a\n\nb\n\nc\n")
    read = _read(RunConfig(task="causal-lm", data=str(data), model=str(gpt2), max_length=512))
    assert any("more than the 128 positions" in n for n in read.notices)
    assert TextTokenizer.from_folder(gpt2, 512).max_length == 128


# ---- packing and labels ----------------------------------------------------------------------
def _docs(*lengths: int, start: int = 10) -> list[Document]:
    docs, next_id = [], start
    for n in lengths:
        ids = list(range(next_id, next_id + n))
        next_id += n
        docs.append(Document(ids, [i >= 1 for i in range(n)]))
    return docs


def test_packing_fills_blocks_in_order_and_masks_every_document_start():
    docs = _docs(3, 5, 2, 6)  # 16 tokens
    features = pack(docs, 6)
    ids, labels, owners = (features.sequences[k] for k in ("input_ids", "labels", "document_ids"))
    assert [len(b) for b in ids] == [6, 6, 4]
    assert sum(ids, []) == sum((d.ids for d in docs), [])  # nothing lost, nothing repeated
    assert owners[0] == [0, 0, 0, 1, 1, 1] and owners[1] == [1, 1, 2, 2, 3, 3]
    flat_labels, flat_ids, flat_owner = sum(labels, []), sum(ids, []), sum(owners, [])
    for t, (label, token, owner) in enumerate(zip(flat_labels, flat_ids, flat_owner, strict=True)):
        starts_document = t == 0 or flat_owner[t - 1] != owner
        assert label == (IGNORE if starts_document else token)
    assert features.example_index.tolist() == [0, 1, 3]


def test_a_trailing_block_with_nothing_to_predict_is_dropped():
    docs = _docs(4, 1)  # the last block would hold only the one-token document
    assert len(pack(docs, 4)) == 1


def test_padding_cuts_a_long_pair_keeping_the_prompts_end_and_the_responses_start():
    prompt, response = list(range(100, 110)), list(range(200, 210))
    doc = Document(prompt + response, [False] * 10 + [True] * 10)
    features = pad_rows([doc], 8)
    ids, labels = features.sequences["input_ids"][0], features.sequences["labels"][0]
    assert ids == prompt[-4:] + response[:4]  # half the block for each
    assert labels == [IGNORE] * 4 + response[:4]
    short = pad_rows([Document([1, 2, 3], [False, True, True])], 8)
    assert short.sequences["labels"][0] == [IGNORE, 2, 3]


def test_pair_labels_cover_the_response_and_its_end_only(gpt2, tmp_path):
    tokenizer = TextTokenizer.from_folder(gpt2, 64)
    meta = {"kind": "pairs", "packing": False, "eos_token_id": tokenizer.eos_id}
    from workbench.engine.tasks.base import Rows

    features = TASK.encode(
        Rows({"prompt": ["Hello world"], "response": ["a cat"]}), tokenizer, None, meta
    )
    ids, labels = features.sequences["input_ids"][0], features.sequences["labels"][0]
    trained = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE]
    assert tokenizer.decode(trained, skip_special_tokens=False) == "a cat" + EOS
    assert tokenizer.decode(ids, skip_special_tokens=False) == "Hello world\na cat" + EOS


# ---- chat templates ----------------------------------------------------------------------------
@pytest.mark.parametrize("template", [CHATML, LLAMA2], ids=["chatml", "llama2"])
def test_chat_templates_render_as_transformers_renders_them(template):
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models

    backend = Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>"))
    reference = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    reference.chat_template = template
    tokens = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    chat = [{"role": "user", "content": "Hi {there}"}, {"role": "assistant", "content": "Hello!"}]
    for messages, generation in ((chat, False), (chat[:1], True)):
        expected = reference.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )
        assert render_chat(template, messages, generation, tokens) == expected
    head, tail = render_pair(template, tokens, "Hi {there}", "Hello!")
    assert head + tail == render_chat(template, chat, False, tokens)


def test_a_broken_template_is_a_user_error():
    with pytest.raises(UserError, match="chat template"):
        render_chat("{{ raise_exception('only user turns') }}", [], False, {})


def test_pairs_with_a_chat_template_train_on_the_assistant_turn_only(tmp_path):
    folder = _chat_folder(tmp_path / "chat", CHATML)
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        "\n".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) for i in range(4))
    )
    read = _read(RunConfig(task="causal-lm", data=str(data), model=str(folder)))
    assert read.meta["chat_template"] == CHATML
    assert any("chat template" in n for n in read.notices)
    tokenizer = TextTokenizer.from_folder(folder, 64)
    features = TASK.encode(read.train, tokenizer, None, read.meta)
    ids, labels = features.sequences["input_ids"][0], features.sequences["labels"][0]
    text = tokenizer.decode(ids, skip_special_tokens=False)
    prompt, response = read.train["prompt"][0], read.train["response"][0]
    assert (
        text
        == f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n{response}<|im_end|>\n"
    )
    trained = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE]
    assert tokenizer.decode(trained, skip_special_tokens=False) == f"{response}<|im_end|>\n"
    # Prediction formats a typed prompt as the start of the assistant's turn.
    query = TASK.encode(TASK.rows_from_inputs({"text": ["q9"]}), tokenizer, None, read.meta)
    typed = tokenizer.decode(query.sequences["input_ids"][0], skip_special_tokens=False)
    assert typed == "<|im_start|>user\nq9<|im_end|>\n<|im_start|>assistant\n"


# ---- loss, packing equivalence, metrics -------------------------------------------------------
def test_the_loss_is_transformers_shifted_loss_with_padding_ignored(gpt2):
    transformers = pytest.importorskip("transformers")
    from workbench.engine.models.loading import build_model

    model = build_model(gpt2, "causal-lm", 0).model.eval()
    reference = transformers.GPT2LMHeadModel.from_pretrained(gpt2).eval()
    tokenizer = TextTokenizer.from_folder(gpt2, 64)
    meta = {"kind": "text", "packing": False, "eos_token_id": tokenizer.eos_id}
    from workbench.engine.tasks.base import Rows

    texts = ["The quick brown fox jumps.", "Hello world!"]
    features = TASK.encode(Rows({"text": texts}), tokenizer, None, meta)
    batch = TASK.collate(features, [0, 1], tokenizer.pad_id, 1, training=True)
    with torch.no_grad():
        ours = TASK.loss(TASK.forward(model, batch), batch, meta)
        labels = batch["labels"]
        theirs = reference(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
        ).loss
    assert abs(ours.item() - theirs.item()) < 1e-5


def test_packed_documents_score_as_if_each_were_alone(gpt2):
    """Block-diagonal attention and per-document positions: the packed loss sums equal the
    sums of each document scored on its own."""
    from workbench.engine.models.loading import build_model
    from workbench.engine.tasks.base import Rows

    model = build_model(gpt2, "causal-lm", 0).model.eval()
    tokenizer = TextTokenizer.from_folder(gpt2, 128)
    texts = ["The quick brown fox jumps over the lazy dog.", "Hello world!", "A cat and a hat."]
    packed_meta = {"kind": "text", "packing": True, "eos_token_id": tokenizer.eos_id}
    alone_meta = {**packed_meta, "packing": False}
    rows = Rows({"text": texts})
    packed = TASK.encode(rows, tokenizer, None, packed_meta)
    alone = TASK.encode(rows, tokenizer, None, alone_meta)
    assert len(packed) == 1 and len(alone) == 3

    def outputs(features):
        batch = TASK.collate(features, list(range(len(features))), tokenizer.pad_id, 1, False)
        with torch.no_grad():
            return TASK.gather(TASK.forward(model, batch), batch)

    packed_out, alone_out = outputs(packed), outputs(alone)
    assert "document_ids" in TASK.collate(packed, [0], tokenizer.pad_id, 1, False)
    assert packed_out[0][1] == sum(o[1] for o in alone_out)  # the same tokens scored
    assert abs(packed_out[0][0] - sum(o[0] for o in alone_out)) < 1e-3
    metrics = TASK.metrics(packed_out, packed, rows, packed_meta)
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    assert metrics["predicted_tokens"] == int(packed_out[0][1])


def test_collate_drops_masks_that_change_nothing():
    features = pack(_docs(8), 4)  # two full blocks, one document each
    batch = TASK.collate(features, [0, 1], 0, 1, training=True)
    assert "attention_mask" not in batch and "document_ids" not in batch
    uneven = pack(_docs(3, 3), 4)  # a block with two documents, a short last block
    batch = TASK.collate(uneven, [0, 1], 0, 1, training=True)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["document_ids"][0].tolist() == [0, 0, 0, 1]


def test_a_batch_with_nothing_to_predict_has_zero_loss_not_nan():
    logits = torch.randn(1, 4, 7)
    batch = {"labels": torch.full((1, 4), IGNORE)}
    assert TASK.loss(logits, batch, {}).item() == 0.0


def test_metrics_refuse_evaluation_data_with_nothing_to_predict():
    with pytest.raises(UserError, match="no tokens to predict"):
        TASK.metrics([np.zeros(2, dtype=np.float32)], None, [1], {})


# ---- from scratch, end to end ------------------------------------------------------------------
def _scratch_folder(root: Path) -> Path:
    folder = write_tiny_gpt2(root)
    (folder / "model.safetensors").unlink()
    return folder


def test_a_folder_without_weights_trains_from_scratch_and_says_so(tmp_path):
    from workbench.engine import train
    from workbench.engine.models.loading import build_model

    folder = _scratch_folder(tmp_path / "scratch")
    loaded = build_model(folder, "causal-lm", 0)
    assert "transformer.wte.weight" in loaded.fresh and "lm_head.weight" not in loaded.fresh
    assert loaded.model.transformer.wte.weight.std().item() == pytest.approx(0.02, rel=0.1)
    data = tmp_path / "text.txt"
    data.write_text("\n\n".join(["The quick brown fox jumps over the lazy dog."] * 40))
    notices: list[str] = []
    result = train(
        RunConfig(
            task="causal-lm",
            data=str(data),
            model=str(folder),
            output=str(tmp_path / "run"),
            epochs=2,
            learning_rate=3e-3,
            max_length=32,
            batch_size=4,
        ),  # fmt: skip
        on_event=lambda e: notices.append(e.message) if e.kind == "notice" else None,
    )
    assert result.status == "completed", result.error
    assert any("starts from random weights" in n for n in notices)
    metrics = result.metrics
    assert metrics["perplexity"] < metrics["perplexity_before"] / 3
    # The trained model has weights and a workbench block; without weights it is refused.
    model_dir = result.run_dir / "model"
    (model_dir / "model.safetensors").unlink()
    from workbench.engine.models.registry import resolve_model

    with pytest.raises(UserError, match="no weights"):
        resolve_model(model_dir)


@pytest.mark.slow
def test_train_evaluate_predict_and_export_loads_in_transformers(gpt2, tmp_path):
    transformers = pytest.importorskip("transformers")
    from workbench.engine import evaluate, export_model, load_predictor, train

    data = tmp_path / "text.txt"
    sentences = ["The quick brown fox jumps over the lazy dog.", "A small model writes a story."]
    data.write_text("\n\n".join(sentences * 30))
    result = train(
        RunConfig(
            task="causal-lm",
            data=str(data),
            model=str(gpt2),
            output=str(tmp_path / "run"),
            epochs=2,
            learning_rate=1e-3,
            max_length=32,
            batch_size=4,
        )  # fmt: skip
    )
    assert result.status == "completed", result.error
    assert result.metrics["perplexity"] < result.metrics["perplexity_before"]
    metrics = evaluate(result.run_dir, data)
    assert set(metrics) >= {"loss", "perplexity"}
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    predictor = load_predictor(result.run_dir)
    texts = ["The quick brown", "A small model writes a"]
    together = predictor.predict(texts)  # one padded batch: each read at its last token
    assert together == [predictor.predict([t])[0] for t in texts]
    tops = [p["next_tokens"] for p in together]
    assert all(len(t) == 5 and t[0]["probability"] >= t[-1]["probability"] for t in tops)
    tokenizer = predictor.tokenizer
    for prediction in together:  # the greedy continuation, from the generation module
        new, first = prediction["token_ids"], prediction["next_tokens"][0]["id"]
        assert len(new) <= 32 and tokenizer.eos_id not in new
        assert new[:1] == ([] if first == tokenizer.eos_id else [first])  # greedy: the top one
        assert prediction["continuation"].strip() == tokenizer.decode(new).strip()

    out = export_model(result.run_dir, tmp_path / "export", "hf")
    config = json.loads((Path(out) / "config.json").read_text())
    assert config["architectures"] == ["GPT2LMHeadModel"]
    theirs = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ours = load_predictor(result.run_dir).trained.model
    tokenizer = TextTokenizer.from_folder(out, 32)
    ids = torch.tensor([tokenizer.encode_prompt("The quick brown fox")])
    with torch.no_grad():
        diff = (ours(ids) - theirs(input_ids=ids).logits).abs().max().item()
    assert diff < 1e-5


def test_generate_with_chat_asks_in_the_models_chat_template(tmp_path):
    """`workbench generate --chat`: the prompt becomes a user turn with the assistant's start,
    as transformers' apply_chat_template(add_generation_prompt=True) writes it."""
    transformers = pytest.importorskip("transformers")
    from workbench.engine import load_generator
    from workbench.engine.tasks.causal_lm import chat_turn

    folder = _chat_folder(tmp_path / "chat", CHATML)
    reference = transformers.AutoTokenizer.from_pretrained(folder)
    expected = reference.apply_chat_template(
        [{"role": "user", "content": "Capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert chat_turn(folder, "Capital of France?") == expected
    generator = load_generator(folder)
    prompt = generator.chat_prompt("Capital of France?")
    assert prompt == expected and prompt.endswith("<|im_start|>assistant\n")
    ids = generator.prompt_ids(prompt)
    assert generator.tokenizer.id_to_token(ids[0]) == "<|im_start|>"  # a marker, not letters


def test_generate_with_chat_on_a_model_without_a_template_says_so(gpt2):
    from workbench.engine import load_generator

    with pytest.raises(UserError, match="no chat template.*without --chat"):
        load_generator(gpt2).chat_prompt("Hello")
