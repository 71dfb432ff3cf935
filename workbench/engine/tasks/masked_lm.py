"""Masked language modelling: continued pretraining of an encoder on the user's own text.

Data is plain text (one document per row of a text column; `load_table` reads a .txt file as
a `text` column). Documents are tokenised whole and then packed: in file order, joined into
one token stream with the family's separator (BERT's `[SEP]`, RoBERTa's `</s>`) between two
documents, and cut into blocks of `max_length` tokens (the content budget is `max_length`
minus the template's special tokens, then each block is wrapped with `template.single`). So
no text is cut away and no block is padding: a block may hold the end of one document and
the start of the next, the separator between them. Only the very last block is shorter.

Masking happens in `collate`, so every epoch sees new masks: `mlm_probability` (15 %) of
the non-special tokens are selected, and of those 80 % become the mask token, 10 % a random
token of the vocabulary (not a special one) and 10 % stay; the labels are the original ids
there and -100 elsewhere. Training draws on the global torch RNG (seeded by the run);
evaluation on a generator seeded by a fixed seed and the feature's index, so every
evaluation (and `workbench evaluate` on the same file) masks the same tokens and the
perplexities can be compared. With `whole_word_masking`, words are drawn instead of tokens
(each with the same probability, so still ~15 % of the tokens) and all their sub-tokens
are selected together.

With `next_sentence_prediction` (BERT's pretraining head), the features are pairs A/B
instead: each document is cut into chunks of the pair budget, each chunk split at a random
point into A and the rest; half of the pairs keep that rest as B (label 0, "is next", as
in `transformers`), half take B from a random place in another document (label 1), and
the rest of the chunk is then not used. Its metrics add `nsp_accuracy`.

The primary metric is the masked-token perplexity, exp(mean cross-entropy over the masked
tokens); lower is better. The run also reports it before the first step
(`perplexity_before`), so users see how far it dropped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.models.family import MASKED_LM, PRETRAINING
from workbench.engine.tasks.base import TEXT, Features, Rows, Task
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

TOP_K = 5
"""Fills per mask that `predict` returns."""
_CANDIDATES = 25
"""Fills gathered per mask, so that TOP_K remain after special tokens are dropped."""
EVAL_MASK_SEED = 1_234_567
"""Evaluation masks: a generator seeded with this plus the feature's index."""
PAIR_SEED = 7_654_321
"""Next-sentence pairs are drawn once, when encoding, from this seed (the same pairs for the
run's evaluation and for `workbench evaluate`)."""
MASK_KINDS = (0.8, 0.1)
"""Of the selected tokens: the share replaced by the mask token, then by a random token
(the rest stay unchanged), as in BERT."""
IGNORE = -100
# What a user types for a missing word, whatever the family: mapped to its own mask token.
MASK_MARKER = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)


@dataclass
class Masking:
    """What `collate` needs to mask a batch (the tokenizer's ids, the meta's settings)."""

    probability: float
    mask_id: int
    random_ids: Any
    """(R,) torch long tensor: the ids a selected token may be replaced by (no specials)."""
    whole_word: bool


@dataclass
class LMFeatures(Features):
    """Features with the masking settings (training and evaluation) or, for prediction, the
    tokenizer that turns the gathered ids into fills (`predict` has no other way to it)."""

    masking: Masking | None = None
    tokenizer: TextTokenizer | None = None


