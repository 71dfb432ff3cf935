"""T5 (v1.0 ReLU with a tied, rescaled LM head; v1.1 gated-GELU with its own head or tied as
transformers 5 writes it) gives transformers' encoder states and logits on small random
checkpoints with padded encoder and decoder batches, for both heads; encode once + the cache
gives a full forward and transformers' greedy ids; what we save loads back in transformers;
bf16 weights load tensor by tensor; the tokenizer gives T5Tokenizer's ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_t5 import CORPUS, t5_tokenizer, write_tiny_t5  # tests/ is on the path (conftest)

from workbench.engine import checkpoint
from workbench.engine.checkpoint import save_folder, shared_weights
from workbench.engine.generation.cache import KVCache
from workbench.engine.models.checks import check_model
from workbench.engine.models.loading import build_model
from workbench.engine.models.t5 import T5Config, relative_position_bucket
from workbench.engine.tokenizer import TextTokenizer
from workbench.errors import UserError

transformers = pytest.importorskip("transformers")

PAD, EOS = 0, 1
CASES = {
    # name: write_tiny_t5 settings (and config.json entries written over transformers' own)
    "v1.0-relu-tied": {},
    "v1.1-gated-untied": {"gated": True, "tied": False},
    "v1.1-gated-tied-unscaled": {"gated": True, "json": {"scale_decoder_outputs": False}},
    "gated-silu-deeper-decoder": {"feed_forward_proj": "gated-silu", "num_decoder_layers": 3},
}


def _write(folder: Path, name: str, head: str = "T5ForConditionalGeneration") -> Path:
    settings = dict(CASES[name])
    written = settings.pop("json", {})
    write_tiny_t5(folder, head=head, num_labels=3, **settings)
    if written:
        path = folder / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **written}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("t5")
    return {name: _write(root / name, name) for name in CASES}


def _reference(folder: Path, cls: str = "T5ForConditionalGeneration"):
    return getattr(transformers, cls).from_pretrained(folder).eval()


def _source(vocab: int, lengths=(11, 7, 3), seed: int = 1):
    """Right-padded encoder rows ending in </s>: (ids (B, S), mask (B, S))."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(3, vocab, (n,), generator=g)
        ids[row, n - 1] = EOS
        mask[row, :n] = 1
    return ids, mask


