"""The Llama family (Llama 2/3, TinyLlama, SmolLM/SmolLM2, Qwen2/2.5, Mistral) in plain PyTorch.

Attribute names equal the keys of Hugging Face `LlamaModel` / `LlamaForCausalLM` /
`LlamaForSequenceClassification` checkpoints (and their Qwen2 and Mistral twins), so loading
and exporting are plain state-dict copies. What differs between the three `model_type`s is
configuration only: Qwen2 has biases on q/k/v, Llama may have `attention_bias`/`mlp_bias`,
Mistral (and Qwen2 with `use_sliding_window`) attend within a sliding window.

Decoder heads follow the contract in family.py: `position_ids`, `cache` (KVCache) and
`document_ids` (packed batches: block-diagonal causal attention, positions per document).
Shapes: B batch, T new tokens, S cached + new tokens, H hidden, nh query heads, nkv key/value
heads, hd head size, V vocabulary, L labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from workbench.engine.models.family import CAUSAL_LM, SEQUENCE_CLASSIFICATION, Family, Head
from workbench.engine.models.layers import activation, init_new, last_real_token, sdpa
from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.engine.generation.cache import KVCache

ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn")


@dataclass(frozen=True)
class LlamaConfig:
    model_type: str = "llama"
    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int = 32
    head_dim: int = 128
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope: dict[str, Any] = field(default_factory=dict, hash=False)
    """The rope_scaling / rope_parameters entries besides the theta: rope_type, factor, …"""
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    attention_dropout: float = 0.0
    sliding_windows: tuple[int | None, ...] = ()
    """Per layer: attend to the last N positions only (Mistral, Qwen2), or None (everything)."""
    tie_word_embeddings: bool = False
    pad_token_id: int | None = None
    initializer_range: float = 0.02

    @property
    def rope_type(self) -> str:
        return self.rope.get("rope_type", "default")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LlamaConfig:
        """Reads both spellings of RoPE settings: `rope_theta` + `rope_scaling` (transformers 4)
        and `rope_parameters` (transformers 5)."""
        model_type = values.get("model_type", "llama")
        heads = int(values.get("num_attention_heads", 32))
        hidden = int(values.get("hidden_size", 4096))
        kv_heads = int(values.get("num_key_value_heads") or heads)
        head_dim = int(values.get("head_dim") or hidden // heads)
        if heads % kv_heads:
            raise UserError(
                "num_attention_heads must be a multiple of num_key_value_heads in config.json"
            )
        if not values.get("head_dim") and hidden % heads:
            raise UserError("hidden_size must be a multiple of num_attention_heads in config.json")
        activation(values.get("hidden_act", "silu"))
        layers = int(values.get("num_hidden_layers", 32))
        rope, theta = _rope_settings(values)
        bias = bool(values.get("attention_bias", False))
        pad = values.get("pad_token_id")
        vocab = int(values.get("vocab_size", 32000))
        return cls(
            model_type=model_type,
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=int(values.get("intermediate_size", 11008)),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=head_dim,
            hidden_act=values.get("hidden_act", "silu"),
            max_position_embeddings=int(values.get("max_position_embeddings", 2048)),
            rms_norm_eps=float(values.get("rms_norm_eps", 1e-6)),
            rope_theta=theta,
            rope=rope,
            qkv_bias=model_type == "qwen2" or bias,
            o_bias=bias and model_type != "qwen2",
            mlp_bias=bool(values.get("mlp_bias", False)),
            attention_dropout=float(values.get("attention_dropout") or 0.0),
            sliding_windows=_sliding_windows(values, model_type, layers),
            tie_word_embeddings=bool(values.get("tie_word_embeddings", False)),
            pad_token_id=int(pad) if isinstance(pad, int) and 0 <= pad < vocab else None,
            initializer_range=float(values.get("initializer_range", 0.02)),
        )


def _rope_settings(values: dict[str, Any]) -> tuple[dict[str, Any], float]:
    params = values.get("rope_parameters")
    if isinstance(params, dict) and params:
        rope = dict(params)
        theta = rope.pop("rope_theta", values.get("rope_theta", 10000.0))
    else:
        rope = dict(values.get("rope_scaling") or {})
        theta = values.get("rope_theta", 10000.0)
    kind = rope.pop("rope_type", None) or rope.pop("type", None) or "default"
    rope.pop("type", None)
    if kind not in ROPE_TYPES:
        raise UserError(
            f"RoPE scaling {kind!r} in config.json is not supported yet; "
            f"supported: {', '.join(ROPE_TYPES)}"
        )
    if kind != "default" and "factor" not in rope:
        raise UserError(f"RoPE scaling {kind!r} in config.json needs a 'factor'")
    if kind in ("llama3", "yarn") and "original_max_position_embeddings" not in rope:
        rope["original_max_position_embeddings"] = values.get("max_position_embeddings", 2048)
    return {"rope_type": kind, **rope}, float(theta)


def _sliding_windows(
    values: dict[str, Any], model_type: str, layers: int
) -> tuple[int | None, ...]:
    window = values.get("sliding_window")
    if model_type == "mistral":
        return (int(window) if window else None,) * layers
    if model_type == "qwen2" and window and values.get("use_sliding_window"):
        types = values.get("layer_types")
        if isinstance(types, list) and len(types) == layers:
            return tuple(int(window) if t == "sliding_attention" else None for t in types)
        first = int(values.get("max_window_layers", layers))
        return tuple(int(window) if i >= first else None for i in range(layers))
    return (None,) * layers


# ---- rotary position embeddings ---------------------------------------------------------
def rope_frequencies(c: LlamaConfig, seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """(inverse frequencies (hd/2,) float32, attention scaling), as transformers computes them
    for each `rope_type`. `seq_len` only matters for "dynamic" (NTK), which stretches the
    base once positions pass max_position_embeddings."""
    dim, base, rope = c.head_dim, c.rope_theta, c.rope
    kind = c.rope_type
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim  # (hd/2,)
    if kind == "dynamic":
        longest = max(seq_len or 0, c.max_position_embeddings)
        factor = rope["factor"]
        ratio = factor * longest / c.max_position_embeddings - (factor - 1)
        base = base * ratio ** (dim / (dim - 2))
    inv_freq = 1.0 / (base**exponents)
    if kind == "linear":
        return inv_freq / rope["factor"], 1.0
    if kind == "llama3":
        factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
        old = rope["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        return torch.where(medium, smoothed, scaled), 1.0
    if kind == "yarn":
        return _yarn(c, inv_freq)
    return inv_freq, 1.0


def _yarn(c: LlamaConfig, inv_freq: torch.Tensor) -> tuple[torch.Tensor, float]:
    rope, dim, base = c.rope, c.head_dim, c.rope_theta
    factor = rope["factor"]
    original = rope["original_max_position_embeddings"]

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    scaling = rope.get("attention_factor")
    if scaling is None:
        if rope.get("mscale") and rope.get("mscale_all_dim"):
            scaling = mscale(factor, rope["mscale"]) / mscale(factor, rope["mscale_all_dim"])
        else:
            scaling = mscale(factor)

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low = correction_dim(rope.get("beta_fast") or 32)
    high = correction_dim(rope.get("beta_slow") or 1)
    if rope.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolation = 1 - ramp  # (hd/2,) 1 = keep the original frequency
    mixed = (inv_freq / factor) * (1 - extrapolation) + inv_freq * extrapolation
    return mixed, float(scaling)


class LlamaRotaryEmbedding(nn.Module):
    """cos/sin of each position. No weights and no buffers: the frequencies are computed in
    float32 per device, so casting the model to bf16 cannot round them."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.config = c
        self._frequencies: dict[torch.device, tuple[torch.Tensor, float]] = {}

    def forward(
        self, position_ids: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """position_ids (B, T) -> cos, sin (B, T, hd)."""
        device = position_ids.device
        if self.config.rope_type == "dynamic":
            longest = int(position_ids.max()) + 1  # one sync; only this rope type needs it
            inv_freq, scaling = rope_frequencies(self.config, longest)
            inv_freq = inv_freq.to(device)
        else:
            if device not in self._frequencies:
                inv_freq, scaling = rope_frequencies(self.config)
                self._frequencies[device] = (inv_freq.to(device), scaling)
            inv_freq, scaling = self._frequencies[device]
        freqs = position_ids[..., None].float() * inv_freq  # (B, T, hd/2)
        angles = torch.cat([freqs, freqs], dim=-1)  # (B, T, hd)
        return (angles.cos() * scaling).to(dtype), (angles.sin() * scaling).to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, heads, T, hd), cos/sin (B, T, hd): HF's rotate-half layout (not interleaved)."""
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


