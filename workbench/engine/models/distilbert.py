"""DistilBERT in plain PyTorch, read top to bottom, and its Family entry.

Attribute names equal the keys of Hugging Face `DistilBertModel` / `DistilBertFor…`
checkpoints. No token types: the models accept `token_type_ids` and ignore it.
Shapes: B batch, T tokens, H hidden size (`dim`), V vocabulary, L labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from workbench.engine.models.dropout import Dropout
from workbench.engine.models.family import (
    MASKED_LM,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    Family,
    Head,
)
from workbench.engine.models.layers import (
    activation,
    attention,
    attention_mask_of,
    init_new,
    split_heads,
)
from workbench.errors import UserError

LAYER_NORM_EPS = 1e-12  # fixed in DistilBERT, not a config key


@dataclass(frozen=True)
class DistilBertConfig:
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    initializer_range: float = 0.02
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int = 0
    tie_word_embeddings: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> DistilBertConfig:
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known and v is not None})
        if config.dim % config.n_heads:
            raise UserError("dim must be a multiple of n_heads in config.json")
        activation(config.activation, "activation")
        return config


class Embeddings(nn.Module):
    def __init__(self, c: DistilBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.dim, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.dim)
        self.LayerNorm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.dropout = Dropout(c.dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
        return self.dropout(self.LayerNorm(x))  # (B, T, H)


class DistilBertSelfAttention(nn.Module):
    def __init__(self, c: DistilBertConfig) -> None:
        super().__init__()
        self.n_heads = c.n_heads
        self.q_lin = nn.Linear(c.dim, c.dim)
        self.k_lin = nn.Linear(c.dim, c.dim)
        self.v_lin = nn.Linear(c.dim, c.dim)
        self.out_lin = nn.Linear(c.dim, c.dim)
        self.dropout_p = c.attention_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (split_heads(f(x), self.n_heads) for f in (self.q_lin, self.k_lin, self.v_lin))
        return self.out_lin(attention(q, k, v, mask, self.dropout_p, self.training))  # (B, T, H)


class FFN(nn.Module):
    def __init__(self, c: DistilBertConfig) -> None:
        super().__init__()
        self.lin1 = nn.Linear(c.dim, c.hidden_dim)
        self.lin2 = nn.Linear(c.hidden_dim, c.dim)
        self.activation = activation(c.activation, "activation")
        self.dropout = Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(self.activation(self.lin1(x))))


class TransformerBlock(nn.Module):
    """Post-norm: x = norm(x + attention(x)); x = norm(x + ffn(x))."""

    def __init__(self, c: DistilBertConfig) -> None:
        super().__init__()
        self.attention = DistilBertSelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.ffn = FFN(c)
        self.output_layer_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(x) + x)


class Transformer(nn.Module):
    def __init__(self, c: DistilBertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(TransformerBlock(c) for _ in range(c.n_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, mask)
        return x


class DistilBertModel(nn.Module):
    def __init__(self, c: DistilBertConfig) -> None:
        super().__init__()
        self.config = c
        self.embeddings = Embeddings(c)
        self.transformer = Transformer(c)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Last hidden state (B, T, H); `token_type_ids` is ignored."""
        return self.transformer(self.embeddings(input_ids), attention_mask_of(attention_mask))