def _target(vocab: int, lengths=(6, 9, 4), seed: int = 2):
    """Right-padded decoder inputs starting with the start token (pad, 0)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, 1:n] = torch.randint(3, vocab, (n - 1,), generator=g)
        mask[row, :n] = 1
    return ids, mask


def _real(diff: torch.Tensor, mask: torch.Tensor) -> float:
    return diff[mask.bool()].abs().max().item()  # over real tokens only


@pytest.mark.parametrize("name", list(CASES))
def test_encoder_states_and_generation_logits_match_transformers(folders, name):
    folder = folders[name]
    reference = _reference(folder)
    loaded = build_model(folder, "seq2seq-lm", 0)
    assert loaded.family.name == "t5" and loaded.fresh == []
    ours = loaded.model.eval()
    tied = name != "v1.1-gated-untied"
    assert (ours.lm_head.weight is ours.shared.weight) == tied
    assert ours.encoder.embed_tokens is ours.shared is ours.decoder.embed_tokens
    assert (ours.output_scale != 1.0) == reference.config.scale_decoder_outputs
    assert (ours.decoder_start_token_id, ours.eos_token_id, ours.pad_token_id) == (PAD, EOS, PAD)
    V = reference.config.vocab_size
    ids, mask = _source(V)
    dec, dec_mask = _target(V)
    with torch.no_grad():
        ours_enc = ours.encode(ids, mask)
        their_enc = reference.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
        expected = reference(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=dec,
            decoder_attention_mask=dec_mask,
        ).logits
        given = ours(None, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask,
                     encoder_hidden=ours_enc)  # fmt: skip
    encoder, logits = _real(ours_enc - their_enc, mask), _real(got - expected, dec_mask)
    print(f"{name}: encoder {encoder:.1e}, logits {logits:.1e} (of {expected.abs().max():.1f})")
    assert encoder < 1e-4 and logits < 1e-4
    assert torch.equal(given, got)  # encoder_hidden given: the encoder is skipped, same logits


@pytest.mark.parametrize("name", ["v1.0-relu-tied", "v1.1-gated-untied"])
def test_sequence_classification_matches_transformers(tmp_path, name):
    folder = _write(tmp_path / "cls", name, head="T5ForSequenceClassification")
    reference = _reference(folder, "T5ForSequenceClassification")
    loaded = build_model(folder, "sequence-classification", 3)
    assert loaded.fresh == []
    ids, mask = _source(reference.config.vocab_size)  # one </s> per row, rows padded after it
    with torch.no_grad():
        got = loaded.model.eval()(ids, mask)
        expected = reference(input_ids=ids, attention_mask=mask).logits
    diff = (got - expected).abs().max().item()
    print(f"{name} classification: {diff:.1e}")
    assert got.shape == (3, 3) and diff < 1e-4
    with pytest.raises(UserError, match="no </s> token"):
        loaded.model(ids.masked_fill(ids == EOS, 5), mask)


def test_a_generation_checkpoint_starts_a_classifier_with_a_fresh_head(folders):
    loaded = build_model(folders["v1.1-gated-untied"], "sequence-classification", 4)
    assert sorted(loaded.fresh) == [
        "classification_head.dense.bias", "classification_head.dense.weight",
        "classification_head.out_proj.bias", "classification_head.out_proj.weight",
    ]  # fmt: skip
    generation = build_model(folders["v1.1-gated-untied"], "seq2seq-lm", 0).model
    assert torch.equal(loaded.model.transformer.shared.weight, generation.shared.weight)
    ids, mask = _source(generation.shared.num_embeddings)
    assert loaded.model.eval()(ids, mask).shape == (3, 4)


@pytest.mark.parametrize("name", ["v1.0-relu-tied", "gated-silu-deeper-decoder"])
def test_encode_once_and_the_cache_step_by_step_equal_one_forward(folders, name):
    model = build_model(folders[name], "seq2seq-lm", 0).model.eval()
    V = model.shared.num_embeddings
    ids, mask = _source(V)
    dec, dec_mask = _target(V)
    with torch.no_grad():
        full = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
        hidden = model.encode(ids, mask)
        cache = KVCache()
        steps = [
            model(
                None,
                mask,
                decoder_input_ids=dec[:, :3],
                decoder_attention_mask=dec_mask[:, :3],
                encoder_hidden=hidden,
                cache=cache,
            )
        ]
        for t in range(3, dec.shape[1]):  # then one token at a time, cross-attention kept
            steps.append(
                model(
                    None,
                    mask,
                    decoder_input_ids=dec[:, t : t + 1],
                    decoder_attention_mask=dec_mask[:, : t + 1],
                    cache=cache,
                )
            )
    # fmt: skip
    assert cache.length == dec.shape[1] and len(cache.cross) == len(model.decoder.block)
    diff = _real(torch.cat(steps, dim=1) - full, dec_mask)
    print(f"{name}: cache vs one forward {diff:.1e}")
    assert diff < 1e-5


@pytest.mark.parametrize("name", ["v1.0-relu-tied", "v1.1-gated-untied"])
def test_greedy_decoding_gives_transformers_ids(folders, name):
    reference = _reference(folders[name])
    reference.generation_config.eos_token_id = None  # 20 tokens whatever they are
    model = build_model(folders[name], "seq2seq-lm", 0).model.eval()
    ids, mask = _source(reference.config.vocab_size, lengths=(9, 5))  # a padded batch of two
    with torch.no_grad():
        expected = reference.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=20, do_sample=False
        )[:, 1:]  # after the start token
        hidden, cache = model.encode(ids, mask), KVCache()
        step = torch.full((2, 1), model.decoder_start_token_id)
        got = []
        for _ in range(20):
            logits = model(None, mask, decoder_input_ids=step, encoder_hidden=hidden, cache=cache)
            step = logits[:, -1:].argmax(-1)  # (B, 1)
            got.append(step)
    assert torch.cat(got, dim=1).tolist() == expected.tolist()


class _NoTokenizer:
    def save(self, folder) -> None:
        pass


@pytest.mark.parametrize(
    ("name", "kind", "auto"),
    [
        ("v1.0-relu-tied", "seq2seq-lm", "AutoModelForSeq2SeqLM"),
        ("v1.1-gated-untied", "seq2seq-lm", "AutoModelForSeq2SeqLM"),
        ("v1.1-gated-tied-unscaled", "seq2seq-lm", "AutoModelForSeq2SeqLM"),
        ("v1.1-gated-untied", "sequence-classification", "AutoModelForSequenceClassification"),
    ],
)
def test_what_we_save_loads_in_transformers(folders, tmp_path, name, kind, auto):
    loaded = build_model(folders[name], kind, 3)
    with torch.no_grad():  # move every weight (tied ones together), so a lost tie shows
        g = torch.Generator().manual_seed(3)
        for param in loaded.model.parameters():
            param.add_(torch.randn(param.shape, generator=g) * 0.05)
    head = loaded.family.head(kind)
    config = dict(loaded.raw_config, architectures=[head.architecture])
    (tmp_path / "ours").mkdir()
    save_folder(tmp_path / "ours", loaded.model, config, folders[name], _NoTokenizer())
    keys = set(load_file(tmp_path / "ours" / "model.safetensors"))
    tied = name != "v1.1-gated-untied"
    assert ("lm_head.weight" in keys) == (kind == "seq2seq-lm" and not tied)
    assert not any("embed_tokens" in k for k in keys)  # the shared embeddings, saved once
    expected_shared = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
    if kind == "seq2seq-lm" and tied:
        expected_shared.add("lm_head.weight")
    if kind == "sequence-classification":
        expected_shared = {f"transformer.{k}" for k in expected_shared}
    assert set(shared_weights(loaded.model)) == expected_shared
    reference, info = getattr(transformers, auto).from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert type(reference).__name__ == head.architecture
    V = loaded.config.vocab_size
    ids, mask = _source(V)
    model = loaded.model.eval()
    with torch.no_grad():
        if kind == "seq2seq-lm":
            dec, dec_mask = _target(V)
            got = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
            expected = reference.eval()(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                                        decoder_attention_mask=dec_mask).logits  # fmt: skip
            diff = _real(got - expected, dec_mask)
        else:
            got, expected = model(ids, mask), reference.eval()(input_ids=ids, attention_mask=mask)
            diff = (got - expected.logits).abs().max().item()
    print(f"{name} {kind} round trip: {diff:.1e}")
    assert diff < 1e-5


def test_bf16_weights_load_one_tensor_at_a_time_without_a_float32_copy(
    folders, tmp_path, monkeypatch
):
    folder = tmp_path / "bf16"
    folder.mkdir()
    for file in folders["v1.1-gated-untied"].iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    state = load_file(folder / "model.safetensors")
    save_file(
        {k: v.to(torch.bfloat16) for k, v in state.items()}, str(folder / "model.safetensors")
    )
    alive, dtypes, most_alive = [], set(), 0
    original = checkpoint.Weights.__getitem__

    def tracked(self, key):
        nonlocal most_alive
        import weakref

        tensor = original(self, key)
        most_alive = max(most_alive, sum(ref() is not None for ref in alive))
        alive.append(weakref.ref(tensor))
        dtypes.add(tensor.dtype)
        return tensor

    monkeypatch.setattr(checkpoint.Weights, "__getitem__", tracked)
    model = build_model(folder, "seq2seq-lm", 0).model.eval()
    assert len(alive) == len(state) and most_alive == 0  # each read once, dropped before the next
    assert dtypes == {torch.bfloat16}  # never converted to a float32 copy first
    assert torch.equal(model.lm_head.weight, state["lm_head.weight"].to(torch.bfloat16).float())
    reference = transformers.T5ForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    ids, mask = _source(model.shared.num_embeddings)
    dec, dec_mask = _target(model.shared.num_embeddings)
    with torch.no_grad():
        got = model(ids, mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask)
        expected = reference.eval()(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                                    decoder_attention_mask=dec_mask).logits  # fmt: skip
    assert _real(got - expected, dec_mask) < 1e-4


def test_the_tokenizer_gives_t5_tokenizers_ids(folders):
    folder = folders["v1.1-gated-untied"]
    theirs = transformers.AutoTokenizer.from_pretrained(folder)
    ours = TextTokenizer.from_folder(folder)
    assert (ours.pad_id, ours.eos_id) == (theirs.pad_token_id, theirs.eos_token_id) == (PAD, EOS)
    assert ours.unk_id == theirs.unk_token_id == 2 and ours.mask_id is None
    assert ours.template.prefix == () and ours.template.suffix == (EOS,)  # no bos: "X </s>"
    assert ours.template.pair_middle == (EOS,) and ours.template.pair_suffix == (EOS,)
    sentences = [
        *CORPUS[:3],
        "summarize: Person1 talks about the WEATHER in Köln, déjà vu!",
        "  spaces   and\ttabs, numbers 12345 and <extra_id_0> a sentinel ",
        "",
    ]
    assert ours.encode(sentences) == [theirs(s)["input_ids"] for s in sentences]
    ids, _ = ours.encode_pairs(sentences[:2], sentences[2:4])
    assert ids == [theirs(a, b)["input_ids"] for a, b in zip(sentences[:2], sentences[2:4])]
    assert ours.decode(ours.encode(CORPUS[:1])[0]) == theirs.decode(
        theirs(CORPUS[0])["input_ids"], skip_special_tokens=True
    )


def test_a_t5_tokenizer_from_transformers_alone_reads_the_same(tmp_path):
    """tokenizer.json as T5Tokenizer writes it, without a model's config.json beside it."""
    theirs = t5_tokenizer(extra_ids=0)
    theirs.save_pretrained(tmp_path)
    ours = TextTokenizer.from_folder(tmp_path)
    assert ours.encode(CORPUS) == [theirs(s)["input_ids"] for s in CORPUS]
    assert (ours.pad_id, ours.eos_id) == (PAD, EOS)