# ---- masks and positions (the decoder contract) ----------------------------------------
def decoder_masks(
    attention_mask: torch.Tensor | None,
    document_ids: torch.Tensor | None,
    past: int,
    T: int,
    windows: set[int | None],
    device: torch.device,
) -> dict[int | None, torch.Tensor | None]:
    """Boolean (B or 1, 1, T, S) masks, True = attend, one per sliding window in use (None =
    no window): causal, over real keys, within a document, within the window.

    Each query may always attend to itself, so a padding query (left padding) never has an
    all-masked row, whose softmax would be NaN and would leak into every later layer. A mask
    is None when SDPA's plain causal attention is enough.
    """
    S = past + T
    if document_ids is not None and document_ids.shape[1] != S:
        raise ValueError(
            f"document_ids cover {document_ids.shape[1]} tokens; with a cache they must cover "
            f"the cached tokens too ({S})"
        )
    plain = attention_mask is None and document_ids is None and (past == 0 or T == 1)
    query_pos = torch.arange(past, S, device=device)[:, None]  # (T, 1)
    key_pos = torch.arange(S, device=device)[None, :]  # (1, S)
    masks: dict[int | None, torch.Tensor | None] = {}
    for window in windows:
        if plain and (window is None or S <= window):
            masks[window] = None
            continue
        allowed = (key_pos <= query_pos)[None]  # (1, T, S)
        if window is not None:
            allowed = allowed & (key_pos > query_pos - window)[None]
        if attention_mask is not None:
            allowed = allowed & attention_mask.bool()[:, None, :]  # (B, T, S)
        if document_ids is not None:
            docs = document_ids  # (B, S): the cached tokens' documents, then the new ones'
            allowed = allowed & (docs[:, -T:, None] == docs[:, None, :])  # (B, T, S)
        allowed = allowed | (key_pos == query_pos)[None]  # itself
        masks[window] = allowed[:, None]  # (B, 1, T, S)
    return masks


