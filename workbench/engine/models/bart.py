"""BART in plain PyTorch, read top to bottom, and its Family entry.

Attribute names equal the keys of Hugging Face `BartModel` / `BartForConditionalGeneration` /
`BartForSequenceClassification` checkpoints. An encoder-decoder: a bidirectional encoder
over the source, a causal decoder that also attends to the encoder's states
(cross-attention). What is particular: learned positions stored 2 rows further down
(fairseq's offset), post-LayerNorm layers (`x = norm(x + sublayer(x))`), a LayerNorm right
after the embeddings (`layernorm_embedding`), embeddings optionally scaled by sqrt(d_model)
(`scale_embedding`), one token embedding (`shared`) for the encoder, the decoder and the LM
head, and a fixed `final_logits_bias` added to the LM logits.

The conditional-generation head follows the encoder-decoder contract in family.py
(`encode`, `decoder_input_ids`, `encoder_hidden`, `cache` with `cache.cross`). Shapes: B
batch, S source tokens, T decoder tokens (new ones; P = cached + new), H d_model, nh heads,
hs head size, V vocabulary, L labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch
from torch import nn

from workbench.engine.models.dropout import Dropout, dropout
from workbench.engine.models.family import SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION, Family, Head
from workbench.engine.models.layers import activation, attention, init_new, split_heads
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.generation.cache import KVCache

POSITION_OFFSET = 2  # fairseq kept rows 0 and 1 of the position table for padding


@dataclass(frozen=True)
class BartConfig:
    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    d_model: int = 1024
    encoder_layers: int = 12
    decoder_layers: int = 12
    encoder_attention_heads: int = 16
    decoder_attention_heads: int = 16
    encoder_ffn_dim: int = 4096
    decoder_ffn_dim: int = 4096
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    classifier_dropout: float = 0.0
    init_std: float = 0.02
    scale_embedding: bool = False
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2
    tie_word_embeddings: bool = True

    @property
    def initializer_range(self) -> float:
        """What loading.py reads to initialise fresh weights (BART calls it init_std)."""
        return self.init_std

    @classmethod
    def from_dict(cls, values: dict) -> BartConfig:
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known and v is not None}
        if isinstance(kept.get("eos_token_id"), list):  # some configs list several
            kept["eos_token_id"] = kept["eos_token_id"][0] if kept["eos_token_id"] else 2
        if "decoder_start_token_id" not in kept and "eos_token_id" in kept:
            kept["decoder_start_token_id"] = kept["eos_token_id"]  # BART starts with </s>
        config = cls(**kept)
        for heads in ("encoder_attention_heads", "decoder_attention_heads"):
            if config.d_model % getattr(config, heads):
                raise UserError(f"d_model must be a multiple of {heads} in config.json")
        activation(config.activation_function, "activation_function")
        # Older configs spell out the layout; mBART's (pre-norm, final norms) is not BART's.
        if values.get("normalize_before") or values.get("add_final_layer_norm"):
            raise UserError(
                "this BART config asks for pre-LayerNorm layers (normalize_before / "
                "add_final_layer_norm, as mBART), which the bart family does not support"
            )
        if values.get("normalize_embedding") is False:
            raise UserError(
                "BART without layernorm_embedding (normalize_embedding: false) is not supported"
            )
        if not config.tie_word_embeddings:
            raise UserError(
                "this checkpoint's LM head is not tied to its token embeddings "
                "(tie_word_embeddings: false), which is not supported yet"
            )
        return config


def shift_tokens_right(ids: torch.Tensor, pad_token_id: int, start_token_id: int) -> torch.Tensor:
    """Decoder inputs from targets (B, T): start token, then the targets but the last, -100
    as padding (what transformers' shift_tokens_right does)."""
    shifted = ids.new_empty(ids.shape)
    shifted[:, 1:] = ids[:, :-1]
    shifted[:, 0] = start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


class BartAttention(nn.Module):
    """Multi-head attention; `cross` layers take keys and values from the encoder."""

    def __init__(self, d_model: int, num_heads: int, p: float, layer_idx: int, cross: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.layer_idx = layer_idx
        self.cross = cross
        self.dropout_p = p
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.q_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        source: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """x (B, T, H) -> (B, T, H). Self-attention appends to `cache`; cross-attention
        projects `source` (B, S, H) once and keeps it in `cache.cross`."""
        q = split_heads(self.q_proj(x), self.num_heads)  # (B, nh, T, hs)
        if self.cross:
            kept = cache.cross.get(self.layer_idx) if cache is not None else None
            if kept is None:
                kept = (
                    split_heads(self.k_proj(source), self.num_heads),  # (B, nh, S, hs)
                    split_heads(self.v_proj(source), self.num_heads),
                )
                if cache is not None:
                    cache.cross[self.layer_idx] = kept
            k, v = kept
        else:
            k = split_heads(self.k_proj(x), self.num_heads)  # (B, nh, T, hs)
            v = split_heads(self.v_proj(x), self.num_heads)
            if cache is not None:
                k, v = cache.update(self.layer_idx, k, v)  # (B, nh, P, hs)
        y = attention(q, k, v, mask, self.dropout_p, self.training)  # (B, T, H)
        return self.out_proj(y)


class BartEncoderLayer(nn.Module):
    """Post-norm: x = norm(x + attn(x)), then x = norm(x + mlp(x))."""

    def __init__(self, c: BartConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = BartAttention(
            c.d_model, c.encoder_attention_heads, c.attention_dropout, layer_idx, cross=False
        )
        self.self_attn_layer_norm = nn.LayerNorm(c.d_model)
        self.fc1 = nn.Linear(c.d_model, c.encoder_ffn_dim)
        self.fc2 = nn.Linear(c.encoder_ffn_dim, c.d_model)
        self.final_layer_norm = nn.LayerNorm(c.d_model)
        self.act = activation(c.activation_function, "activation_function")
        self.dropout = Dropout(c.dropout)
        self.activation_dropout_p = c.activation_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, mask)))
        h = dropout(self.act(self.fc1(x)), self.activation_dropout_p, self.training)
        return self.final_layer_norm(x + self.dropout(self.fc2(h)))


