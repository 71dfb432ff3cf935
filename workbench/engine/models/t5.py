"""T5 (v1.0 with a ReLU feed-forward, v1.1 / Flan-T5 with gated GELU) in plain PyTorch.

Attribute names equal the keys of Hugging Face `T5ForConditionalGeneration` (`shared`,
`encoder.block.N.layer.0.SelfAttention.q`, `lm_head`, …) and `T5ForSequenceClassification`
(the same under `transformer.`, plus `classification_head.dense/out_proj`) checkpoints.
What is particular:

- no absolute positions: block 0 of each stack holds a `relative_attention_bias` table
  (bucket -> one bias per head) whose values are added to the attention scores of every
  layer of its stack; buckets are bidirectional in the encoder, causal in the decoder;
- the attention scores are not scaled by 1/sqrt(head size) (T5 folds that into its init);
- T5LayerNorm is an RMS norm without mean or bias, computed in float32;
- v1.0 ties the LM head to `shared` and scales the decoder output by d_model**-0.5 first;
  v1.1 has its own `lm_head` and no scaling. `transformers` 5 writes `tie_word_embeddings:
  true` for both and says which in `scale_decoder_outputs`.

Encoder-decoder contract (family.py): `encode(input_ids, attention_mask)`, and
`forward(..., decoder_input_ids, decoder_attention_mask, encoder_hidden, cache)` with the
decoder's self-attention in `cache` (layer i) and the cross-attention keys/values in
`cache.cross`. `decoder_attention_mask` covers the cached and the new decoder tokens.
Shapes: B batch, S encoder tokens, T new decoder tokens, P cached + new decoder tokens,
H d_model, nh heads, hd d_kv, V vocabulary, L labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from workbench.engine.models.dropout import Dropout, dropout
from workbench.engine.models.family import SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION, Family, Head
from workbench.engine.models.layers import activation, init_new, sdpa, split_heads
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.generation.cache import KVCache


@dataclass(frozen=True)
class T5Config:
    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int = 6
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    classifier_dropout: float = 0.0
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    dense_act_fn: str = "relu"
    is_gated_act: bool = False
    tie_word_embeddings: bool = True
    scale_decoder_outputs: bool = True
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0

    @property
    def initializer_range(self) -> float:
        """What weights a checkpoint lacks start from (loading.init_fresh): T5's init of its
        projections and classification head, factor * d_model**-0.5."""
        return self.initializer_factor * self.d_model**-0.5

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> T5Config:
        """Reads config.json as transformers does: `feed_forward_proj` ("relu", "gated-gelu",
        "gated-silu", …) gives the activation and whether the FFN is gated; the decoder
        starts from the pad token unless the config names another start token."""
        proj = str(values.get("feed_forward_proj", "relu"))
        parts = proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise UserError(
                f"feed_forward_proj {proj!r} in config.json is not 'ACT' or 'gated-ACT' "
                "(e.g. 'relu', 'gated-gelu')"
            )
        act = "gelu_new" if proj == "gated-gelu" else parts[-1]  # transformers' spelling
        activation(act, "feed_forward_proj")
        layers = int(values.get("num_layers", 6))
        decoder_layers = values.get("num_decoder_layers")
        decoder_layers = layers if decoder_layers is None else int(decoder_layers)
        if layers < 1 or decoder_layers < 1:
            raise UserError("num_layers and num_decoder_layers in config.json must be at least 1")
        pad = _token_id(values.get("pad_token_id"), 0)
        tied = values.get("tie_word_embeddings", True) is not False
        scale = values.get("scale_decoder_outputs")
        return cls(
            vocab_size=int(values.get("vocab_size", 32128)),
            d_model=int(values.get("d_model", 512)),
            d_kv=int(values.get("d_kv", 64)),
            d_ff=int(values.get("d_ff", 2048)),
            num_layers=layers,
            num_decoder_layers=decoder_layers,
            num_heads=int(values.get("num_heads", 8)),
            relative_attention_num_buckets=int(values.get("relative_attention_num_buckets", 32)),
            relative_attention_max_distance=int(values.get("relative_attention_max_distance", 128)),
            dropout_rate=float(values.get("dropout_rate", 0.1) or 0.0),
            classifier_dropout=float(values.get("classifier_dropout", 0.0) or 0.0),
            layer_norm_epsilon=float(values.get("layer_norm_epsilon", 1e-6)),
            initializer_factor=float(values.get("initializer_factor", 1.0)),
            dense_act_fn=act,
            is_gated_act=parts[0] == "gated" and len(parts) == 2,
            tie_word_embeddings=tied,
            # transformers 4 scaled exactly when the head was tied; 5 writes it down.
            scale_decoder_outputs=tied if scale is None else bool(scale),
            pad_token_id=pad,
            eos_token_id=_token_id(values.get("eos_token_id"), 1),
            decoder_start_token_id=_token_id(values.get("decoder_start_token_id"), pad),
        )


def _token_id(value: Any, default: int) -> int:
    if isinstance(value, list):  # some configs list several end tokens
        value = value[0] if value else None
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def shift_right(ids: torch.Tensor, pad_token_id: int, start_token_id: int) -> torch.Tensor:
    """Decoder inputs from targets (B, T): the start token, then the targets but the last,
    -100 (ignored label) read as pad (transformers' `_shift_right`)."""
    shifted = ids.new_empty(ids.shape)
    shifted[:, 1:] = ids[:, :-1]
    shifted[:, 0] = start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


def relative_position_bucket(
    relative_position: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int
) -> torch.Tensor:
    """Key position minus query position -> bucket (Mesh TensorFlow's, as transformers has
    it): half the buckets for exact small distances, the rest log-spaced up to
    `max_distance`; bidirectional splits them between keys before and after the query, a
    causal decoder only sees keys before it."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).to(torch.long) * num_buckets
        distance = relative_position.abs()
    else:
        distance = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    # log(0) is -inf here, but those distances are small and take the exact bucket.
    large = max_exact + (
        torch.log(distance.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, distance, large)


def _attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    dropout_p: float,
    training: bool,
) -> torch.Tensor:
    """softmax(q k^T + bias) v over (B, nh, T, hd) heads -> (B, T, nh * hd); no 1/sqrt(hd).

    `bias` is a float (B or 1, nh, T, P) position bias with masked keys at the float32
    minimum (self-attention), a boolean (B, 1, 1, S) key mask (cross-attention), or None."""
    B, nh, T, hd = q.shape
    if bias is not None and bias.dtype != torch.bool:
        bias = bias.to(q.dtype)  # SDPA takes a float mask only in the query's dtype
    if training and dropout_p > 0 and q.device.type == "cpu":
        # Written out so the attention dropout uses the cheap CPU mask (layers.attention).
        scores = q @ k.transpose(-2, -1)  # (B, nh, T, P)
        if bias is not None:
            scores = (
                scores.masked_fill(~bias, float("-inf"))
                if bias.dtype == torch.bool
                else scores + bias
            )
        y = dropout(scores.float().softmax(dim=-1).to(v.dtype), dropout_p, True) @ v
    else:
        y = sdpa(
            q, k, v, attn_mask=bias, dropout_p=dropout_p if training else 0.0, scale=1.0
        )  # (B, nh, T, hd)
    return y.transpose(1, 2).reshape(B, T, nh * hd)


def _clamp_fp16(x: torch.Tensor) -> torch.Tensor:
    """T5's activations outgrow fp16 in places; transformers clamps them to stay finite."""
    if x.dtype != torch.float16:
        return x
    limit = torch.finfo(torch.float16).max - 1000
    return x.clamp(min=-limit, max=limit)


# ---- the modules -------------------------------------------------------------------------
class T5LayerNorm(nn.Module):
    """RMS norm: no mean subtracted, no bias; the variance in float32."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


class T5Attention(nn.Module):
    """Multi-head attention without biases or score scaling; block 0's self-attention also
    owns the stack's relative position table. Cross-attention (`cross`) projects the
    encoder's states once and keeps them in `cache.cross`."""

    def __init__(
        self,
        c: T5Config,
        layer_idx: int,
        *,
        bidirectional: bool,
        has_relative_attention_bias: bool = False,
        cross: bool = False,
    ) -> None:
        super().__init__()
        self.layer_idx, self.cross, self.bidirectional = layer_idx, cross, bidirectional
        self.n_heads = c.num_heads
        self.num_buckets = c.relative_attention_num_buckets
        self.max_distance = c.relative_attention_max_distance
        self.dropout_p = c.dropout_rate
        inner = c.num_heads * c.d_kv
        self.q = nn.Linear(c.d_model, inner, bias=False)
        self.k = nn.Linear(c.d_model, inner, bias=False)
        self.v = nn.Linear(c.d_model, inner, bias=False)
        self.o = nn.Linear(inner, c.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, c.num_heads)

    def compute_bias(self, T: int, P: int, past: int, device: torch.device) -> torch.Tensor:
        """(1, nh, T, P) float32: the bias of each query (positions past.. past+T-1) for each
        key (0.. P-1)."""
        query = torch.arange(past, past + T, dtype=torch.long, device=device)[:, None]
        key = torch.arange(P, dtype=torch.long, device=device)[None, :]
        buckets = relative_position_bucket(
            key - query, self.bidirectional, self.num_buckets, self.max_distance
        )  # (T, P)
        values = self.relative_attention_bias(buckets)  # (T, P, nh)
        return values.permute(2, 0, 1)[None].float()  # (1, nh, T, P)

    def forward(
        self,
        x: torch.Tensor,
        bias: torch.Tensor | None,
        source: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        q = split_heads(self.q(x), self.n_heads)  # (B, nh, T, hd)
        if self.cross:
            kept = cache.cross.get(self.layer_idx) if cache is not None else None
            if kept is None:
                if source is None:
                    raise ValueError("cross-attention needs the encoder's states")
                kept = (
                    split_heads(self.k(source), self.n_heads),  # (B, nh, S, hd)
                    split_heads(self.v(source), self.n_heads),
                )
                if cache is not None:
                    cache.cross[self.layer_idx] = kept
            k, v = kept
        else:
            k = split_heads(self.k(x), self.n_heads)  # (B, nh, T, hd)
            v = split_heads(self.v(x), self.n_heads)
            if cache is not None:
                k, v = cache.update(self.layer_idx, k, v)  # (B, nh, P, hd)
        y = _attend(q, k, v, bias, self.dropout_p, self.training)  # (B, T, nh * hd)
        return self.o(y)


class T5LayerSelfAttention(nn.Module):
    def __init__(self, c: T5Config, layer_idx: int, is_decoder: bool) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(
            c, layer_idx, bidirectional=not is_decoder, has_relative_attention_bias=layer_idx == 0
        )
        self.layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = Dropout(c.dropout_rate)

    def forward(
        self, x: torch.Tensor, bias: torch.Tensor | None, cache: KVCache | None
    ) -> torch.Tensor:
        return x + self.dropout(self.SelfAttention(self.layer_norm(x), bias, cache=cache))


class T5LayerCrossAttention(nn.Module):
    def __init__(self, c: T5Config, layer_idx: int) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(c, layer_idx, bidirectional=True, cross=True)
        self.layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = Dropout(c.dropout_rate)

    def forward(
        self,
        x: torch.Tensor,
        source: torch.Tensor | None,
        source_mask: torch.Tensor | None,
        cache: KVCache | None,
    ) -> torch.Tensor:
        attended = self.EncDecAttention(self.layer_norm(x), source_mask, source, cache)
        return x + self.dropout(attended)


class T5DenseActDense(nn.Module):
    """v1.0: wo(act(wi(x)))."""

    def __init__(self, c: T5Config) -> None:
        super().__init__()
        self.wi = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)
        self.dropout = Dropout(c.dropout_rate)
        self.act = activation(c.dense_act_fn, "feed_forward_proj")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi(x))))