class DistilBertForSequenceClassification(nn.Module):
    """[CLS] -> pre_classifier -> ReLU -> dropout -> classifier."""

    def __init__(self, c: DistilBertConfig, num_labels: int) -> None:
        super().__init__()
        self.distilbert = DistilBertModel(c)
        self.pre_classifier = nn.Linear(c.dim, c.dim)
        self.classifier = nn.Linear(c.dim, num_labels)
        self.dropout = Dropout(c.seq_classif_dropout)
        init_new(self.pre_classifier, self.classifier, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.distilbert(input_ids, attention_mask)
        pooled = F.relu(self.pre_classifier(hidden[:, 0]))  # (B, H)
        return self.classifier(self.dropout(pooled))  # (B, L)


class DistilBertForTokenClassification(nn.Module):
    """Every token -> dropout -> linear."""

    def __init__(self, c: DistilBertConfig, num_labels: int) -> None:
        super().__init__()
        self.distilbert = DistilBertModel(c)
        self.dropout = Dropout(c.dropout)
        self.classifier = nn.Linear(c.dim, num_labels)
        init_new(self.classifier, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.distilbert(input_ids, attention_mask)
        return self.classifier(self.dropout(hidden))  # (B, T, L)


class DistilBertForQuestionAnswering(nn.Module):
    """Every token -> dropout -> (start, end) logits."""

    def __init__(self, c: DistilBertConfig, num_labels: int = 2) -> None:
        super().__init__()
        self.distilbert = DistilBertModel(c)
        self.qa_outputs = nn.Linear(c.dim, num_labels)
        self.dropout = Dropout(c.qa_dropout)
        init_new(self.qa_outputs, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.distilbert(input_ids, attention_mask)
        return self.qa_outputs(self.dropout(hidden))  # (B, T, 2)


class DistilBertForMaskedLM(nn.Module):
    """vocab_transform -> activation -> vocab_layer_norm -> vocab_projector (the word
    embeddings, with its own bias)."""

    def __init__(self, c: DistilBertConfig, num_outputs: int = 0) -> None:
        super().__init__()
        if not c.tie_word_embeddings:
            raise UserError(
                "this checkpoint's masked-LM projector is not tied to its word embeddings "
                "(tie_word_embeddings: false), which is not supported yet"
            )
        self.activation = activation(c.activation, "activation")
        self.distilbert = DistilBertModel(c)
        self.vocab_transform = nn.Linear(c.dim, c.dim)
        self.vocab_layer_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.vocab_projector = nn.Linear(c.dim, c.vocab_size)
        init_new(self.vocab_transform, self.vocab_layer_norm, std=c.initializer_range)
        nn.init.zeros_(self.vocab_projector.bias)
        self.vocab_projector.weight = self.distilbert.embeddings.word_embeddings.weight  # tied

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.distilbert(input_ids, attention_mask)
        x = self.vocab_layer_norm(self.activation(self.vocab_transform(hidden)))
        return self.vocab_projector(x)  # (B, T, V)


def expected_shapes(c: DistilBertConfig) -> dict[str, tuple[int, ...] | None]:
    """A few backbone weights whose shapes config.json fixes."""
    H, last = c.dim, c.n_layers - 1
    return {
        "embeddings.word_embeddings.weight": (c.vocab_size, H),
        "embeddings.position_embeddings.weight": (c.max_position_embeddings, H),
        "transformer.layer.0.attention.q_lin.weight": (H, H),
        "transformer.layer.0.ffn.lin1.weight": (c.hidden_dim, H),
        f"transformer.layer.{last}.ffn.lin2.weight": (H, c.hidden_dim),
        f"transformer.layer.{last + 1}.ffn.lin2.weight": None,  # more layers than the config
    }


FAMILY = Family(
    name="distilbert",
    model_types=("distilbert",),
    config_from_dict=DistilBertConfig.from_dict,
    heads={
        SEQUENCE_CLASSIFICATION: Head(
            "DistilBertForSequenceClassification",
            DistilBertForSequenceClassification,
            ("pre_classifier.", "classifier."),
        ),
        TOKEN_CLASSIFICATION: Head(
            "DistilBertForTokenClassification", DistilBertForTokenClassification, ("classifier.",)
        ),
        QUESTION_ANSWERING: Head(
            "DistilBertForQuestionAnswering", DistilBertForQuestionAnswering, ("qa_outputs.",)
        ),
        MASKED_LM: Head(
            "DistilBertForMaskedLM",
            DistilBertForMaskedLM,
            ("vocab_transform.", "vocab_layer_norm.", "vocab_projector."),
            {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"},
        ),
    },
    backbone_prefix="distilbert.",
    dropout_keys=("dropout", "attention_dropout", "seq_classif_dropout", "qa_dropout"),
    uses_token_type_ids=False,
    special_tokens={"pad": "[PAD]", "mask": "[MASK]", "unk": "[UNK]"},
    expected_shapes=expected_shapes,
    layers_prefix="distilbert.transformer.layer.",
    embedding_prefixes=("distilbert.embeddings.",),
    # Inside a TransformerBlock: attention.{q,k,v,out}_lin, ffn.lin1, ffn.lin2.
    lora_targets={
        "default": ("q_lin", "v_lin"),
        "attention": ("q_lin", "k_lin", "v_lin", "out_lin"),
        "all": ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"),
    },
)
