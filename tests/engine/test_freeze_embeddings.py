"""--freeze-embeddings freezes everything that belongs to the embeddings, in every family:
what each layer stack's first layer receives is the same before and after a training step
(so BART's `layernorm_embedding`, like BERT's `embeddings.LayerNorm`, stays as pretrained),
T5's relative position tables (its position embeddings) stay too, and the layers train."""

from __future__ import annotations

import pytest
import torch

from workbench.config import RunConfig
from workbench.engine.models.family import CAUSAL_LM, SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION
from workbench.engine.models.registry import load_family
from workbench.engine.peft.apply import apply_parameter_efficiency, layer_stacks

ENCODER = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37)  # fmt: skip
SMALL = {
    "bert": (SEQUENCE_CLASSIFICATION, ENCODER),
    "roberta": (SEQUENCE_CLASSIFICATION, ENCODER),
    "distilbert": (SEQUENCE_CLASSIFICATION,
                   dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37)),
    "gpt2": (CAUSAL_LM, dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=32)),
    "openai-gpt": (CAUSAL_LM,
                   dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=32)),
    "llama": (CAUSAL_LM, dict(ENCODER, num_key_value_heads=2)),
    "bart": (SEQ2SEQ_LM, dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2,
                              encoder_attention_heads=4, decoder_attention_heads=4,
                              encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=32,
                              pad_token_id=1, eos_token_id=2, bos_token_id=0,
                              decoder_start_token_id=2)),
    "t5": (SEQ2SEQ_LM, dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                            num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                            eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)),
}  # fmt: skip


def small_model(name: str, kind: str | None = None):
    family = load_family(name)
    default_kind, sizes = SMALL[name]
    kind = kind or default_kind
    torch.manual_seed(0)
    config = family.config_from_dict({**sizes, "model_type": name})
    model = family.head(kind).build(config, 2 if kind == SEQUENCE_CLASSIFICATION else 0)
    return family, family.head(kind), model.eval(), kind


def first_layer_inputs(model, family, run) -> dict[str, torch.Tensor]:
    """What layer 0 of each stack is given (the embeddings' output), in one forward."""
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    for stack in layer_stacks(model, family):
        layer = model.get_submodule(stack + "0")

        def hook(module, args, kwargs, stack=stack):
            hidden = args[0] if args else next(v for v in kwargs.values() if torch.is_tensor(v))
            seen[stack] = hidden.detach().clone()

        hooks.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        run()
    finally:
        for handle in hooks:
            handle.remove()
    return seen


@pytest.mark.parametrize("name", list(SMALL))
def test_the_first_layers_input_stays_and_the_layers_train(name):
    family, head, model, kind = small_model(name)
    fresh = [n for n, _ in model.named_parameters() if n.startswith(head.new_prefixes)]
    if kind == CAUSAL_LM or kind == SEQ2SEQ_LM:
        fresh = []  # a tied LM head is the embeddings, not a new head
    apply_parameter_efficiency(model, family, head, RunConfig(freeze_embeddings=True), fresh)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 99, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    extra = {"decoder_input_ids": ids[:, :5]} if kind == SEQ2SEQ_LM else {}

    def run():
        return model(ids, mask, **extra)

    before = first_layer_inputs(model, family, run)
    assert before, "no layer stack found"
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=1.0)
    out = run()
    (out[0] if isinstance(out, tuple) else out).float().pow(2).mean().backward()
    optimizer.step()
    after = first_layer_inputs(model, family, run)
    for stack in before:
        assert torch.equal(before[stack], after[stack]), f"{stack}0's input changed"
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    layer_params = [n for n, _ in model.named_parameters() if n.startswith(tuple(before))]
    assert layer_params and set(layer_params) - frozen  # the layers train
    if name == "bart":
        assert {"model.encoder.layernorm_embedding.weight",
                "model.decoder.layernorm_embedding.bias"} <= frozen  # fmt: skip
    if name == "t5":
        tables = {n for n in layer_params if "relative_attention_bias" in n}
        assert len(tables) == 2 and tables <= frozen  # encoder's and decoder's
        assert not (set(layer_params) - tables) & frozen  # the rest of block 0 trains


def test_a_t5_classifier_freezes_its_tables_under_its_prefix():
    family, head, model, _ = small_model("t5", SEQUENCE_CLASSIFICATION)
    fresh = [n for n, _ in model.named_parameters() if n.startswith(head.new_prefixes)]
    apply_parameter_efficiency(model, family, head, RunConfig(freeze_embeddings=True), fresh)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert {
        "transformer.shared.weight",
        "transformer.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    } <= frozen
    assert not any(n.startswith(head.new_prefixes) for n in frozen)