class MaskedLM(Task):
    name = "masked-lm"
    title = "Masked language modelling"
    description = (
        "Continues pretraining on your own text: hides 15 % of the tokens and trains the model "
        "to fill them in (domain adaptation before fine-tuning, or a fill-in-the-blank model)."
    )
    head_kind = MASKED_LM
    primary_metric = "perplexity"
    greater_is_better = False
    metric_names = ("perplexity", "loss", "nsp_accuracy")
    roles = (TEXT,)
    # The learning rate was chosen on validation data only: 90 % of the first 1,000 paragraphs
    # of wikitext2/valid.txt, evaluated on the other 10 % (bench/mlm_wikitext.py --tune, one
    # epoch, MiniLM whose masked-LM head starts fresh): perplexity 334 at 1.25e-4, 177 at 3e-4,
    # 444 at 1e-3. Epochs, batch size and max length stay the general defaults.
    defaults = {"learning_rate": 3e-4}
    evaluate_before_training = True
    rows_encode_apart = False  # documents are packed into blocks and paired across rows
    probe_texts = (
        "A short [MASK] sentence.",
        "Ein zweiter Satz, [MASK] als der erste, mit [MASK].",
    )

    # ---- reading data --------------------------------------------------------------------
    def read(self, config: RunConfig, load):
        self._check_model_can_mask(config)
        data = super().read(config, load)
        if config.next_sentence_prediction and min(len(data.train), len(data.eval)) < 2:
            raise UserError(
                "next-sentence prediction draws its random second segments from other documents, "
                "so training and evaluation data need at least two documents each; add text or "
                "drop --next-sentence-prediction"
            )
        return data

    def _check_model_can_mask(self, config: RunConfig) -> None:
        """Refuse, before any work, a model whose tokenizer has no mask token or (with
        next-sentence prediction) whose family has no pretraining head."""
        from workbench.engine.models.registry import family_for, read_config, resolve_model
        from workbench.engine.tokenizer import TextTokenizer

        folder = resolve_model(config.model)
        if config.next_sentence_prediction:
            family = family_for(read_config(folder), folder)
            if PRETRAINING not in family.heads:
                raise UserError(
                    f"{family.name} models have no next-sentence head (BERT models have one); "
                    "drop --next-sentence-prediction or choose a BERT model"
                )
        if TextTokenizer.from_folder(folder, 16).mask_id is None:
            raise UserError(
                f"the tokenizer of {folder.name} has no mask token ([MASK] or <mask>), so it "
                "cannot be trained as a masked language model; choose another model"
            )

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        from workbench.engine.data.columns import guess_columns

        if "text" in frame.columns:
            return {"text_column": "text"}
        return {"text_column": guess_columns(frame).text}

    def examples(self, frame, columns, meta, name, config):
        column = columns["text_column"]
        texts = [_as_text(v) for v in frame[column]]
        texts = [t for t in texts if t]  # empty lines and cells are dropped
        if not texts:
            raise UserError(
                f"{name} has no text in column {column!r}; pick the text column with --text-column"
            )
        if meta is None:
            meta = {
                "mlm_probability": float(config.mlm_probability),
                "whole_word_masking": bool(config.whole_word_masking),
                "next_sentence_prediction": bool(config.next_sentence_prediction),
            }
        return Rows({"text": texts}), meta

    # ---- the model ------------------------------------------------------------------------
    def head_for(self, meta: dict[str, Any]) -> str:
        return PRETRAINING if meta.get("next_sentence_prediction") else MASKED_LM

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return 0  # the vocabulary comes from the model's own config

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        # The vocabulary is the tokenizer's, whatever the checkpoint was trained for: keep a
        # pretrained masked-LM head (bert-base's); a checkpoint without one starts it fresh.
        return True

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {}  # no labels: transformers reads the vocabulary from the tokenizer

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        if "query" in rows:
            return encode_queries(rows["query"], tokenizer)
        whole_word = bool(meta.get("whole_word_masking"))
        masking = make_masking(tokenizer, float(meta.get("mlm_probability", 0.15)), whole_word)
        if meta.get("next_sentence_prediction"):
            features = encode_pairs(rows["text"], tokenizer, whole_word, PAIR_SEED)
        else:
            features = encode_blocks(rows["text"], tokenizer, whole_word)
        features.masking = masking
        return features

    def collate(self, features, indices, pad_id, multiple_of, training) -> dict[str, torch.Tensor]:
        import torch

        from workbench.engine.training.batching import collate_features

        batch = collate_features(features, indices, pad_id, multiple_of)
        special = batch.pop("special_tokens_mask", None)
        word_ids = batch.pop("word_ids", None)
        masking = getattr(features, "masking", None)
        if masking is None:  # prediction: the user placed the masks
            return batch
        ids = batch["input_ids"]
        masked, labels = ids.clone(), torch.full_like(ids, IGNORE)
        for row, index in enumerate(indices):
            length = len(features.sequences["input_ids"][index])
            generator = None
            if not training:
                generator = torch.Generator().manual_seed(EVAL_MASK_SEED + int(index))
            masked[row, :length], labels[row, :length] = mask_tokens(
                ids[row, :length],
                special[row, :length] == 0,
                masking,
                None if word_ids is None else word_ids[row, :length],
                generator,
            )
        batch["input_ids"], batch["labels"] = masked, labels
        return batch

    def loss_units(self, meta):
        """Masked tokens (with next-sentence prediction, whose loss is per example, splitting
        by tokens is close, not exact)."""
        from workbench.engine.tasks.loss_units import token_units

        return token_units()

    def loss(self, logits, batch, meta) -> torch.Tensor:
        import torch.nn.functional as F

        mlm, nsp = logits if isinstance(logits, tuple) else (logits, None)
        labels = batch["labels"]  # (B, T), -100 where nothing is to be predicted
        chosen = labels != IGNORE
        picked = mlm[chosen].float()  # (N, V): only the masked positions, not (B, T, V)
        loss = F.cross_entropy(picked, labels[chosen], reduction="sum") / chosen.sum().clamp(min=1)
        if nsp is not None:
            loss = loss + F.cross_entropy(nsp.float(), batch["next_sentence_label"])
        return loss

    def gather(self, logits, batch) -> list[np.ndarray]:
        """Evaluation: per feature [summed masked-token loss, masked tokens] (+ [NSP correct,
        NSP loss]), never the (T, V) logits. Prediction: per feature (masks, candidates, 2)
        of [token id, probability]."""
        import torch
        import torch.nn.functional as F

        mlm, nsp = logits if isinstance(logits, tuple) else (logits, None)
        if "labels" not in batch:
            out = []
            for row in range(mlm.shape[0]):
                where = batch["mask_here"][row] == 1
                probs = mlm[row][where].float().softmax(-1)  # (M, V)
                top = probs.topk(min(_CANDIDATES, probs.shape[-1]), dim=-1)
                out.append(torch.stack([top.indices.float(), top.values], -1).cpu().numpy())
            return out
        labels = batch["labels"]
        chosen = labels != IGNORE  # (B, T)
        rows_of = chosen.nonzero()[:, 0]  # (N,) the row of each masked position
        token_loss = F.cross_entropy(mlm[chosen].float(), labels[chosen], reduction="none")  # (N,)
        summed = torch.zeros(labels.shape[0], device=labels.device).index_add_(
            0, rows_of, token_loss
        )
        columns = [summed, chosen.sum(1).float()]
        if nsp is not None:
            target = batch["next_sentence_label"]
            columns.append((nsp.argmax(-1) == target).float())
            columns.append(F.cross_entropy(nsp.float(), target, reduction="none"))
        return list(torch.stack(columns, 1).cpu().numpy())

    # ---- results --------------------------------------------------------------------------
    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        if not outputs:
            raise UserError("no text to evaluate on; add text to the evaluation data")
        stacked = np.stack(outputs).astype(np.float64)  # (features, 2 or 4)
        count = float(stacked[:, 1].sum())
        loss = float(stacked[:, 0].sum() / count) if count else float("nan")
        metrics: dict[str, Any] = {
            "perplexity": _perplexity(loss),
            "loss": loss,
            "num_examples": len(rows),
            "num_blocks": len(outputs),
            "masked_tokens": int(count),
        }
        if stacked.shape[1] == 4:
            metrics["nsp_accuracy"] = float(stacked[:, 2].mean())
            metrics["nsp_loss"] = float(stacked[:, 3].mean())
        return metrics

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        texts = inputs.get("text") or []
        if not texts:
            raise UserError('no text to predict; give --text "Paris is the [MASK] of France."')
        for text in texts:
            if not MASK_MARKER.search(text):
                short = text if len(text) <= 60 else text[:57] + "…"
                raise UserError(
                    f"put [MASK] where a word is missing (no [MASK] in {short!r}), "
                    'e.g. --text "Paris is the [MASK] of France."'
                )
        return Rows({"query": list(texts)})

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        tokenizer = features.tokenizer
        unwanted = set(tokenizer.special_ids) | {tokenizer.mask_id, tokenizer.unk_id}
        filler = _Filler(tokenizer)
        results = []
        for text, spans, candidates in zip(
            rows["query"], features.extra["mask_spans"], outputs, strict=True
        ):
            masks = []
            for (start, end), ranked in zip(spans, candidates, strict=True):
                fills = []
                for token_id, score in ranked:
                    token_id = int(token_id)
                    if token_id in unwanted:
                        continue
                    fills.append(
                        {
                            "token": tokenizer.id_to_token(token_id),
                            "score": round(float(score), 6),
                            "text": filler.fill(text, start, end, token_id),
                        }
                    )
                    if len(fills) == TOP_K:
                        break
                masks.append({"position": start, "fills": fills})
            results.append({"masks": masks})
        return results


