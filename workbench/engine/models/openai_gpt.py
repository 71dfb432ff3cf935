"""GPT-1 (OpenAI GPT) in plain PyTorch, and its Family entry.

Attribute names equal the keys of Hugging Face `OpenAIGPTModel` / `OpenAIGPTLMHeadModel` /
`OpenAIGPTForSequenceClassification` checkpoints. GPT-1 is GPT-2's predecessor and shares
its attention (Conv1D weights stored (in, out), learned positions, tied LM head), so that
part is reused from gpt2.py. What differs:

- post-LayerNorm blocks: h = ln_1(x + attn(x)), then ln_2(h + mlp(h)); no final layer norm;
- embeddings named `tokens_embed` / `positions_embed`;
- the activation key is `afn`, and its "gelu" is the tanh approximation (transformers'
  `gelu_new`), as the original code had it;
- a lowercasing BPE tokenizer with a `</w>` end-of-word suffix (tokenizer.py builds it from
  vocab.json + merges.txt, or reads the tokenizer.json transformers writes).

Decoder heads follow the contract in family.py (`position_ids`, `cache`, `document_ids`).
Shapes: B batch, T new tokens, H hidden, V vocabulary, L labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from workbench.engine.models.dropout import Dropout
from workbench.engine.models.family import CAUSAL_LM, SEQUENCE_CLASSIFICATION, Family, Head
from workbench.engine.models.gpt2 import (
    GPT2_LORA_TARGETS,
    Conv1D,
    GPT2Attention,
    GPT2ForSequenceClassification,
    GPT2LMHeadModel,
    decoder_mask,
    positions_of,
)
from workbench.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    from workbench.engine.generation.cache import KVCache

# `afn` values as transformers' modeling_openai.ACT_FNS reads them ("gelu" is tanh-GELU).
AFN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


@dataclass(frozen=True)
class OpenAIGPTConfig:
    vocab_size: int = 40478
    n_positions: int = 512
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    afn: str = "gelu"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    tie_word_embeddings: bool = True

    # What GPT2Attention reads: GPT-1 always scales by 1/sqrt(head size).
    scale_attn_weights = True
    scale_attn_by_inverse_layer_idx = False

    @classmethod
    def from_dict(cls, values: dict) -> OpenAIGPTConfig:
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known and v is not None}
        if isinstance(kept.get("eos_token_id"), list):
            kept["eos_token_id"] = kept["eos_token_id"][0] if kept["eos_token_id"] else None
        config = cls(**kept)
        if config.n_embd % config.n_head:
            raise UserError("n_embd must be a multiple of n_head in config.json")
        if config.afn not in AFN:
            raise UserError(
                f"unsupported afn {config.afn!r} in config.json; supported: {', '.join(AFN)}"
            )
        if not config.tie_word_embeddings:
            raise UserError(
                "this checkpoint's LM head is not tied to its token embeddings "
                "(tie_word_embeddings: false), which is not supported"
            )
        return config


class MLP(nn.Module):
    def __init__(self, c: OpenAIGPTConfig) -> None:
        super().__init__()
        self.c_fc = Conv1D(4 * c.n_embd, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, 4 * c.n_embd)
        self.act = AFN[c.afn]
        self.dropout = Dropout(c.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class Block(nn.Module):
    """Post-norm: h = ln_1(x + attn(x)), then ln_2(h + mlp(h))."""

    def __init__(self, c: OpenAIGPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.attn = GPT2Attention(c, layer_idx)  # c_attn, c_proj: the same keys as GPT-2
        self.ln_1 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.mlp = MLP(c)
        self.ln_2 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None, past: int
    ) -> torch.Tensor:
        h = self.ln_1(x + self.attn(x, mask, cache, past))  # (B, T, H)
        return self.ln_2(h + self.mlp(h))


class OpenAIGPTModel(nn.Module):
    def __init__(self, c: OpenAIGPTConfig) -> None:
        super().__init__()
        self.config = c
        self.tokens_embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.positions_embed = nn.Embedding(c.n_positions, c.n_embd)
        self.drop = Dropout(c.embd_pdrop)
        self.h = nn.ModuleList(Block(c, i) for i in range(c.n_layer))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        document_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, T, H) of the last block (GPT-1 has no final layer norm).
        Token type ids are not taken (transformers would add tokens_embed(type) to each token;
        GPT-1's checkpoints were not trained with them)."""
        B, T = input_ids.shape
        past = cache.length if cache is not None else 0
        if document_ids is not None and past:
            raise ValueError("document_ids (packed batches) cannot be combined with a filled cache")
        if past + T > self.config.n_positions:
            raise UserError(
                f"{past + T} tokens are more than the model's {self.config.n_positions} positions"
            )
        if position_ids is None:
            position_ids = positions_of(input_ids, past, document_ids)
        mask = decoder_mask(attention_mask, document_ids, past, T, input_ids.device)
        x = self.drop(self.tokens_embed(input_ids) + self.positions_embed(position_ids))
        for block in self.h:
            x = block(x, mask, cache, past)  # (B, T, H)
        return x


class OpenAIGPTLMHeadModel(GPT2LMHeadModel):
    """Next-token logits (B, T, V); lm_head is the token embeddings (GPT-2's head)."""

    Backbone = OpenAIGPTModel
    embeddings_name = "tokens_embed"


class OpenAIGPTForSequenceClassification(GPT2ForSequenceClassification):
    """Logits of the last real token of each row (B, L), as transformers pools them."""

    Backbone = OpenAIGPTModel


FAMILY = Family(
    name="openai-gpt",
    model_types=("openai-gpt",),
    config_from_dict=OpenAIGPTConfig.from_dict,
    heads={
        CAUSAL_LM: Head(
            "OpenAIGPTLMHeadModel",
            OpenAIGPTLMHeadModel,
            ("lm_head.",),
            {"lm_head.weight": "transformer.tokens_embed.weight"},
        ),
        SEQUENCE_CLASSIFICATION: Head(
            "OpenAIGPTForSequenceClassification", OpenAIGPTForSequenceClassification, ("score.",)
        ),
    },
    backbone_prefix="transformer.",
    dropout_keys=("resid_pdrop", "embd_pdrop", "attn_pdrop"),
    # The causal-mask buffer (h.N.attn.bias) older checkpoints carry; the model recomputes it.
    ignored_suffixes=("position_ids", ".attn.bias"),
    uses_token_type_ids=False,
    layers_prefix="transformer.h.",
    lora_targets=GPT2_LORA_TARGETS,  # the same Conv1D projections and names as GPT-2's
    embedding_prefixes=("transformer.tokens_embed.", "transformer.positions_embed."),
    special_tokens={"unk": "<unk>"},
)