class T5DenseGatedActDense(nn.Module):
    """v1.1: wo(act(wi_0(x)) * wi_1(x))."""

    def __init__(self, c: T5Config) -> None:
        super().__init__()
        self.wi_0 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wi_1 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)
        self.dropout = Dropout(c.dropout_rate)
        self.act = activation(c.dense_act_fn, "feed_forward_proj")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi_0(x)) * self.wi_1(x)))


class T5LayerFF(nn.Module):
    def __init__(self, c: T5Config) -> None:
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(c) if c.is_gated_act else T5DenseActDense(c)
        self.layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = Dropout(c.dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.DenseReluDense(self.layer_norm(x)))


class T5Block(nn.Module):
    """Pre-norm: self-attention, (decoder) cross-attention, feed-forward; each a residual."""

    def __init__(self, c: T5Config, layer_idx: int, is_decoder: bool) -> None:
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(c, layer_idx, is_decoder)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(c, layer_idx))
        self.layer.append(T5LayerFF(c))

    def forward(
        self,
        x: torch.Tensor,
        bias: torch.Tensor | None,
        source: torch.Tensor | None = None,
        source_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        x = _clamp_fp16(self.layer[0](x, bias, cache))
        if self.is_decoder:
            x = _clamp_fp16(self.layer[1](x, source, source_mask, cache))
        return _clamp_fp16(self.layer[-1](x))


_MASKED = torch.finfo(torch.float32).min


class T5Stack(nn.Module):
    """The encoder (bidirectional) or the decoder (causal, with cross-attention): embeddings
    -> blocks -> final norm. Block 0's position bias, with the mask folded in, serves every
    block of the stack."""

    def __init__(self, c: T5Config, shared: nn.Embedding, is_decoder: bool) -> None:
        super().__init__()
        self.is_decoder = is_decoder
        self.embed_tokens = shared  # the same module (and weight) as the model's `shared`
        count = c.num_decoder_layers if is_decoder else c.num_layers
        self.block = nn.ModuleList(T5Block(c, i, is_decoder) for i in range(count))
        self.final_layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)
        self.dropout = Dropout(c.dropout_rate)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        source: torch.Tensor | None = None,
        source_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """(B, T) -> (B, T, H). In the decoder `attention_mask` covers the cached tokens and
        the new ones, `source`/`source_mask` are the encoder's states and padding."""
        B, T = input_ids.shape
        past = cache.length if cache is not None and self.is_decoder else 0
        P = past + T
        x = self.dropout(self.embed_tokens(input_ids))  # (B, T, H)
        first = self.block[0].layer[0].SelfAttention
        bias = first.compute_bias(T, P, past, x.device)  # (1, nh, T, P)
        allowed = self._allowed(attention_mask, past, T, x.device)
        if allowed is not None:
            bias = bias.masked_fill(~allowed, _MASKED)  # (B or 1, nh, T, P)
        cross_mask = None if source_mask is None else source_mask.bool()[:, None, None, :]
        for block in self.block:
            x = block(x, bias, source, cross_mask, cache if self.is_decoder else None)
        return self.dropout(self.final_layer_norm(x))

    def _allowed(
        self, mask: torch.Tensor | None, past: int, T: int, device: torch.device
    ) -> torch.Tensor | None:
        """Boolean (B or 1, 1, T, P), True = attend: real keys, and in the decoder only keys
        up to the query. A decoder query always sees itself, so a padded row never softmaxes
        over nothing."""
        P = past + T
        if not self.is_decoder:
            return None if mask is None else mask.bool()[:, None, None, :]  # (B, 1, 1, S)
        query = torch.arange(past, P, device=device)[:, None]  # (T, 1)
        key = torch.arange(P, device=device)[None, :]  # (1, P)
        allowed = (key <= query)[None]  # (1, T, P)
        if mask is not None:
            if mask.shape[1] < P:
                raise ValueError(
                    f"decoder_attention_mask covers {mask.shape[1]} tokens; with a cache it "
                    f"must cover the cached ones too ({P})"
                )
            allowed = (allowed & mask.bool()[:, None, -P:]) | (key == query)[None]  # (B, T, P)
        return allowed[:, None]