# ---- features -------------------------------------------------------------------------------
def _as_text(value: Any) -> str:
    """A cell as text: missing cells are empty, token lists (CoNLL) are joined with spaces."""
    if isinstance(value, list | tuple | np.ndarray):
        return " ".join(str(v) for v in value).strip()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


def make_masking(tokenizer: TextTokenizer, probability: float, whole_word: bool) -> Masking:
    import torch

    if tokenizer.mask_id is None:
        raise UserError("this model's tokenizer has no mask token; choose another model")
    unwanted = _special_set(tokenizer)
    random_ids = torch.tensor(
        [i for i in range(tokenizer.vocab_size) if i not in unwanted], dtype=torch.long
    )
    return Masking(probability, tokenizer.mask_id, random_ids, whole_word)


def _special_set(tokenizer: TextTokenizer) -> set[int]:
    """Ids that are never selected for masking (nor drawn as random replacements)."""
    ids = set(tokenizer.special_ids)
    if tokenizer.mask_id is not None:
        ids.add(tokenizer.mask_id)
    return ids


def _separator(tokenizer: TextTokenizer) -> int | None:
    """The token between two packed documents: the family's end-of-text (BERT's [SEP],
    RoBERTa's </s>)."""
    suffix = tokenizer.template.suffix
    return suffix[-1] if suffix else None