def test_relative_position_buckets_are_transformers_own():
    from transformers.models.t5.modeling_t5 import T5Attention

    positions = torch.arange(-300, 300)[None, :]
    for bidirectional in (True, False):
        for buckets, distance in ((32, 128), (8, 20)):
            expected = T5Attention._relative_position_bucket(
                positions, bidirectional, buckets, distance
            )
            got = relative_position_bucket(positions, bidirectional, buckets, distance)
            assert torch.equal(got, expected), (bidirectional, buckets)


def test_model_checks_catch_a_config_that_does_not_fit_the_weights(folders, tmp_path):
    source = folders["v1.1-gated-untied"]
    check_model(source)  # the folder as written passes
    for change, message in (
        ({"feed_forward_proj": "relu"}, "lacks encoder.block.1.layer.1.DenseReluDense.wi.weight"),
        ({"d_ff": 48}, "wi_0.weight has shape"),
        ({"num_layers": 1}, "encoder.block.1.layer.0.SelfAttention.q.weight: more layers"),
        ({"num_heads": 2}, "relative_attention_bias.weight has shape"),
        ({"feed_forward_proj": "gated-gelu-x"}, "feed_forward_proj"),
    ):
        folder = tmp_path / "_".join(map(str, change.values()))
        folder.mkdir()
        for file in source.iterdir():
            (folder / file.name).write_bytes(file.read_bytes())
        config = {**json.loads((source / "config.json").read_text()), **change}
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        with pytest.raises(UserError, match=message):
            check_model(folder)


