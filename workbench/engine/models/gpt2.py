"""GPT-2 in plain PyTorch, read top to bottom, and its Family entry.

Attribute names equal the keys of Hugging Face `GPT2Model` / `GPT2LMHeadModel` /
`GPT2ForSequenceClassification` checkpoints. GPT-2's linear layers are `Conv1D`s whose
weights are stored transposed, (in, out): `Conv1D` below keeps that layout, so loading and
exporting stay plain state-dict copies. The LM head is the token embeddings (tied).

Decoder heads follow the contract in family.py: `position_ids`, `cache` (KVCache) and
`document_ids` (packed batches: block-diagonal causal attention, positions per document).
Shapes: B batch, T new tokens, S cached + new tokens, H hidden, nh heads, hs head size,
V vocabulary, L labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch
from torch import nn

from workbench.engine.models.dropout import Dropout, dropout
from workbench.engine.models.family import CAUSAL_LM, SEQUENCE_CLASSIFICATION, Family, Head
from workbench.engine.models.layers import (
    activation,
    init_new,
    last_real_token,
    sdpa,
    split_heads,
)
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.generation.cache import KVCache


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    summary_first_dropout: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    bos_token_id: int | None = 50256
    eos_token_id: int | None = 50256
    pad_token_id: int | None = None
    tie_word_embeddings: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> GPT2Config:
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known and v is not None}
        if isinstance(kept.get("eos_token_id"), list):  # some configs list several
            kept["eos_token_id"] = kept["eos_token_id"][0] if kept["eos_token_id"] else None
        config = cls(**kept)
        if config.n_embd % config.n_head:
            raise UserError("n_embd must be a multiple of n_head in config.json")
        activation(config.activation_function, "activation_function")
        if values.get("add_cross_attention"):
            raise UserError("GPT-2 with cross-attention (add_cross_attention) is not supported")
        if not config.tie_word_embeddings:
            raise UserError(
                "this checkpoint's LM head is not tied to its token embeddings "
                "(tie_word_embeddings: false), which is not supported yet"
            )
        return config


class Conv1D(nn.Module):
    """A linear layer with its weight stored (in, out), as GPT-2 checkpoints store it."""

    fan_in_fan_out = True  # LoRA (engine/peft/lora.py) reads the weight transposed

    def __init__(self, n_out: int, n_in: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(
            *x.shape[:-1], self.weight.shape[1]
        )


def decoder_mask(
    attention_mask: torch.Tensor | None,
    document_ids: torch.Tensor | None,
    past: int,
    T: int,
    device: torch.device,
) -> torch.Tensor | None:
    """Boolean (B or 1, 1, T, S) mask, True = attend: causal, over real keys, within a document.

    Each query may always attend to itself, so a padding query (left padding) never has an
    all-masked row, whose softmax would be NaN and would leak into every later layer.
    None when plain causal attention with nothing to mask is enough (SDPA's is_causal).
    """
    if attention_mask is None and document_ids is None and (past == 0 or T == 1):
        return None
    S = past + T
    query_pos = torch.arange(past, S, device=device)[:, None]  # (T, 1)
    key_pos = torch.arange(S, device=device)[None, :]  # (1, S)
    allowed = (key_pos <= query_pos)[None]  # (1, T, S)
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, :]  # (B, T, S)
    if document_ids is not None:
        allowed = allowed & (document_ids[:, :, None] == document_ids[:, None, :])  # (B, T, T)
    allowed = allowed | (key_pos == query_pos)[None]  # itself
    return allowed[:, None]  # (B, 1, T, S)


def positions_of(
    input_ids: torch.Tensor, past: int, document_ids: torch.Tensor | None
) -> torch.Tensor:
    """Default positions: past.. past+T-1 (transformers' plain forward), or counted from 0 in
    each document of a packed row."""
    B, T = input_ids.shape
    steps = torch.arange(T, device=input_ids.device)[None]  # (1, T)
    if document_ids is None:
        return steps + past
    starts = torch.ones_like(document_ids, dtype=torch.bool)
    starts[:, 1:] = document_ids[:, 1:] != document_ids[:, :-1]  # (B, T) first token of a doc
    start_index = torch.cummax(torch.where(starts, steps, 0), dim=1).values  # (B, T)
    return steps - start_index


class GPT2Attention(nn.Module):
    def __init__(self, c: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.num_heads = c.n_head
        self.layer_idx = layer_idx
        self.c_attn = Conv1D(3 * c.n_embd, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, c.n_embd)
        self.dropout_p = c.attn_pdrop
        self.resid_dropout = Dropout(c.resid_pdrop)
        head_size = c.n_embd // c.n_head
        self.scale = head_size**-0.5 if c.scale_attn_weights else 1.0
        if c.scale_attn_by_inverse_layer_idx:
            self.scale /= float(layer_idx + 1)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None, past: int
    ) -> torch.Tensor:
        B, T, H = x.shape
        q, k, v = self.c_attn(x).split(H, dim=2)  # 3 x (B, T, H)
        q, k, v = (split_heads(t, self.num_heads) for t in (q, k, v))  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)  # (B, nh, S, hs)
        is_causal = mask is None and past == 0 and T > 1
        p = self.dropout_p if self.training else 0.0
        if p > 0 and q.device.type == "cpu":
            # Written out so the attention dropout uses the cheap CPU mask (layers.attention).
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, nh, T, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            elif is_causal:
                scores = scores.masked_fill(
                    torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf")
                )
            y = dropout(scores.softmax(dim=-1), p, True) @ v
        else:
            y = sdpa(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal, scale=self.scale
            )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, H)
        return self.resid_dropout(self.c_proj(y))


class GPT2MLP(nn.Module):
    def __init__(self, c: GPT2Config) -> None:
        super().__init__()
        inner = c.n_inner or 4 * c.n_embd
        self.c_fc = Conv1D(inner, c.n_embd)
        self.c_proj = Conv1D(c.n_embd, inner)
        self.act = activation(c.activation_function, "activation_function")
        self.dropout = Dropout(c.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    """Pre-norm: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, c: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.attn = GPT2Attention(c, layer_idx)
        self.ln_2 = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)
        self.mlp = GPT2MLP(c)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, cache: KVCache | None, past: int
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, cache, past)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, c: GPT2Config) -> None:
        super().__init__()
        self.config = c
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.n_positions, c.n_embd)
        self.drop = Dropout(c.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(c, i) for i in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, eps=c.layer_norm_epsilon)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        document_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, T, H) after ln_f. Token type ids are not taken: GPT-2 checkpoints
        were not trained with them (transformers would add wte(type) to every token)."""
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
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))  # (B, T, H)
        for block in self.h:
            x = block(x, mask, cache, past)
        return self.ln_f(x)  # (B, T, H)


class GPT2LMHeadModel(nn.Module):
    """Next-token logits (B, T, V); lm_head is the token embeddings. GPT-1's head is this
    one over its own backbone (`Backbone`, whose token embeddings are `embeddings_name`)."""

    Backbone: type[nn.Module] = GPT2Model
    embeddings_name = "wte"

    def __init__(self, c: GPT2Config, num_outputs: int = 0) -> None:
        super().__init__()
        self.transformer = self.Backbone(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        tokens = getattr(self.transformer, self.embeddings_name)
        self.lm_head.weight = tokens.weight  # tied: one Parameter

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        *,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        document_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.transformer(input_ids, attention_mask, position_ids, cache, document_ids)
        return self.lm_head(hidden)  # (B, T, V)


class GPT2ForSequenceClassification(nn.Module):
    """Logits of the last real token of each row (B, L), as transformers pools them."""

    Backbone: type[nn.Module] = GPT2Model

    def __init__(self, c: GPT2Config, num_labels: int) -> None:
        super().__init__()
        self.pad_token_id = c.pad_token_id
        self.transformer = self.Backbone(c)
        self.score = nn.Linear(c.n_embd, num_labels, bias=False)
        init_new(self.score, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        *,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        document_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.transformer(input_ids, attention_mask, position_ids, cache, document_ids)
        logits = self.score(hidden)  # (B, T, L)
        return last_real_token(logits, input_ids, attention_mask, self.pad_token_id)  # (B, L)


# peft's default for GPT-2 is the fused q/k/v projection; "attention" adds its output.
GPT2_LORA_TARGETS = {
    "default": ("attn.c_attn",),
    "attention": ("attn.c_attn", "attn.c_proj"),
    "all": ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"),
}

FAMILY = Family(
    name="gpt2",
    model_types=("gpt2",),
    config_from_dict=GPT2Config.from_dict,
    heads={
        CAUSAL_LM: Head(
            "GPT2LMHeadModel",
            GPT2LMHeadModel,
            ("lm_head.",),
            {"lm_head.weight": "transformer.wte.weight"},
        ),
        SEQUENCE_CLASSIFICATION: Head(
            "GPT2ForSequenceClassification", GPT2ForSequenceClassification, ("score.",)
        ),
    },
    backbone_prefix="transformer.",
    dropout_keys=("resid_pdrop", "embd_pdrop", "attn_pdrop"),
    # Causal-mask buffers older checkpoints carry (h.N.attn.bias / masked_bias).
    ignored_suffixes=("position_ids", ".attn.bias", ".attn.masked_bias"),
    uses_token_type_ids=False,
    layers_prefix="transformer.h.",
    lora_targets=GPT2_LORA_TARGETS,
    embedding_prefixes=("transformer.wte.", "transformer.wpe."),
    special_tokens={"eos": "<|endoftext|>", "bos": "<|endoftext|>", "unk": "<|endoftext|>"},
)