def encode_blocks(texts: list[str], tokenizer: TextTokenizer, whole_word: bool) -> LMFeatures:
    """Documents packed into blocks of max_length tokens (see the module docstring)."""
    template = tokenizer.template
    budget = max(tokenizer.max_length - template.single_extra, 1)
    separator = _separator(tokenizer)
    specials = _special_set(tokenizer)
    stream: list[int] = []
    words: list[int] = []
    documents: list[int] = []
    next_word = 0
    for doc, encoding in enumerate(tokenizer.encode_untruncated(texts)):
        if not encoding.ids:
            continue
        if stream and separator is not None:
            stream.append(separator)
            words.append(-1)
            documents.append(doc)
        local = [-1 if w is None else w for w in encoding.word_ids]
        stream.extend(encoding.ids)
        words.extend(-1 if w < 0 else next_word + w for w in local)
        documents.extend([doc] * len(encoding.ids))
        next_word += max(local, default=-1) + 1
    ids_out, special_out, words_out, example_index = [], [], [], []
    pad_prefix, pad_suffix = [-1] * len(template.prefix), [-1] * len(template.suffix)
    for start in range(0, len(stream), budget):
        chunk = stream[start : start + budget]
        if all(t in specials for t in chunk):
            continue  # a lone separator at the end
        ids = template.single(chunk)
        ids_out.append(ids)
        special_out.append([1 if t in specials else 0 for t in ids])
        words_out.append(pad_prefix + words[start : start + budget] + pad_suffix)
        example_index.append(documents[start])
    if not ids_out:
        raise UserError("the text gives no tokens to train on; add text to the data")
    sequences = {"input_ids": ids_out, "special_tokens_mask": special_out}
    if whole_word:
        sequences["word_ids"] = words_out
    return LMFeatures(sequences, example_index=np.asarray(example_index, dtype=np.int64))