def test_config_reading():
    old = T5Config.from_dict({"model_type": "t5", "d_model": 16})  # t5-small's keys
    assert old.tie_word_embeddings and old.scale_decoder_outputs and not old.is_gated_act
    flan = T5Config.from_dict({"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False})
    assert flan.is_gated_act and flan.dense_act_fn == "gelu_new"
    assert not flan.tie_word_embeddings and not flan.scale_decoder_outputs
    assert T5Config.from_dict({"eos_token_id": [1, 5], "pad_token_id": 3}).eos_token_id == 1
    assert T5Config.from_dict({"pad_token_id": 3}).decoder_start_token_id == 3
    assert T5Config.from_dict({"num_layers": 4}).num_decoder_layers == 4
    with pytest.raises(UserError, match="feed_forward_proj 'tanhh'"):
        T5Config.from_dict({"feed_forward_proj": "tanhh"})
    with pytest.raises(UserError, match="not 'ACT' or 'gated-ACT'"):
        T5Config.from_dict({"feed_forward_proj": "fancy-gelu"})


def test_the_generation_module_gives_transformers_greedy_ids_alone_and_batched(folders):
    from workbench.engine.generation.generate import GenerationSettings
    from workbench.engine.generation.seq2seq import generate_seq2seq, generate_seq2seq_batch

    folder = folders["v1.1-gated-untied"]
    reference = _reference(folder)
    model = build_model(folder, "seq2seq-lm", 0).model
    tok = TextTokenizer.from_folder(folder)
    sources = tok.encode(CORPUS[:3])  # different lengths: the batch pads the encoder
    settings = GenerationSettings(max_new_tokens=20)
    batched = generate_seq2seq_batch(model, tok, sources, settings)
    alone = [list(generate_seq2seq(model, tok, source, settings)) for source in sources]
    expected = []
    for source in sources:
        with torch.no_grad():
            out = reference.generate(
                input_ids=torch.tensor([source]), max_new_tokens=20, do_sample=False
            )[0, 1:].tolist()  # after the start token; ends at </s> (not output by ours)
        expected.append(out[: out.index(EOS)] if EOS in out else out)
    assert sum(map(len, expected)) >= 20  # tokens were compared, not only early </s>
    assert batched == alone == expected