class BartDecoderLayer(nn.Module):
    """Post-norm: causal self-attention, cross-attention over the encoder, then the MLP."""

    def __init__(self, c: BartConfig, layer_idx: int) -> None:
        super().__init__()
        heads, p = c.decoder_attention_heads, c.attention_dropout
        self.self_attn = BartAttention(c.d_model, heads, p, layer_idx, cross=False)
        self.self_attn_layer_norm = nn.LayerNorm(c.d_model)
        self.encoder_attn = BartAttention(c.d_model, heads, p, layer_idx, cross=True)
        self.encoder_attn_layer_norm = nn.LayerNorm(c.d_model)
        self.fc1 = nn.Linear(c.d_model, c.decoder_ffn_dim)
        self.fc2 = nn.Linear(c.decoder_ffn_dim, c.d_model)
        self.final_layer_norm = nn.LayerNorm(c.d_model)
        self.act = activation(c.activation_function, "activation_function")
        self.dropout = Dropout(c.dropout)
        self.activation_dropout_p = c.activation_dropout

    def forward(
        self,
        x: torch.Tensor,
        self_mask: torch.Tensor | None,
        source: torch.Tensor,
        source_mask: torch.Tensor | None,
        cache: KVCache | None,
    ) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, self_mask, cache=cache)))
        crossed = self.encoder_attn(x, source_mask, source, cache)
        x = self.encoder_attn_layer_norm(x + self.dropout(crossed))
        h = dropout(self.act(self.fc1(x)), self.activation_dropout_p, self.training)
        return self.final_layer_norm(x + self.dropout(self.fc2(h)))


class BartLearnedPositionalEmbedding(nn.Embedding):
    """Position t is row t + 2 (the table has max_position_embeddings + 2 rows)."""

    def __init__(self, positions: int, d_model: int) -> None:
        super().__init__(positions + POSITION_OFFSET, d_model)
        self.positions = positions

    def forward(self, past: int, T: int) -> torch.Tensor:  # type: ignore[override]
        if past + T > self.positions:
            raise UserError(
                f"{past + T} tokens are more than the model's {self.positions} positions"
            )
        steps = torch.arange(past, past + T, device=self.weight.device) + POSITION_OFFSET
        return super().forward(steps)[None]  # (1, T, H)


