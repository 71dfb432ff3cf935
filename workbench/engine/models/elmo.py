"""An ELMo-style baseline in plain PyTorch: a character CNN under a 2-layer biLSTM, trained
from scratch — the pre-transformer model the transformers are compared against.

The pieces follow Peters et al. 2018 (ELMo), scaled down to train in minutes on a CPU:

1. Words from bytes. The tokenizer's ids are the text's UTF-8 bytes (tokenizer.py's
   `byte_tokenizer`, so no tokenizer file is needed); a word is a run of non-whitespace
   bytes, cut to `max_characters_per_word` and framed by begin/end-of-word symbols.
2. Character CNN: byte embeddings, convolutions of several widths (ReLU, max over the
   word's characters), highway layers, a projection to `hidden_size`.
3. biLSTM: separate forward and backward stacks of `num_hidden_layers` LSTMs (as ELMo's two
   language models), residual connections from the second layer on.
4. A scalar mix of the layers (the token layer, doubled, and each biLSTM layer; softmax
   weights and a scale), as ELMo feeds a task.

The sequence-classification head pools the mixed states over the real words (`pooling`:
"mean" or "max") into a linear classifier, so the text-classification task (and every task
that asks for that head) runs on it unchanged. There is no pretraining head: the biLSTM is
trained on the task's labels only.

A fresh model is a folder holding only config.json with `"model_type": "workbench-elmo"`
(every size below has a default); training writes the byte tokenizer next to the weights.
Shapes: B batch, T bytes, W words, C characters per word (with the two markers), E char
embedding, F filters, P hidden size, L labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from workbench.engine.models.dropout import Dropout
from workbench.engine.models.family import SEQUENCE_CLASSIFICATION, Family, Head
from workbench.errors import UserError

MODEL_TYPE = "workbench-elmo"
_WHITESPACE = (9, 10, 11, 12, 13, 32)  # \t \n \v \f \r and space, as bytes
POOLINGS = ("mean", "max")


@dataclass(frozen=True)
class ElmoConfig:
    vocab_size: int = 258  # 256 bytes, <pad>, <unk> (tokenizer.byte_tokenizer)
    pad_token_id: int = 256
    max_position_embeddings: int = 1024
    """Bytes per text: the tokenizer's ceiling (--max-length counts bytes for this model)."""
    char_embedding_dim: int = 16
    filters: tuple[tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 64), (5, 64))
    """(width, number of filters) of each character convolution."""
    highway_layers: int = 1
    hidden_size: int = 128
    """The projection of each word and the state size of each LSTM direction."""
    num_hidden_layers: int = 2
    max_characters_per_word: int = 20
    pooling: str = "mean"
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ElmoConfig:
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known and v is not None}
        if "filters" in kept:
            try:
                kept["filters"] = tuple((int(w), int(n)) for w, n in kept["filters"])
            except (TypeError, ValueError):
                raise UserError(
                    "filters in config.json must be a list of [width, count] pairs"
                ) from None
        config = cls(**kept)
        if config.pooling not in POOLINGS:
            raise UserError(
                f"pooling {config.pooling!r} in config.json: choose one of {', '.join(POOLINGS)}"
            )
        sizes = {
            "vocab_size": config.vocab_size,
            "char_embedding_dim": config.char_embedding_dim,
            "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers,
            "max_characters_per_word": config.max_characters_per_word,
        }
        for key, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{key} in config.json must be a whole number of at least 1")
        if config.highway_layers < 0:
            raise UserError("highway_layers in config.json must be 0 or more")
        if not config.filters:
            raise UserError("filters in config.json must list at least one [width, count]")
        width = config.max_characters_per_word + 2
        for w, n in config.filters:
            if not (1 <= w <= width) or n < 1:
                raise UserError(
                    f"filter [{w}, {n}] in config.json: widths go from 1 to "
                    f"max_characters_per_word + 2 ({width}), counts from 1"
                )
        return config