class T5Model(nn.Module):
    """Shared embeddings, encoder and decoder: the decoder's last hidden states."""

    def __init__(self, c: T5Config) -> None:
        super().__init__()
        self.config = c
        self.shared = nn.Embedding(c.vocab_size, c.d_model)
        self.encoder = T5Stack(c, self.shared, is_decoder=False)
        self.decoder = T5Stack(c, self.shared, is_decoder=True)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask)  # (B, S, H)

    def decode(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_hidden: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """(B, T, H); the encoder runs unless its states are given (or kept in the cache)."""
        kept = cache is not None and len(cache.cross) > 0
        if encoder_hidden is None and not kept:
            if input_ids is None:
                raise ValueError("give input_ids or encoder_hidden")
            encoder_hidden = self.encode(input_ids, attention_mask)
        return self.decoder(
            decoder_input_ids, decoder_attention_mask, encoder_hidden, attention_mask, cache
        )


class T5ForConditionalGeneration(T5Model):
    """Next-token logits of the decoder (B, T, V). Its keys are T5Model's plus `lm_head`."""

    def __init__(self, c: T5Config, num_outputs: int = 0) -> None:
        super().__init__(c)
        self.decoder_start_token_id = c.decoder_start_token_id
        self.eos_token_id = c.eos_token_id
        self.pad_token_id = c.pad_token_id
        self.output_scale = c.d_model**-0.5 if c.scale_decoder_outputs else 1.0
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.shared.weight  # tied: one Parameter
        else:
            with torch.no_grad():
                self.lm_head.weight.normal_(0.0, c.initializer_factor)  # as transformers

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
        hidden = self.decode(
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            encoder_hidden,
            cache,
        )  # (B, T, H)
        if self.output_scale != 1.0:
            hidden = hidden * self.output_scale
        return self.lm_head(hidden)  # (B, T, V)


class T5ClassificationHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, c: T5Config, num_labels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(c.d_model, c.d_model)
        self.dropout = Dropout(c.classifier_dropout)
        self.out_proj = nn.Linear(c.d_model, num_labels)
        init_new(self, std=c.initializer_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(x)))))  # (B, L)