def positions_of(
    input_ids: torch.Tensor, past: int, document_ids: torch.Tensor | None
) -> torch.Tensor:
    """Default positions: past.. past+T-1 (transformers' plain forward), or counted from 0 in
    each document of a packed row."""
    T = input_ids.shape[1]
    if document_ids is None:
        return torch.arange(past, past + T, device=input_ids.device)[None]  # (1, T)
    steps = torch.arange(document_ids.shape[1], device=input_ids.device)[None]  # (1, S or T)
    starts = torch.ones_like(document_ids, dtype=torch.bool)
    starts[:, 1:] = document_ids[:, 1:] != document_ids[:, :-1]  # first token of a document
    start_index = torch.cummax(torch.where(starts, steps, 0), dim=1).values
    return (steps - start_index)[:, -T:]  # (B, T)


# ---- the modules -------------------------------------------------------------------------
class LlamaRMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()  # in float32, as transformers does: bf16 squares overflow and round
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class LlamaAttention(nn.Module):
    """Grouped-query attention: nkv key/value heads shared by nh / nkv query heads each."""

    def __init__(self, c: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads, self.num_kv_heads, self.head_dim = (
            c.num_attention_heads,
            c.num_key_value_heads,
            c.head_dim,
        )
        self.sliding_window = c.sliding_windows[layer_idx] if c.sliding_windows else None
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * c.head_dim, c.qkv_bias)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, c.qkv_bias)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, c.qkv_bias)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, c.o_bias)
        self.dropout_p = c.attention_dropout

    def forward(
        self,
        x: torch.Tensor,
        cos_sin: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: KVCache | None,
        past: int,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        hd = self.head_dim
        q = self.q_proj(x).view(B, T, self.num_heads, hd).transpose(1, 2)  # (B, nh, T, hd)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, hd).transpose(1, 2)  # (B, nkv, T, hd)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, hd).transpose(1, 2)
        q, k = apply_rotary(q, *cos_sin), apply_rotary(k, *cos_sin)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)  # (B, nkv, S, hd)
        y = sdpa(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0,
            is_causal=mask is None and past == 0 and T > 1,
            enable_gqa=self.num_heads != self.num_kv_heads,
        )  # (B, nh, T, hd)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.num_heads * hd))