def words_from_bytes(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    pad_id: int,
    max_chars: int,
    bow: int,
    eow: int,
    min_width: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Byte ids (B, T) -> character ids per word (B, W, C) and the word mask (B, W).
    Character id = byte id + 1 (0 pads a short word); `bow`/`eow` frame each word. C is the
    batch's longest word + 2 (at most max_chars + 2, at least `min_width`): most words are
    short, and the convolutions' cost grows with C."""
    if input_ids.shape[1] == 0:  # only empty texts (bytes have no [CLS]): one pad column
        input_ids = torch.full((input_ids.shape[0], 1), pad_id, device=input_ids.device)
        attention_mask = None
    B, T = input_ids.shape
    device = input_ids.device
    real = input_ids.ne(pad_id)
    if attention_mask is not None:
        real = real & attention_mask.bool()
    space = torch.isin(input_ids, torch.tensor(_WHITESPACE, device=device))
    is_char = real & ~space  # (B, T)
    before = F.pad(is_char[:, :-1], (1, 0), value=False)
    start = is_char & ~before  # (B, T) first byte of a word
    word_index = start.long().cumsum(1) - 1  # (B, T)
    steps = torch.arange(T, device=device)[None].expand(B, T)
    start_at = torch.cummax(torch.where(start, steps, 0), dim=1).values
    char_pos = steps - start_at  # (B, T) position inside the word
    keep = is_char & (char_pos < max_chars)
    n_words = start.sum(1)  # (B,)
    W = max(int(n_words.max()) if B else 0, 1)
    rows = torch.arange(B, device=device)[:, None].expand(B, T)
    chars = torch.zeros(B, W, max(max_chars + 2, min_width), dtype=torch.long, device=device)
    b, w, c = rows[keep], word_index[keep], char_pos[keep]
    chars[b, w, c + 1] = input_ids[keep] + 1
    lengths = torch.zeros(B, W, dtype=torch.long, device=device)
    lengths.index_put_((b, w), torch.ones_like(b), accumulate=True)  # (B, W) kept bytes
    word_mask = torch.arange(W, device=device)[None] < n_words[:, None]  # (B, W)
    chars[..., 0] = torch.where(word_mask, bow, 0)
    chars.scatter_(2, (lengths + 1)[..., None], torch.where(word_mask, eow, 0)[..., None])
    longest = int(lengths.max()) if lengths.numel() else 0
    return chars[..., : max(longest + 2, min_width)], word_mask


class Highway(nn.Module):
    """y = g * x + (1 - g) * relu(W x), g = sigmoid(V x): ELMo's highway over the CNN."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.transform = nn.Linear(size, size)
        self.gate = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(x))
        return g * x + (1 - g) * F.relu(self.transform(x))


class CharCNN(nn.Module):
    """Character ids of N words (N, C) -> word vectors (N, P)."""

    def __init__(self, c: ElmoConfig) -> None:
        super().__init__()
        # bytes + <pad> + <unk> shifted by one (0 = no character), then BOW and EOW
        self.char_embeddings = nn.Embedding(c.vocab_size + 3, c.char_embedding_dim)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(c.char_embedding_dim, n, kernel_size=w) for w, n in c.filters
        )
        total = sum(n for _, n in c.filters)
        self.highways = nn.ModuleList(Highway(total) for _ in range(c.highway_layers))
        self.projection = nn.Linear(total, c.hidden_size)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        x = self.char_embeddings(chars).transpose(1, 2)  # (N, E, C)
        framed = chars.ne(0).sum(-1, keepdim=True)  # (N, 1) the word with BOW and EOW
        pooled = []
        for conv in self.convolutions:
            y = F.relu(conv(x))  # (N, n, C - w + 1)
            # Max over the windows inside the word only (the first always counts), so a
            # word's vector does not depend on how long the batch's longest word is.
            starts = torch.arange(y.shape[-1], device=y.device)[None]  # (1, C - w + 1)
            inside = starts <= (framed - conv.kernel_size[0]).clamp(min=0)  # (N, C - w + 1)
            pooled.append(y.masked_fill(~inside[:, None], float("-inf")).amax(dim=-1))
        x = torch.cat(pooled, -1)  # (N, F)
        for highway in self.highways:
            x = highway(x)
        return self.projection(x)  # (N, P)


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `lengths[row]` steps, leave the padding in place: (B, W, D)."""
    B, W, D = x.shape
    steps = torch.arange(W, device=x.device)[None]  # (1, W)
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x.gather(1, index[..., None].expand(B, W, D))


class ElmoModel(nn.Module):
    """Byte ids -> [token layer, biLSTM layer 1, …] each (B, W, 2P), and the word mask."""

    def __init__(self, c: ElmoConfig) -> None:
        super().__init__()
        self.config = c
        self.char_cnn = CharCNN(c)
        P = c.hidden_size
        self.forward_lstms = nn.ModuleList(
            nn.LSTM(P, P, batch_first=True) for _ in range(c.num_hidden_layers)
        )
        self.backward_lstms = nn.ModuleList(
            nn.LSTM(P, P, batch_first=True) for _ in range(c.num_hidden_layers)
        )
        self.dropout = Dropout(c.dropout)

    def _run(self, lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        c = self.config
        chars, word_mask = words_from_bytes(
            input_ids,
            attention_mask,
            c.pad_token_id,
            c.max_characters_per_word,
            bow=c.vocab_size + 1,
            eow=c.vocab_size + 2,
            min_width=max(w for w, _ in c.filters),
        )  # (B, W, C), (B, W)
        B, W, _ = chars.shape
        tokens = torch.zeros(B, W, c.hidden_size, device=input_ids.device)
        tokens = tokens.to(self.char_cnn.projection.weight.dtype)
        # (B, W, P): real words only; under bf16 autocast the CNN's output is bf16.
        tokens[word_mask] = self.char_cnn(chars[word_mask]).to(tokens.dtype)
        lengths = word_mask.sum(1)  # (B,)
        layers = [torch.cat([tokens, tokens], dim=-1)]  # (B, W, 2P), as ELMo doubles it
        forward, backward = tokens, reverse_within(tokens, lengths)
        for i, (f_lstm, b_lstm) in enumerate(
            zip(self.forward_lstms, self.backward_lstms, strict=True)
        ):
            f_out = self._run(f_lstm, self.dropout(forward), lengths)  # (B, W, P)
            b_out = self._run(b_lstm, self.dropout(backward), lengths)
            if i > 0:  # residual from the second layer on, as in ELMo
                f_out, b_out = f_out + forward, b_out + backward
            forward, backward = f_out, b_out
            layers.append(torch.cat([forward, reverse_within(backward, lengths)], dim=-1))
        return layers, word_mask


class ScalarMix(nn.Module):
    """gamma * sum_k softmax(w)_k * layer_k: the task's own weighting of ELMo's layers."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(num_layers))
        self.gamma = nn.Parameter(torch.ones(1))

    def forward(self, layers: list[torch.Tensor]) -> torch.Tensor:
        w = self.weights.softmax(0)
        return self.gamma * sum(w[k] * layer for k, layer in enumerate(layers))


class ElmoForSequenceClassification(nn.Module):
    """Mixed biLSTM states pooled over the real words (mean or max) -> logits (B, L)."""

    def __init__(self, c: ElmoConfig, num_labels: int) -> None:
        super().__init__()
        self.pooling = c.pooling
        self.elmo = ElmoModel(c)
        self.scalar_mix = ScalarMix(c.num_hidden_layers + 1)
        self.dropout = Dropout(c.dropout)
        self.classifier = nn.Linear(2 * c.hidden_size, num_labels)
        self._elmo_biases()

    def init_from_scratch(self) -> None:
        """Every weight fresh, as ELMo starts (loading.build_model calls it for a config-only
        folder instead of its transformer init). PyTorch's own fan-in-scaled inits keep the
        activations near unit scale through the CNN, highways and LSTMs; the transformer
        init (N(0, 0.05) everywhere) shrank them to ~1e-3 by the pooled vector, so the
        logits hardly differed between texts and a short run stayed at chance."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        with torch.no_grad():
            self.scalar_mix.weights.zero_()
            self.scalar_mix.gamma.fill_(1.0)
        self._elmo_biases()

    def _elmo_biases(self) -> None:
        """Biases as ELMo's (AllenNLP) init: each highway's carry gate at +1 (the layer starts
        close to passing the CNN's features through), LSTM biases at 0 but the forget
        gate's at 1 (remember by default). No random draws."""
        with torch.no_grad():
            for highway in self.elmo.char_cnn.highways:
                highway.gate.bias.fill_(1.0)
            for lstm in [*self.elmo.forward_lstms, *self.elmo.backward_lstms]:
                P = lstm.hidden_size
                for name, param in lstm.named_parameters():
                    if name.startswith("bias_"):
                        param.zero_()
                        if name.startswith("bias_ih"):
                            param[P : 2 * P] = 1.0  # gates in PyTorch's order: i, f, g, o

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        layers, word_mask = self.elmo(input_ids, attention_mask)
        mixed = self.scalar_mix(layers)  # (B, W, 2P)
        keep = word_mask[..., None]  # (B, W, 1)
        if self.pooling == "max":
            pooled = mixed.masked_fill(~keep, float("-inf")).amax(1)
            pooled = pooled.masked_fill(~keep.any(1), 0.0)  # a text without words: zeros
        else:
            pooled = (mixed * keep).sum(1) / keep.sum(1).clamp(min=1)  # (B, 2P)
        return self.classifier(self.dropout(pooled))  # (B, L)


FAMILY = Family(
    name="elmo",
    model_types=(MODEL_TYPE,),
    config_from_dict=ElmoConfig.from_dict,
    heads={
        SEQUENCE_CLASSIFICATION: Head(
            "ElmoForSequenceClassification",
            ElmoForSequenceClassification,
            ("scalar_mix.", "classifier."),
        ),
    },
    backbone_prefix="elmo.",
    dropout_keys=("dropout",),
    uses_token_type_ids=False,
    special_tokens={"pad": "<pad>", "unk": "<unk>"},
)