class T5ForSequenceClassification(nn.Module):
    """The decoder reads the input shifted right (start token first); its hidden state at
    each row's last </s> is classified, as transformers does (which also asks every row to
    hold the same number of </s>; here any number works, the last one is used)."""

    def __init__(self, c: T5Config, num_labels: int) -> None:
        super().__init__()
        self.decoder_start_token_id = c.decoder_start_token_id
        self.eos_token_id = c.eos_token_id
        self.pad_token_id = c.pad_token_id
        self.transformer = T5Model(c)
        self.classification_head = T5ClassificationHead(c, num_labels)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, T = input_ids.shape
        decoder_input_ids = shift_right(input_ids, self.pad_token_id, self.decoder_start_token_id)
        hidden = self.transformer.decode(input_ids, attention_mask, decoder_input_ids)  # (B, T, H)
        eos = input_ids.eq(self.eos_token_id)
        if attention_mask is not None:
            eos = eos & attention_mask.bool()
        if not bool(eos.any(dim=1).all()):
            raise UserError(
                "a T5 classification input has no </s> token; encode texts with the model's "
                "own tokenizer (text </s>)"
            )
        last = (torch.arange(T, device=input_ids.device) * eos).argmax(-1)  # (B,)
        pooled = hidden[torch.arange(B, device=hidden.device), last]  # (B, H)
        return self.classification_head(pooled)  # (B, L)


