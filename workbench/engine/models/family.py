"""The Family seam: what one model architecture (BERT, RoBERTa, …) supplies to the engine.

A family module (`engine/models/<family>.py`) defines its modules in plain PyTorch, with
attribute names equal to the Hugging Face checkpoint keys, and one `FAMILY` object listing:
which `model_type`s it loads, how to read its config, the heads it offers per head kind,
and its tokenizer conventions. Nothing outside the family module names its classes.

Every head module has the same call: `head(input_ids, attention_mask, token_type_ids=None)`
returning logits — (B, num_outputs) for sequence classification, (B, T, num_outputs) for
token classification, (B, T, 2) for question answering, (B, T, V) for masked LM, and
(masked-LM logits, next-sentence logits) for pretraining.

Decoder heads (causal LM, and sequence classification on a decoder) take three more keyword
arguments, all optional, so generation and packed batches work for every decoder family:

- `position_ids` (B, T): positions of the new tokens. Default: 0.. T-1, offset by the cache's
  length (as `transformers` does in a plain forward). Generation passes them explicitly,
  counted from the attention mask, so left padding works.
- `cache` (`workbench.engine.generation.cache.KVCache`): keys and values of earlier tokens;
  the head appends this call's own (`cache.update(layer, k, v)`). `attention_mask` then
  covers the cached tokens and the new ones: (B, cache length + T).
- `document_ids` (B, T) int: packed batches. A token attends only to earlier tokens with
  the same id, and when `position_ids` is None the positions restart at 0 in each document.

Encoder-decoder heads (`SEQ2SEQ_LM`: T5, BART) let generation encode the source once:

- `encode(input_ids, attention_mask) -> encoder_hidden` (B, S, H).
- `forward(input_ids, attention_mask, token_type_ids=None, *, decoder_input_ids,
  decoder_attention_mask=None, encoder_hidden=None, cache=None) -> logits` (B, T, V). With
  `encoder_hidden` the encoder is skipped (`input_ids` may be None). `attention_mask` always
  masks the ENCODER input (B, S); `decoder_attention_mask` pads the decoder (B, cache + T).
  `cache` is a KVCache for the decoder's self-attention (layer index as for decoders); the
  head keeps each layer's cross-attention keys/values in `cache.cross` (filled on first use).
- attributes `decoder_start_token_id`, `eos_token_id`, `pad_token_id` (ints, from config.json
  as `transformers` reads them).
- Training data (the seq2seq task): labels = the target's ids ending with eos (the
  tokenizer's template around them: BART's `<s> … </s>`, T5's `… </s>`), padded with -100;
  `decoder_input_ids` = labels shifted right, starting with `decoder_start_token_id`, -100
  replaced by pad (transformers' `shift_tokens_right`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

# Head kinds a task can ask a family for.
SEQUENCE_CLASSIFICATION = "sequence-classification"
TOKEN_CLASSIFICATION = "token-classification"
QUESTION_ANSWERING = "question-answering"
MASKED_LM = "masked-lm"
PRETRAINING = "pretraining"  # masked LM + next-sentence prediction (BERT)
CAUSAL_LM = "causal-lm"  # (B, T, V) next-token logits; decoders (GPT-2, Llama family)
SEQ2SEQ_LM = "seq2seq-lm"  # encoder-decoders (T5, BART): conditional generation


@dataclass(frozen=True)
class Head:
    """One task head of a family, as `transformers` names it."""

    architecture: str
    """The class name written into config.json's `architectures` (what AutoModel loads)."""
    build: Callable[[Any, int], nn.Module]
    """(family config, number of outputs) -> the model, its new layers initialised."""
    new_prefixes: tuple[str, ...]
    """Key prefixes of the weights this head adds; a base checkpoint may lack them."""
    tied: Mapping[str, str] = field(default_factory=dict)
    """Weights that are the same tensor as another (key -> source key): not saved twice."""


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    config_from_dict: Callable[[dict[str, Any]], Any]
    """config.json -> the family's config dataclass; raises UserError when it cannot work."""
    heads: Mapping[str, Head]
    backbone_prefix: str
    """Where the backbone sits in a head model ("bert."): a bare encoder's keys get it added."""
    dropout_keys: tuple[str, ...] = ()
    """config.json keys with dropout rates, replaced by the run's `dropout` for training."""
    optional_prefixes: tuple[str, ...] = ()
    """Backbone weights a checkpoint may lack (BERT's pooler); initialised fresh."""
    ignored_suffixes: tuple[str, ...] = ("position_ids",)
    """Buffers some checkpoints carry that the model recomputes."""
    uses_token_type_ids: bool = True
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    """Tokenizer conventions: names "pad", "mask", "unk" -> the token's text."""
    expected_shapes: Callable[[Any], Mapping[str, tuple[int, ...] | None]] | None = None
    """Optional: (family config) -> the shapes of a few key backbone weights, keys without
    `backbone_prefix` (None: a key that must be absent, such as a layer past the config's
    count). `engine/models/checks.py` compares them with the weight headers (no weights
    read), so a config.json that disagrees with its weights fails before any work."""
    # Parameter-efficient fine-tuning (engine/peft/) reads these four; nothing else names them.
    layers_prefix: str = ""
    """Where the transformer layers sit in a head model ("bert.encoder.layer."): layer i's
    weights start with f"{layers_prefix}{i}.", and the prefix minus its dot names the
    nn.ModuleList. Freezing the bottom N layers, LoRA's reach and gradient checkpointing
    need it; "" means the family does not support them."""
    layer_stacks: tuple[str, ...] = ()
    """Encoder-decoders: one `layers_prefix` per stack, used instead of it (T5's
    "encoder.block.", "decoder.block."; the prefixes of every head may be listed: those a
    head model lacks are skipped). The bottom N layers are then each stack's bottom N."""
    embedding_prefixes: tuple[str, ...] = ()
    """Key prefixes of the input embeddings ("bert.embeddings."): --freeze-embeddings."""
    lora_targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """LoRA presets -> nn.Linear name suffixes inside a layer: "default" (attention query and
    value, as in the LoRA paper), "attention" (every attention projection) and "all"
    (attention and MLP projections)."""

    def head(self, kind: str) -> Head:
        from workbench.errors import UserError

        if kind not in self.heads:
            raise UserError(
                f"{self.name} models have no {kind} head; this family supports: "
                + ", ".join(self.heads)
            )
        return self.heads[kind]

    def all_head_prefixes(self) -> tuple[str, ...]:
        prefixes: list[str] = []
        for head in self.heads.values():
            prefixes.extend(head.new_prefixes)
        return tuple(dict.fromkeys(prefixes))
