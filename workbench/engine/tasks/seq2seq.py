"""Sequence to sequence (summarisation, translation): train an encoder-decoder (BART, T5) to
write a target text from a source text.

Data: a source and a target column (`--source-column`, `--target-column`; guessed from names
such as dialogue/summary, source/target, document/summary, or a pair of language codes
like en/de). The source is the tokenizer's template around its tokens (BART's `<s> … </s>`,
T5's `… </s>`), cut at `max_length` (its end goes); the labels are the target the same way,
so they end with the end-of-sequence token the model learns to stop at, padded with -100.
The decoder reads the labels shifted right, starting with the model's
`decoder_start_token_id` (the encoder-decoder contract in family.py). The loss is the
mean token cross-entropy of the labels.

Metrics are computed on what the model writes, not only on the loss: every evaluation
generates each source's target greedily (at most `max_new_tokens`: the longest training
target, within `max_length`) and scores it against the reference with ROUGE-1/2/L
(`rouge1`, `rouge2`, `rougeL`: mean F-measure, as `rouge-score`) and corpus BLEU (`bleu`,
as `sacrebleu`, 0-1), plus the teacher-forced `loss`. The primary metric is `rougeL`.
During training a fixed sample of the evaluation set is scored (`eval_sample`), the whole
set at the end. Predictions are `{"text": generated}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.models.family import SEQ2SEQ_LM
from workbench.engine.tasks.base import SOURCE, TARGET, Features, Rows, Task, TaskData
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

IGNORE = -100
_PAIRS = (  # (source, target) column names, most specific first
    ("dialogue", "summary"),
    ("document", "summary"),
    ("article", "highlights"),
    ("text", "summary"),
    ("source", "target"),
    ("src", "tgt"),
    ("input", "output"),
    ("input", "target"),
)
_SOURCE_NAMES = ("source", "src", "input", "dialogue", "document", "article", "text")
_TARGET_NAMES = ("target", "tgt", "output", "summary", "highlights", "translation")
_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "ro", "ru", "zh", "ja", "cs", "fi", "tr")


@dataclass
class Seq2SeqFeatures(Features):
    """Features with what collating and decoding need beyond the pad id."""

    tokenizer: TextTokenizer | None = None
    decoder_start_token_id: int = 0
    max_new_tokens: int = 64


class Seq2Seq(Task):
    name = "seq2seq"
    title = "Sequence to sequence"
    description = (
        "Trains an encoder-decoder (BART, T5) to write a target text from a source text: "
        "summaries of documents or dialogues, translations. Scored with ROUGE and BLEU on "
        "what it generates."
    )
    head_kind = SEQ2SEQ_LM
    primary_metric = "rougeL"
    metric_names = ("rougeL", "rouge1", "rouge2", "bleu", "loss")
    roles = (SOURCE, TARGET)
    # Not tuned on validation data yet (no pretrained encoder-decoder was available offline
    # while this was written): transformers' summarisation examples fine-tune BART/T5 at
    # 5e-5 to 3e-4 for 3 epochs; 1e-4 sits between; batches of 8 keep a (8, 128, 32k-50k)
    # logits tensor under ~200 MB on a laptop CPU. 256 source tokens cover most DialogSum
    # dialogues (median ~190 BART tokens). Still untuned on 2026-12-01 (no pretrained BART
    # or T5 offline; random ones would tune from-scratch rates): `python
    # bench/tune_generative_defaults.py --task seq2seq --model FOLDER` sweeps the rate on
    # DialogSum's validation file once one is at hand.
    defaults = {"epochs": 3, "learning_rate": 1e-4, "batch_size": 8, "max_length": 256}
    prediction_inputs = ("text",)
    # The scores before the first step too (`rougeL_before`, `loss_before`): how far
    # training moved them. One more generation pass over the evaluation set.
    evaluate_before_training = True

    # ---- reading data --------------------------------------------------------------------
    def read(self, config: RunConfig, load: Callable[[str], pd.DataFrame]) -> TaskData:
        """As every task reads, plus what the model says: its decoder start token, and the
        longest training target (in tokens), which bounds the generations."""
        from workbench.engine.models.registry import read_config, resolve_model
        from workbench.engine.tokenizer import TextTokenizer

        data = super().read(config, load)
        folder = resolve_model(config.model)
        raw = read_config(folder)
        start = raw.get("decoder_start_token_id")
        if start is None:
            start = (
                raw.get("pad_token_id")
                if raw.get("model_type") == "t5"
                else raw.get("eos_token_id")
            )
        if not isinstance(start, int):
            raise UserError(
                f"{folder.name}/config.json names no decoder_start_token_id, which an "
                "encoder-decoder needs; add it"
            )
        max_length = config.max_length or self.defaults["max_length"]
        tokenizer = TextTokenizer.from_folder(folder, max_length)
        lengths = [len(ids) for ids in tokenizer.encode(list(data.train["target"]))]
        data.meta["decoder_start_token_id"] = int(start)
        data.meta["max_new_tokens"] = int(min(max(lengths), tokenizer.max_length))
        return data

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        lower = {str(c).lower().strip(): c for c in frame.columns}
        for source, target in _PAIRS:
            if source in lower and target in lower:
                return {"source_column": lower[source], "target_column": lower[target]}
        languages = [lower[c] for c in lower if c in _LANGUAGES]
        if len(languages) == 2:  # en/de: the first column is the source, as files list them
            return {"source_column": languages[0], "target_column": languages[1]}
        source = next((lower[n] for n in _SOURCE_NAMES if n in lower), None)
        target = next((lower[n] for n in _TARGET_NAMES if n in lower and lower[n] != source), None)
        return {"source_column": source, "target_column": target}

    def examples(self, frame, columns, meta, name, config):
        sources, targets = [], []
        for s, t in zip(
            frame[columns["source_column"]], frame[columns["target_column"]], strict=True
        ):
            s, t = _as_text(s), _as_text(t)
            if s and t:  # a row without a source or a target has nothing to learn
                sources.append(s)
                targets.append(t)
        if not targets:
            raise UserError(
                f"{name} has no rows with both a source ({columns['source_column']!r}) and a "
                f"target ({columns['target_column']!r}); pick them with --source-column and "
                "--target-column"
            )
        skipped = len(frame) - len(targets)
        if skipped:
            frame.attrs.setdefault("notices", []).append(
                f"{skipped} rows of {name} lack a source or a target and were left out"
            )
        return Rows({"source": sources, "target": targets}), meta if meta is not None else {}

    # ---- the model ------------------------------------------------------------------------
    def num_outputs(self, meta: dict[str, Any]) -> int:
        return 0  # the vocabulary comes from the model's own config

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        return True  # the LM head is the vocabulary's (tied to the embeddings): always keep it

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {}  # config.json keeps the model's own start, end and pad tokens

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        sequences: dict[str, list[list[int]]] = {"input_ids": tokenizer.encode(rows["source"])}
        eos = tokenizer.eos_id
        if "target" in rows:
            labels = tokenizer.encode(rows["target"])
            if eos is not None:  # a target cut at max_length still ends where it stops
                labels = [ids if ids and ids[-1] == eos else [*ids[:-1], eos] for ids in labels]
            sequences["labels"] = labels
        return Seq2SeqFeatures(
            sequences,
            tokenizer=tokenizer,
            decoder_start_token_id=int(meta.get("decoder_start_token_id", 0)),
            max_new_tokens=int(meta.get("max_new_tokens", 64)),
        )

    def collate(self, features, indices, pad_id, multiple_of, training) -> dict[str, torch.Tensor]:
        import torch

        from workbench.engine.training.batching import collate_features

        # The source and the target are padded each to its own longest row.
        sources = Features({"input_ids": features.sequences["input_ids"]})
        batch = collate_features(sources, indices, pad_id, multiple_of)
        if "labels" in features.sequences:
            rows = [features.sequences["labels"][i] for i in indices]
            width = -(-max(map(len, rows)) // multiple_of) * multiple_of
            labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)  # (B, T)
            for r, ids in enumerate(rows):
                labels[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            shifted = torch.full_like(labels, pad_id)
            shifted[:, 1:] = labels[:, :-1]
            shifted[:, 0] = features.decoder_start_token_id
            batch["labels"] = labels
            batch["decoder_input_ids"] = shifted.masked_fill(shifted == IGNORE, pad_id)
            batch["decoder_attention_mask"] = (labels != IGNORE).long()
        if not training:  # evaluation and prediction score what the model writes
            batch["max_new_tokens"] = torch.tensor(features.max_new_tokens)
        return batch

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        """Training: the teacher-forced logits (B, T, V). Evaluation and prediction: those
        (when there are labels) and each row's greedy generation."""
        logits = None
        if "labels" in batch:
            logits = model(
                batch["input_ids"],
                batch["attention_mask"],
                decoder_input_ids=batch["decoder_input_ids"],
                decoder_attention_mask=batch["decoder_attention_mask"],
            )
        if model.training or "max_new_tokens" not in batch:
            return logits
        from workbench.engine.generation.generate import GenerationSettings
        from workbench.engine.generation.seq2seq import generate_seq2seq_batch

        mask = batch["attention_mask"].bool()
        sources = [row[keep].tolist() for row, keep in zip(batch["input_ids"], mask, strict=True)]
        settings = GenerationSettings(max_new_tokens=int(batch["max_new_tokens"]))
        return logits, generate_seq2seq_batch(model, None, sources, settings)

    def loss_units(self, meta):
        from workbench.engine.tasks.loss_units import token_units

        return token_units()  # target tokens (labels are not shifted: decoder inputs are)

    def loss(self, logits, batch, meta) -> torch.Tensor:
        import torch.nn.functional as F

        labels = batch["labels"]  # (B, T)
        chosen = labels != IGNORE
        picked = logits[chosen].float()  # (N, V)
        return F.cross_entropy(picked, labels[chosen], reduction="sum") / chosen.sum().clamp(min=1)

    def gather(self, logits, batch) -> list[np.ndarray]:
        """Per feature: [summed token loss, target tokens, the generated ids …]."""
        import torch
        import torch.nn.functional as F

        teacher, generated = logits if isinstance(logits, tuple) else (logits, None)
        B = batch["input_ids"].shape[0]
        summed = torch.zeros(B)
        counts = torch.zeros(B)
        if teacher is not None and "labels" in batch:
            labels = batch["labels"]
            chosen = labels != IGNORE
            token_loss = F.cross_entropy(
                teacher.float().transpose(1, 2), labels.masked_fill(~chosen, 0), reduction="none"
            )  # (B, T)
            summed = (token_loss * chosen).sum(1).cpu()
            counts = chosen.sum(1).float().cpu()
        out = []
        for i in range(B):
            ids = generated[i] if generated is not None else []
            out.append(np.asarray([float(summed[i]), float(counts[i]), *ids], dtype=np.float64))
        return out

    # ---- results --------------------------------------------------------------------------
    def texts(self, outputs: list[np.ndarray], features: Features) -> list[str]:
        """Each feature's generated text (special tokens dropped)."""
        tokenizer = features.tokenizer
        return [tokenizer.decode([int(i) for i in out[2:]]).strip() for out in outputs]

    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        from workbench.engine.metrics.text_overlap import corpus_bleu, rouge_scores

        if not outputs:
            raise UserError("no examples to evaluate on; add rows to the evaluation data")
        stacked = np.stack([out[:2] for out in outputs])  # (N, 2)
        count = float(stacked[:, 1].sum())
        loss = float(stacked[:, 0].sum() / count) if count else float("nan")
        predictions = self.texts(outputs, features)
        references = [str(t) for t in rows["target"]]
        scores = rouge_scores(predictions, references)
        return {
            "rougeL": float(scores["rougeL"]),
            "rouge1": float(scores["rouge1"]),
            "rouge2": float(scores["rouge2"]),
            "bleu": float(corpus_bleu(predictions, references)),
            "loss": loss,
            "num_examples": len(outputs),
            "examples": [
                {"source": s, "target": t, "generated": g}
                for s, t, g in zip(
                    rows["source"][:5], references[:5], predictions[:5], strict=False
                )
            ],
        }

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        return [{"text": text} for text in self.texts(outputs, features)]

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        texts = inputs.get("text") or []
        if not texts:
            raise UserError("no text to predict; type a source text or give --text")
        return Rows({"source": [str(t) for t in texts]})


def _as_text(value: Any) -> str:
    """A cell as text: missing cells are empty, token lists are joined with spaces."""
    if isinstance(value, list | tuple | np.ndarray):
        return " ".join(str(v) for v in value).strip()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


TASK = Seq2Seq()