def expected_shapes(c: T5Config) -> dict[str, tuple[int, ...] | None]:
    """A few backbone shapes the weight headers must show (keys without "transformer.")."""
    d, inner = c.d_model, c.num_heads * c.d_kv
    shapes: dict[str, tuple[int, ...] | None] = {"shared.weight": (c.vocab_size, d)}
    wi = "wi_0" if c.is_gated_act else "wi"
    for side, count, ff in (("encoder", c.num_layers, 1), ("decoder", c.num_decoder_layers, 2)):
        first = f"{side}.block.0.layer.0.SelfAttention"
        last = f"{side}.block.{count - 1}.layer"
        shapes[f"{first}.relative_attention_bias.weight"] = (
            c.relative_attention_num_buckets,
            c.num_heads,
        )
        shapes[f"{last}.0.SelfAttention.q.weight"] = (inner, d)
        shapes[f"{last}.{ff}.DenseReluDense.{wi}.weight"] = (c.d_ff, d)
        shapes[f"{side}.block.{count}.layer.0.SelfAttention.q.weight"] = None
    return shapes


_TIED_EMBEDDINGS = {
    "encoder.embed_tokens.weight": "shared.weight",
    "decoder.embed_tokens.weight": "shared.weight",
}

# LoRA presets (engine/peft/): suffixes inside a block, matching self- and cross-attention
# alike, as `peft`'s own T5 default ("q", "v") does.
T5_LORA_TARGETS = {
    "default": ("q", "v"),
    "attention": ("q", "k", "v", "o"),
    "all": ("q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"),
}

