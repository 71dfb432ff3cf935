"""BERT in plain PyTorch, read top to bottom, and its Family entry.

Attribute names equal the keys of Hugging Face `BertModel` / `BertFor…` checkpoints, so
loading and exporting are plain state-dict copies. RoBERTa reuses these modules.
Shapes: B batch, T tokens, H hidden size, V vocabulary, L labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from workbench.engine.models.dropout import Dropout
from workbench.engine.models.family import (
    MASKED_LM,
    PRETRAINING,
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


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02
    classifier_dropout: float | None = None
    tie_word_embeddings: bool = True

    @classmethod
    def from_dict(cls, values: dict) -> BertConfig:
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known and v is not None})
        if config.hidden_size % config.num_attention_heads:
            raise UserError("hidden_size must be a multiple of num_attention_heads in config.json")
        activation(config.hidden_act)
        pos_type = values.get("position_embedding_type", "absolute")
        if pos_type != "absolute":
            raise UserError(f"position_embedding_type {pos_type!r} is not supported yet")
        return config


class BertEmbeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = Dropout(c.hidden_dropout_prob)

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        return torch.arange(input_ids.shape[1], device=input_ids.device)[None]  # (1, T)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        x = self.word_embeddings(input_ids) + self.position_embeddings(self.position_ids(input_ids))
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))  # (B, T, H)


class BertSelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.num_heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout_p = c.attention_probs_dropout_prob

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`queries` (B, Tq, H): the tokens whose outputs are wanted (default: all of x)."""
        q = split_heads(self.query(x if queries is None else queries), self.num_heads)
        k, v = (split_heads(f(x), self.num_heads) for f in (self.key, self.value))
        return attention(q, k, v, mask, self.dropout_p, self.training)  # (B, Tq, H)


class BertSelfOutput(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = Dropout(c.hidden_dropout_prob)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> torch.Tensor:
        residual = x if queries is None else queries
        return self.output(self.self(x, mask, queries), residual)


class BertIntermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = activation(c.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class BertOutput(BertSelfOutput):
    def __init__(self, c: BertConfig) -> None:
        super().__init__(c)
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)


class BertLayer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, queries: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.attention(x, mask, queries)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, first_only: bool = False
    ) -> torch.Tensor:
        """(B, T, H); with `first_only` (B, 1, H): the last layer computes the first token
        alone (all tokens stay its keys and values): what a pooled head reads, ~14 % less work
        for MiniLM, equal within float rounding."""
        *earlier, last = self.layer
        for layer in earlier:
            x = layer(x, mask)
        return last(x, mask, x[:, :1] if first_only else None)