class BartEncoder(nn.Module):
    def __init__(self, c: BartConfig, shared: nn.Embedding) -> None:
        super().__init__()
        self.embed_tokens = shared  # the same module (and weight) as the model's `shared`
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_positions = BartLearnedPositionalEmbedding(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList(BartEncoderLayer(c, i) for i in range(c.encoder_layers))
        self.layernorm_embedding = nn.LayerNorm(c.d_model)
        self.dropout = Dropout(c.dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, S) -> (B, S, H). Positions are 0.. S-1 whatever the padding (as transformers)."""
        B, S = input_ids.shape
        x = self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(0, S)
        x = self.dropout(self.layernorm_embedding(x))  # (B, S, H)
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return x


def causal_mask(
    decoder_attention_mask: torch.Tensor | None, past: int, T: int, device: torch.device
) -> torch.Tensor:
    """Boolean (B or 1, 1, T, P), True = attend: earlier or same decoder tokens, real ones only
    (the mask covers cached + new tokens). A query always attends to itself, so a padding row
    never has an all-masked softmax (NaN)."""
    P = past + T
    query = torch.arange(past, P, device=device)[:, None]  # (T, 1)
    key = torch.arange(P, device=device)[None, :]  # (1, P)
    allowed = (key <= query)[None]  # (1, T, P)
    if decoder_attention_mask is not None:
        allowed = allowed & decoder_attention_mask.bool()[:, None, -P:]  # (B, T, P)
        allowed = allowed | (key == query)[None]
    return allowed[:, None]  # (B, 1, T, P)


class BartDecoder(nn.Module):
    def __init__(self, c: BartConfig, shared: nn.Embedding) -> None:
        super().__init__()
        self.embed_tokens = shared
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_positions = BartLearnedPositionalEmbedding(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList(BartDecoderLayer(c, i) for i in range(c.decoder_layers))
        self.layernorm_embedding = nn.LayerNorm(c.d_model)
        self.dropout = Dropout(c.dropout)

    def forward(
        self,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor | None,
        encoder_hidden: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: KVCache | None,
    ) -> torch.Tensor:
        """(B, T) decoder tokens after the cached ones -> (B, T, H)."""
        B, T = decoder_input_ids.shape
        past = cache.length if cache is not None else 0
        x = self.embed_tokens(decoder_input_ids) * self.embed_scale + self.embed_positions(past, T)
        x = self.dropout(self.layernorm_embedding(x))  # (B, T, H)
        self_mask = causal_mask(decoder_attention_mask, past, T, x.device)
        source_mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, self_mask, encoder_hidden, source_mask, cache)
        return x


class BartModel(nn.Module):
    def __init__(self, c: BartConfig) -> None:
        super().__init__()
        self.shared = nn.Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_token_id)
        self.encoder = BartEncoder(c, self.shared)
        self.decoder = BartDecoder(c, self.shared)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_hidden: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """The decoder's last hidden states (B, T, H); the encoder runs unless its output is
        given."""
        if encoder_hidden is None:
            if input_ids is None:
                raise ValueError("give input_ids or encoder_hidden")
            encoder_hidden = self.encoder(input_ids, attention_mask)  # (B, S, H)
        return self.decoder(
            decoder_input_ids, decoder_attention_mask, encoder_hidden, attention_mask, cache
        )


class BartForConditionalGeneration(nn.Module):
    """Next-token logits of the decoder (B, T, V): the shared embeddings + final_logits_bias."""

    def __init__(self, c: BartConfig, num_outputs: int = 0) -> None:
        super().__init__()
        self.decoder_start_token_id = c.decoder_start_token_id
        self.eos_token_id = c.eos_token_id
        self.pad_token_id = c.pad_token_id
        self.model = BartModel(c)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.model.shared.weight  # tied: one Parameter
        self.register_buffer("final_logits_bias", torch.zeros(1, c.vocab_size))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return self.model.encoder(input_ids, attention_mask)  # (B, S, H)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        *,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_hidden: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        hidden = self.model(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_hidden,
            cache,
        )  # (B, T, H)
        return self.lm_head(hidden) + self.final_logits_bias  # (B, T, V)


class BartClassificationHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, c: BartConfig, num_labels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(c.d_model, c.d_model)
        self.dropout = Dropout(c.classifier_dropout)
        self.out_proj = nn.Linear(c.d_model, num_labels)
        init_new(self, std=c.init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.tanh(self.dense(self.dropout(x))))
        return self.out_proj(x)  # (B, L)


class BartForSequenceClassification(nn.Module):
    """The decoder reads the input shifted right (start token first); the hidden state at
    each row's last </s> is classified, as transformers does (it asks every row to hold the
    same number of </s>; here any number works, the last one is used)."""

    def __init__(self, c: BartConfig, num_labels: int) -> None:
        super().__init__()
        self.decoder_start_token_id = c.decoder_start_token_id
        self.eos_token_id = c.eos_token_id
        self.pad_token_id = c.pad_token_id
        self.model = BartModel(c)
        self.classification_head = BartClassificationHead(c, num_labels)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, T = input_ids.shape
        decoder_input_ids = shift_tokens_right(
            input_ids, self.pad_token_id, self.decoder_start_token_id
        )  # (B, T)
        hidden = self.model(input_ids, attention_mask, decoder_input_ids)  # (B, T, H)
        eos = input_ids.eq(self.eos_token_id)
        if attention_mask is not None:
            eos = eos & attention_mask.bool()
        if not bool(eos.any(dim=1).all()):
            raise UserError(
                "a BART classification input has no </s> token; encode texts with the "
                "model's own tokenizer (<s> text </s>)"
            )
        last = (torch.arange(T, device=input_ids.device) * eos).argmax(-1)  # (B,)
        pooled = hidden[torch.arange(B, device=hidden.device), last]  # (B, H)
        return self.classification_head(pooled)  # (B, L)


def expected_shapes(c: BartConfig) -> dict[str, tuple[int, ...] | None]:
    """A few backbone shapes the weight headers must show (keys without "model.")."""
    d = c.d_model
    shapes: dict[str, tuple[int, ...] | None] = {
        "shared.weight": (c.vocab_size, d),
        "encoder.embed_positions.weight": (c.max_position_embeddings + POSITION_OFFSET, d),
        "decoder.embed_positions.weight": (c.max_position_embeddings + POSITION_OFFSET, d),
    }
    for side, count, ffn in (
        ("encoder", c.encoder_layers, c.encoder_ffn_dim),
        ("decoder", c.decoder_layers, c.decoder_ffn_dim),
    ):
        if count:
            shapes[f"{side}.layers.{count - 1}.fc1.weight"] = (ffn, d)
        shapes[f"{side}.layers.{count}.fc1.weight"] = None
    return shapes


_TIED_EMBEDDINGS = {
    "model.encoder.embed_tokens.weight": "model.shared.weight",
    "model.decoder.embed_tokens.weight": "model.shared.weight",
}

# LoRA presets (engine/peft/): suffixes inside a layer, matching the decoder's
# cross-attention (encoder_attn) as well as self-attention, as `peft`'s BART default does.
BART_LORA_TARGETS = {
    "default": ("q_proj", "v_proj"),
    "attention": ("q_proj", "k_proj", "v_proj", "out_proj"),
    "all": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
}

FAMILY = Family(
    name="bart",
    model_types=("bart",),
    config_from_dict=BartConfig.from_dict,
    heads={
        SEQ2SEQ_LM: Head(
            "BartForConditionalGeneration",
            BartForConditionalGeneration,
            ("lm_head.", "final_logits_bias"),
            {**_TIED_EMBEDDINGS, "lm_head.weight": "model.shared.weight"},
        ),
        SEQUENCE_CLASSIFICATION: Head(
            "BartForSequenceClassification",
            BartForSequenceClassification,
            ("classification_head.",),
            _TIED_EMBEDDINGS,
        ),
    },
    backbone_prefix="model.",
    dropout_keys=("dropout", "attention_dropout", "classifier_dropout"),
    # fairseq checkpoints carry a version buffer per stack.
    ignored_suffixes=("position_ids", "encoder.version", "decoder.version"),
    uses_token_type_ids=False,
    special_tokens={
        "pad": "<pad>",
        "mask": "<mask>",
        "unk": "<unk>",
        "bos": "<s>",
        "eos": "</s>",
    },
    expected_shapes=expected_shapes,
    # Two stacks: --freeze-layers N freezes the encoder's bottom N layers and the decoder's
    # bottom N; LoRA and gradient checkpointing reach the layers of both.
    layer_stacks=("model.encoder.layers.", "model.decoder.layers."),
    # --freeze-embeddings: the tokens, the positions and the LayerNorm right after them
    # (what BERT's `embeddings.LayerNorm` is), so every layer's input stays as pretrained.
    embedding_prefixes=(
        "model.shared.",
        "model.encoder.embed_positions.",
        "model.decoder.embed_positions.",
        "model.encoder.layernorm_embedding.",
        "model.decoder.layernorm_embedding.",
    ),
    lora_targets=BART_LORA_TARGETS,
)