FAMILY = Family(
    name="t5",
    model_types=("t5",),
    config_from_dict=T5Config.from_dict,
    heads={
        # Whether lm_head is tied depends on the config (v1.0 or v1.1): loading and saving
        # find the shared Parameter themselves (checkpoint.shared_weights).
        SEQ2SEQ_LM: Head(
            "T5ForConditionalGeneration",
            T5ForConditionalGeneration,
            ("lm_head.",),
            _TIED_EMBEDDINGS,
        ),
        SEQUENCE_CLASSIFICATION: Head(
            "T5ForSequenceClassification",
            T5ForSequenceClassification,
            ("classification_head.",),
            {f"transformer.{k}": f"transformer.{v}" for k, v in _TIED_EMBEDDINGS.items()},
        ),
    },
    # T5ForConditionalGeneration's keys have no prefix; T5ForSequenceClassification keeps
    # the same backbone under "transformer.", so a generation checkpoint loads into it.
    backbone_prefix="transformer.",
    dropout_keys=("dropout_rate", "classifier_dropout"),
    # Some old checkpoints carry a cross-attention position table nothing reads.
    ignored_suffixes=(
        "position_ids",
        "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",
    ),
    uses_token_type_ids=False,
    special_tokens={"pad": "<pad>", "eos": "</s>", "unk": "<unk>"},
    expected_shapes=expected_shapes,
    # Two stacks: --freeze-layers N freezes the encoder's bottom N blocks and the decoder's
    # bottom N (block 0 of each holds its stack's relative position table, frozen with it);
    # LoRA and gradient checkpointing reach the blocks of both. The generation head's keys
    # have no prefix, the classifier's sit under "transformer." (only the head's are used).
    layer_stacks=(
        "encoder.block.",
        "decoder.block.",
        "transformer.encoder.block.",
        "transformer.decoder.block.",
    ),
    # --freeze-embeddings: the token table and T5's position embeddings, the relative position
    # tables in block 0 of each stack (the paper's "position embeddings"; BERT, GPT-2 and BART
    # freeze their positions too). T5 has no norm right after the embeddings.
    embedding_prefixes=tuple(
        f"{prefix}{part}"
        for prefix in ("", "transformer.")
        for part in (
            "shared.",
            "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.",
            "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.",
        )
    ),
    lora_targets=T5_LORA_TARGETS,
)