def encode_pairs(
    texts: list[str], tokenizer: TextTokenizer, whole_word: bool, seed: int
) -> LMFeatures:
    """Segment pairs for next-sentence prediction: 50 % true continuations (label 0), 50 %
    a second segment from another document (label 1)."""
    template = tokenizer.template
    budget = max(tokenizer.max_length - template.pair_extra, 2)
    specials = _special_set(tokenizer)
    rng = np.random.default_rng(seed)
    docs: list[tuple[list[int], list[int]]] = []  # (ids, word ids) per document with tokens
    next_word = 0
    for encoding in tokenizer.encode_untruncated(texts):
        if not encoding.ids:
            continue
        local = [-1 if w is None else w for w in encoding.word_ids]
        docs.append((list(encoding.ids), [-1 if w < 0 else next_word + w for w in local]))
        next_word += max(local, default=-1) + 1
    if len(docs) < 2:
        raise UserError(
            "next-sentence prediction needs at least two documents with text; add text or "
            "drop --next-sentence-prediction"
        )
    ids_out, types_out, special_out, words_out, labels, pair_docs = [], [], [], [], [], []
    for d, (ids, words) in enumerate(docs):
        for start in range(0, len(ids), budget):
            chunk, chunk_words = ids[start : start + budget], words[start : start + budget]
            if len(chunk) < 2:
                continue
            a_end = int(rng.integers(1, len(chunk)))
            first, first_words = chunk[:a_end], chunk_words[:a_end]
            if rng.random() < 0.5:
                second, second_words, label, other = chunk[a_end:], chunk_words[a_end:], 0, d
            else:
                other = int(rng.integers(0, len(docs) - 1))
                other += other >= d  # any document but this one
                other_ids, other_words = docs[other]
                at = int(rng.integers(0, len(other_ids)))
                room = budget - len(first)
                second, second_words = other_ids[at : at + room], other_words[at : at + room]
                label = 1
            pair, types = template.pair(first, second)
            ids_out.append(pair)
            types_out.append(types)
            special_out.append([1 if t in specials else 0 for t in pair])
            head = [-1] * len(template.pair_prefix)
            middle = [-1] * len(template.pair_middle)
            tail = [-1] * len(template.pair_suffix)
            words_out.append(head + first_words + middle + second_words + tail)
            labels.append(label)
            pair_docs.append((d, other))
    if not ids_out:
        raise UserError("the text gives no segment pairs to train on; add text to the data")
    sequences = {
        "input_ids": ids_out,
        "token_type_ids": types_out,
        "special_tokens_mask": special_out,
    }
    if whole_word:
        sequences["word_ids"] = words_out
    return LMFeatures(
        sequences,
        values={"next_sentence_label": np.asarray(labels, dtype=np.int64)},
        extra={"pair_documents": pair_docs},
    )