class BertPooler(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # [CLS] token, (B, H)


class BertModel(nn.Module):
    """The encoder; heads that read every token build it without the pooler, as HF does."""

    embeddings_class: type[BertEmbeddings] = BertEmbeddings

    def __init__(self, c: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        self.config = c
        self.embeddings = self.embeddings_class(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if add_pooling_layer else None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        first_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(last hidden state (B, T, H), pooled [CLS] (B, H) or None without a pooler);
        `first_only`: the hidden state of the first token alone, (B, 1, H)."""
        mask = attention_mask_of(attention_mask)  # (B, 1, 1, T)
        hidden = self.encoder(self.embeddings(input_ids, token_type_ids), mask, first_only)
        return hidden, None if self.pooler is None else self.pooler(hidden)


class BertForSequenceClassification(nn.Module):
    """Pooled [CLS] -> dropout -> linear, named as in `transformers`."""

    def __init__(self, c: BertConfig, num_labels: int) -> None:
        super().__init__()
        self.bert = BertModel(c)
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dropout = Dropout(p)
        self.classifier = nn.Linear(c.hidden_size, num_labels)
        init_new(self.classifier, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # Without gradients (evaluation, prediction) the last layer computes [CLS] alone:
        # the pooler reads nothing else. Training keeps the full pass (and its numbers).
        first_only = not torch.is_grad_enabled()
        _, pooled = self.bert(input_ids, attention_mask, token_type_ids, first_only)
        return self.classifier(self.dropout(pooled))  # (B, L)


class BertForTokenClassification(nn.Module):
    """Every token -> dropout -> linear."""

    def __init__(self, c: BertConfig, num_labels: int) -> None:
        super().__init__()
        self.bert = BertModel(c, add_pooling_layer=False)
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dropout = Dropout(p)
        self.classifier = nn.Linear(c.hidden_size, num_labels)
        init_new(self.classifier, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(hidden))  # (B, T, L)


class BertForQuestionAnswering(nn.Module):
    """Every token -> (start, end) logits."""

    def __init__(self, c: BertConfig, num_labels: int = 2) -> None:
        super().__init__()
        self.bert = BertModel(c, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(c.hidden_size, num_labels)
        init_new(self.qa_outputs, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids)
        return self.qa_outputs(hidden)  # (B, T, 2)


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.act = activation(c.hidden_act)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    """transform -> decoder, whose weight is the word embeddings and whose bias is `bias`."""

    def __init__(self, c: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        self.decoder.weight = word_embeddings.weight  # tied: one Parameter
        self.decoder.bias = self.bias  # tied, as `transformers` ties them
        init_new(self.transform, std=c.initializer_range)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden))  # (B, T, V)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, c: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(c, word_embeddings)


class BertPreTrainingHeads(BertOnlyMLMHead):
    def __init__(self, c: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__(c, word_embeddings)
        self.seq_relationship = nn.Linear(c.hidden_size, 2)
        init_new(self.seq_relationship, std=c.initializer_range)


def _check_tied(c: BertConfig) -> None:
    if not c.tie_word_embeddings:
        raise UserError(
            "this checkpoint's masked-LM decoder is not tied to its word embeddings "
            "(tie_word_embeddings: false), which is not supported yet"
        )


class BertForMaskedLM(nn.Module):
    def __init__(self, c: BertConfig, num_outputs: int = 0) -> None:
        super().__init__()
        _check_tied(c)
        self.bert = BertModel(c, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(c, self.bert.embeddings.word_embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.bert(input_ids, attention_mask, token_type_ids)
        return self.cls.predictions(hidden)  # (B, T, V)


class BertForPreTraining(nn.Module):
    """Masked LM on every token and next-sentence prediction on the pooled [CLS]."""

    def __init__(self, c: BertConfig, num_outputs: int = 0) -> None:
        super().__init__()
        _check_tied(c)
        self.bert = BertModel(c)
        self.cls = BertPreTrainingHeads(c, self.bert.embeddings.word_embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, pooled = self.bert(input_ids, attention_mask, token_type_ids)
        return self.cls.predictions(hidden), self.cls.seq_relationship(pooled)  # (B,T,V), (B,2)


# Module names inside a BertLayer (RoBERTa shares them): attention.self.{query,key,value},
# attention.output.dense, intermediate.dense, output.dense.
BERT_LORA_TARGETS = {
    "default": ("query", "value"),
    "attention": ("query", "key", "value", "attention.output.dense"),
    "all": ("query", "key", "value", "dense"),
}


def expected_shapes(c: BertConfig) -> dict[str, tuple[int, ...] | None]:
    """A few backbone weights whose shapes config.json fixes (RoBERTa shares them)."""
    H, last = c.hidden_size, c.num_hidden_layers - 1
    return {
        "embeddings.word_embeddings.weight": (c.vocab_size, H),
        "embeddings.position_embeddings.weight": (c.max_position_embeddings, H),
        "embeddings.token_type_embeddings.weight": (c.type_vocab_size, H),
        "encoder.layer.0.attention.self.query.weight": (H, H),
        "encoder.layer.0.intermediate.dense.weight": (c.intermediate_size, H),
        f"encoder.layer.{last}.output.dense.weight": (H, c.intermediate_size),
        f"encoder.layer.{last + 1}.output.dense.weight": None,  # more layers than the config
    }


_MLM_TIED = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}

FAMILY = Family(
    name="bert",
    model_types=("bert",),
    config_from_dict=BertConfig.from_dict,
    heads={
        SEQUENCE_CLASSIFICATION: Head(
            "BertForSequenceClassification", BertForSequenceClassification, ("classifier.",)
        ),
        TOKEN_CLASSIFICATION: Head(
            "BertForTokenClassification", BertForTokenClassification, ("classifier.",)
        ),
        QUESTION_ANSWERING: Head(
            "BertForQuestionAnswering", BertForQuestionAnswering, ("qa_outputs.",)
        ),
        MASKED_LM: Head("BertForMaskedLM", BertForMaskedLM, ("cls.predictions.",), _MLM_TIED),
        PRETRAINING: Head(
            "BertForPreTraining",
            BertForPreTraining,
            ("cls.predictions.", "cls.seq_relationship."),
            _MLM_TIED,
        ),
    },
    backbone_prefix="bert.",
    dropout_keys=("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"),
    optional_prefixes=("bert.pooler.",),
    special_tokens={"pad": "[PAD]", "mask": "[MASK]", "unk": "[UNK]"},
    expected_shapes=expected_shapes,
    layers_prefix="bert.encoder.layer.",
    embedding_prefixes=("bert.embeddings.",),
    lora_targets=BERT_LORA_TARGETS,
)