class LlamaMLP(nn.Module):
    """SwiGLU: down(act(gate(x)) * up(x))."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, c.mlp_bias)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, c.mlp_bias)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, c.mlp_bias)
        self.act = activation(c.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.input_layernorm = LlamaRMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = LlamaAttention(c, layer_idx)
        self.post_attention_layernorm = LlamaRMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = LlamaMLP(c)

    def forward(
        self,
        x: torch.Tensor,
        cos_sin: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | None,
        cache: KVCache | None,
        past: int,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos_sin, mask, cache, past)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Embeddings -> layers -> final norm: the last hidden state (B, T, H)."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.layers = nn.ModuleList(LlamaDecoderLayer(c, i) for i in range(c.num_hidden_layers))
        self.norm = LlamaRMSNorm(c.hidden_size, c.rms_norm_eps)
        self.rotary_emb = LlamaRotaryEmbedding(c)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
        document_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        T = input_ids.shape[1]
        past = cache.length if cache is not None else 0
        if position_ids is None:
            position_ids = positions_of(input_ids, past, document_ids)
        x = self.embed_tokens(input_ids)  # (B, T, H)
        cos_sin = self.rotary_emb(position_ids, x.dtype)
        windows = {layer.self_attn.sliding_window for layer in self.layers}
        masks = decoder_masks(attention_mask, document_ids, past, T, windows, x.device)
        for layer in self.layers:
            x = layer(x, cos_sin, masks[layer.self_attn.sliding_window], cache, past)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    """Next-token logits (B, T, V); the LM head is the token embeddings when the config ties
    them (SmolLM2, Qwen2.5-0.5B, Llama 3.2 1B), its own weight otherwise."""

    def __init__(self, c: LlamaConfig, num_outputs: int = 0) -> None:
        super().__init__()
        self.model = LlamaModel(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
        if c.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight  # tied: one Parameter
        else:
            init_new(self.lm_head, std=c.initializer_range)

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
        hidden = self.model(input_ids, attention_mask, position_ids, cache, document_ids)
        return self.lm_head(hidden)  # (B, T, V)


class LlamaForSequenceClassification(nn.Module):
    """Logits of the last real token of each row (B, L), as transformers pools them."""

    def __init__(self, c: LlamaConfig, num_labels: int) -> None:
        super().__init__()
        self.pad_token_id = c.pad_token_id
        self.model = LlamaModel(c)
        self.score = nn.Linear(c.hidden_size, num_labels, bias=False)
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
        hidden = self.model(input_ids, attention_mask, position_ids, cache, document_ids)
        logits = self.score(hidden)  # (B, T, L)
        return last_real_token(logits, input_ids, attention_mask, self.pad_token_id)  # (B, L)


_PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
LLAMA_LORA_TARGETS = {
    "default": ("self_attn.q_proj", "self_attn.v_proj"),
    "attention": _PROJECTIONS,
    "all": (*_PROJECTIONS, "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
}

FAMILY = Family(
    name="llama",
    model_types=("llama", "qwen2", "mistral"),
    config_from_dict=LlamaConfig.from_dict,
    heads={
        # Whether lm_head is tied depends on the config (tie_word_embeddings): loading and
        # saving find the shared Parameter themselves (checkpoint.shared_weights).
        CAUSAL_LM: Head("LlamaForCausalLM", LlamaForCausalLM, ("lm_head.",)),
        SEQUENCE_CLASSIFICATION: Head(
            "LlamaForSequenceClassification", LlamaForSequenceClassification, ("score.",)
        ),
    },
    backbone_prefix="model.",
    dropout_keys=("attention_dropout",),
    # Older checkpoints carry the rotary frequencies as a buffer; they are recomputed.
    ignored_suffixes=("position_ids", "rotary_emb.inv_freq"),
    uses_token_type_ids=False,
    layers_prefix="model.layers.",
    embedding_prefixes=("model.embed_tokens.",),
    lora_targets=LLAMA_LORA_TARGETS,
)