def encode_queries(texts: list[str], tokenizer: TextTokenizer) -> LMFeatures:
    """One feature per typed text, each mask marker ([MASK] or <mask>) replaced by the
    family's mask id; a text longer than max_length keeps a window around its masks."""
    template = tokenizer.template
    budget = max(tokenizer.max_length - template.single_extra, 1)
    ids_out, where_out, spans_out = [], [], []
    for text in texts:
        spans = [m.span() for m in MASK_MARKER.finditer(text)]
        pieces = MASK_MARKER.split(text)
        # The mask takes the space before it (RoBERTa's <mask> does), so a piece before a
        # mask loses its trailing spaces: "the " + <mask> is "the" + <mask>.
        pieces = [p.rstrip() for p in pieces[:-1]] + [pieces[-1]]
        encoded = tokenizer.encode_content(pieces)
        content: list[int] = []
        positions: list[int] = []
        for k, piece_ids in enumerate(encoded):
            content.extend(piece_ids)
            if k < len(spans):
                positions.append(len(content))
                content.append(tokenizer.mask_id)
        if len(content) > budget:
            first, last = positions[0], positions[-1]
            if last - first + 1 > budget:
                raise UserError(
                    f"the masks of a text are too far apart for the model's max length "
                    f"({tokenizer.max_length} tokens); predict them in shorter texts"
                )
            start = min(max(first - (budget - (last - first + 1)) // 2, 0), len(content) - budget)
            content = content[start : start + budget]
            positions = [p - start for p in positions]
        ids = template.single(content)
        where = [0] * len(ids)
        for p in positions:
            where[len(template.prefix) + p] = 1
        ids_out.append(ids)
        where_out.append(where)
        spans_out.append(spans)
    return LMFeatures(
        {"input_ids": ids_out, "mask_here": where_out},
        extra={"mask_spans": spans_out},
        tokenizer=tokenizer,
    )


# ---- masking --------------------------------------------------------------------------------
def mask_tokens(
    ids: torch.Tensor,
    selectable: torch.Tensor,
    masking: Masking,
    word_ids: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sequence's masked ids and labels, both (T,). `selectable` (T,) is False at special
    tokens and padding, which are never selected; `word_ids` (T,) groups the sub-tokens of a
    word (whole-word masking); `generator` None draws on the global RNG (training)."""
    import torch

    length = ids.shape[0]
    if masking.whole_word and word_ids is not None:
        words = word_ids[selectable]  # (S,)
        unique, inverse = torch.unique(words, return_inverse=True)
        drawn = torch.rand(unique.shape[0], generator=generator) < masking.probability  # (W,)
        chosen = torch.zeros(length, dtype=torch.bool)
        chosen[selectable] = drawn[inverse]
    else:
        chosen = (torch.rand(length, generator=generator) < masking.probability) & selectable
    kind = torch.rand(length, generator=generator)  # (T,) which replacement
    to_mask = chosen & (kind < MASK_KINDS[0])
    to_random = chosen & (kind >= MASK_KINDS[0]) & (kind < MASK_KINDS[0] + MASK_KINDS[1])
    picks = torch.randint(len(masking.random_ids), (length,), generator=generator)
    masked = ids.clone()
    masked[to_mask] = masking.mask_id
    masked[to_random] = masking.random_ids[picks][to_random]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return masked, labels


# ---- results --------------------------------------------------------------------------------
def _perplexity(loss: float) -> float:
    if not math.isfinite(loss):
        return float("nan") if math.isnan(loss) else float("inf")
    return math.exp(loss) if loss < 700 else float("inf")


class _Filler:
    """The typed text with one mask replaced by a token: a word-initial token takes the mask's
    place, a continuation (BERT's ##s, a RoBERTa piece without a leading space) joins the
    word before it."""

    def __init__(self, tokenizer: TextTokenizer) -> None:
        self._tokenizer = tokenizer
        self._anchor = tokenizer.encode_content(["a"])[0]
        self._anchor_text = tokenizer.decode(self._anchor)

    def fill(self, text: str, start: int, end: int, token_id: int) -> str:
        joined = self._tokenizer.decode([*self._anchor, token_id])
        tail = joined[len(self._anchor_text) :] if joined.startswith(self._anchor_text) else joined
        if tail[:1].isspace() or not tail:
            return text[:start] + tail.strip() + text[end:]
        return text[:start].rstrip() + tail + text[end:]


TASK = MaskedLM()
