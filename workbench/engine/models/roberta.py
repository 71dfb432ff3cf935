"""RoBERTa in plain PyTorch: BERT's encoder under `roberta.`, with positions counted from
the padding index, and its Family entry.

Attribute names equal the keys of Hugging Face `RobertaModel` / `RobertaFor…` checkpoints.
Shapes: B batch, T tokens, H hidden size, V vocabulary, L labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.engine.models.bert import (
    BERT_LORA_TARGETS,
    BertConfig,
    BertEmbeddings,
    BertModel,
    expected_shapes,
)
from workbench.engine.models.dropout import Dropout
from workbench.engine.models.family import (
    MASKED_LM,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    Family,
    Head,
)
from workbench.engine.models.layers import init_new
from workbench.errors import UserError


@dataclass(frozen=True)
class RobertaConfig(BertConfig):
    vocab_size: int = 50265
    pad_token_id: int = 1
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5


class RobertaEmbeddings(BertEmbeddings):
    def __init__(self, c: RobertaConfig) -> None:
        super().__init__(c)
        self.padding_idx = c.pad_token_id
        self.position_embeddings = nn.Embedding(
            c.max_position_embeddings, c.hidden_size, padding_idx=c.pad_token_id
        )

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """padding_idx + 1, + 2, … for real tokens; padding_idx for pads (fairseq's rule)."""
        real = input_ids.ne(self.padding_idx).int()  # (B, T)
        return (torch.cumsum(real, dim=1).type_as(real) * real).long() + self.padding_idx


class RobertaModel(BertModel):
    embeddings_class = RobertaEmbeddings


class RobertaClassificationHead(nn.Module):
    """<s> -> dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, c: RobertaConfig, num_labels: int) -> None:
        super().__init__()
        p = c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout = Dropout(p)
        self.out_proj = nn.Linear(c.hidden_size, num_labels)
        init_new(self, std=c.initializer_range)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])  # <s> token, (B, H)
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)  # (B, L)


class RobertaForSequenceClassification(nn.Module):
    def __init__(self, c: RobertaConfig, num_labels: int) -> None:
        super().__init__()
        self.roberta = RobertaModel(c, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(c, num_labels)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.roberta(input_ids, attention_mask, token_type_ids)
        return self.classifier(hidden)  # (B, L)


class RobertaForTokenClassification(nn.Module):
    """Every token -> dropout -> linear."""

    def __init__(self, c: RobertaConfig, num_labels: int) -> None:
        super().__init__()
        self.roberta = RobertaModel(c, add_pooling_layer=False)
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
        hidden, _ = self.roberta(input_ids, attention_mask, token_type_ids)
        return self.classifier(self.dropout(hidden))  # (B, T, L)


class RobertaForQuestionAnswering(nn.Module):
    """Every token -> (start, end) logits."""

    def __init__(self, c: RobertaConfig, num_labels: int = 2) -> None:
        super().__init__()
        self.roberta = RobertaModel(c, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(c.hidden_size, num_labels)
        init_new(self.qa_outputs, std=c.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.roberta(input_ids, attention_mask, token_type_ids)
        return self.qa_outputs(hidden)  # (B, T, 2)


class RobertaLMHead(nn.Module):
    """dense -> gelu -> layer_norm -> decoder (the word embeddings, bias `bias`)."""

    def __init__(self, c: RobertaConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size)
        self.decoder.weight = word_embeddings.weight  # tied: one Parameter
        self.decoder.bias = self.bias  # tied, as `transformers` ties them
        init_new(self.dense, self.layer_norm, std=c.initializer_range)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(F.gelu(self.dense(hidden)))  # exact gelu whatever hidden_act says
        return self.decoder(x)  # (B, T, V)


class RobertaForMaskedLM(nn.Module):
    def __init__(self, c: RobertaConfig, num_outputs: int = 0) -> None:
        super().__init__()
        if not c.tie_word_embeddings:
            raise UserError(
                "this checkpoint's masked-LM decoder is not tied to its word embeddings "
                "(tie_word_embeddings: false), which is not supported yet"
            )
        self.roberta = RobertaModel(c, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(c, self.roberta.embeddings.word_embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden, _ = self.roberta(input_ids, attention_mask, token_type_ids)
        return self.lm_head(hidden)  # (B, T, V)


FAMILY = Family(
    name="roberta",
    model_types=("roberta",),
    config_from_dict=RobertaConfig.from_dict,
    heads={
        SEQUENCE_CLASSIFICATION: Head(
            "RobertaForSequenceClassification", RobertaForSequenceClassification, ("classifier.",)
        ),
        TOKEN_CLASSIFICATION: Head(
            "RobertaForTokenClassification", RobertaForTokenClassification, ("classifier.",)
        ),
        QUESTION_ANSWERING: Head(
            "RobertaForQuestionAnswering", RobertaForQuestionAnswering, ("qa_outputs.",)
        ),
        MASKED_LM: Head(
            "RobertaForMaskedLM",
            RobertaForMaskedLM,
            ("lm_head.",),
            {
                "lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight",
                "lm_head.decoder.bias": "lm_head.bias",
            },
        ),
    },
    backbone_prefix="roberta.",
    dropout_keys=("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"),
    optional_prefixes=("roberta.pooler.",),
    special_tokens={"pad": "<pad>", "mask": "<mask>", "unk": "<unk>"},
    expected_shapes=expected_shapes,
    layers_prefix="roberta.encoder.layer.",
    embedding_prefixes=("roberta.embeddings.",),
    lora_targets=BERT_LORA_TARGETS,
)
