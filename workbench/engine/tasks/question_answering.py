"""Extractive question answering (SQuAD v1.1 / v2.0): the answer is a span of the context.

Each question is paired with windows over its context, `[CLS] question [SEP] window [SEP]`
in the family's own template, so a context longer than `max_length` is read in overlapping
windows (`stride` tokens shared by neighbours). The head gives a start and an end logit per
token; a window is trained to point at the answer when the whole answer lies inside it, and
at its first token ([CLS]) otherwise, as are unanswerable (v2.0) questions. Answers are
read back over all windows of a question: the best-scoring valid start/end pair among
context tokens, sliced out of the context by the tokens' character offsets, or "" when the
[CLS] ("no answer") score beats it on v2.0 data.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.metrics.squad import squad_metrics
from workbench.engine.models.family import QUESTION_ANSWERING
from workbench.engine.tasks.base import ANSWER, CONTEXT, QUESTION, Features, Rows, Task, TaskData
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

_QUESTION_NAMES = ("question", "questions", "query", "q")
_CONTEXT_NAMES = ("context", "contexts", "passage", "paragraph", "document", "story")
_ANSWER_NAMES = ("answers", "answer", "answer_text", "answer_texts", "answers_text", "answers.text")
_START_NAMES = (
    "answer_start",
    "answer_starts",
    "answers.answer_start",
    "answer_start_char",
    "start",
)

MAX_QUESTION_TOKENS = 64  # a longer question keeps its first 64 tokens (BERT's SQuAD recipe)
MAX_ANSWER_TOKENS = 30  # longest answer considered, in tokens
N_BEST = 20  # start and end candidates per window
TOP_K = 5  # answers listed per prediction
EXAMPLES_KEPT = 300  # examples in the metrics for the GUI's QA view
CONTEXT_AROUND = 200  # characters of context kept on each side of the answer in those
_NOTICES = "question_answering_notices"  # frame.attrs key for what `examples` has to say


class QuestionAnswering(Task):
    name = "question-answering"
    title = "Question answering"
    description = (
        "Adds a span head on top of the model and fine-tunes everything to find the answer "
        "to a question in its context (SQuAD-style; unanswerable questions of SQuAD v2.0 too)."
    )
    head_kind = QUESTION_ANSWERING
    primary_metric = "f1"
    metric_names = ("f1", "exact_match", "loss")
    roles = (QUESTION, CONTEXT, ANSWER)
    prediction_inputs = ("text", "context")
    # 384-token windows (stride 128, RunConfig's) hold most SQuAD paragraphs whole; 2 epochs
    # at 1e-4 in batches of 16 (~480 updates on 3.8k questions) for a new head on small data.
    # Picked before any xquad number was seen; the held-out-articles check
    # (bench/qa_squad.py --split validation) had not finished on the busy shared CPUs.
    # Trained on all of squad/train-subset.json they give F1 0.572 / EM 0.430 on xquad_en.
    defaults = {"epochs": 2, "learning_rate": 1e-4, "batch_size": 16, "max_length": 384}

    # ---- reading data --------------------------------------------------------------------
    def read(self, config: RunConfig, load: Callable[[str], pd.DataFrame]) -> TaskData:
        """As every task reads, plus what `examples` had to say (skipped rows, starts found)."""
        frames: list[pd.DataFrame] = []

        def tracked(path: str) -> pd.DataFrame:
            frame = load(path)
            frames.append(frame)
            return frame

        data = super().read(config, tracked)
        for frame in frames:
            data.notices.extend(frame.attrs.get(_NOTICES, []))
        return data

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        lower = {str(c).lower().strip(): c for c in frame.columns}

        def first(names: tuple[str, ...]) -> str | None:
            return next((lower[n] for n in names if n in lower), None)

        return {
            "question_column": first(_QUESTION_NAMES),
            "context_column": first(_CONTEXT_NAMES),
            "answer_column": first(_ANSWER_NAMES),
        }

    def examples(self, frame, columns, meta, name, config):
        question_col = columns["question_column"]
        context_col = columns["context_column"]
        answer_col = columns["answer_column"]
        start_col = _start_column(frame, columns)
        notices: list[str] = []
        if start_col is None and _holds_plain_texts(frame[answer_col]):
            notices.append(
                f"{name} has no answer_start column; each answer is taken at the first occurrence "
                "of its text in the context"
            )
        ids = frame["id"].astype(str).tolist() if "id" in frame.columns else None
        out: dict[str, list[Any]] = {
            k: [] for k in ("id", "question", "context", "answers", "answer_start", "answer_end")
        }
        empty = bad = 0
        first_bad: str | None = None
        starts = frame[start_col].tolist() if start_col is not None else [None] * len(frame)
        for i, (question, context, answer, start) in enumerate(
            zip(
                frame[question_col].tolist(),
                frame[context_col].tolist(),
                frame[answer_col].tolist(),
                starts,
                strict=True,
            )
        ):
            if (
                _missing(question)
                or _missing(context)
                or not str(question).strip()
                or not str(context).strip()
            ):
                empty += 1
                continue
            question, context = str(question), str(context)
            spans = [
                _locate(text, answer_start, context)
                for text, answer_start in _answers_of(answer, start, answer_col, name)
            ]
            found = [s for s in spans if s is not None]
            if spans and not found:
                bad += 1
                first_bad = first_bad or (ids[i] if ids else f"row {i + 1}")
                continue
            out["id"].append(ids[i] if ids else str(i))
            out["question"].append(question)
            out["context"].append(context)
            out["answers"].append([context[s:e] for s, e in found])
            target = found[0] if found else (-1, -1)  # -1: unanswerable, the target is [CLS]
            out["answer_start"].append(target[0])
            out["answer_end"].append(target[1])
        kept = len(out["id"])
        if bad:
            message = (
                f"{bad:,} of {len(frame):,} questions of {name} have an answer that is not in their "
                f"context at its answer_start (first: {first_bad})"
            )
            if kept == 0:
                raise UserError(
                    f"{message}; no question is left. Check that --answer-column holds the answer "
                    "text and --context-column the passage it is taken from"
                )
            notices.append(f"skipped {message}")
        if empty:
            notices.append(f"skipped {empty:,} rows of {name} with an empty question or context")
        if kept == 0:
            raise UserError(
                f"{name} has no question with a context; fill the columns {question_col!r} and "
                f"{context_col!r} (or pick others with --question-column and --context-column)"
            )
        answered = sum(1 for s in out["answer_start"] if s >= 0)
        if meta is None:
            if answered == 0:
                raise UserError(
                    f"no question of {name} has an answer; pick the column with the answer text "
                    "(or SQuAD `answers`) with --answer-column"
                )
            meta = {"version_2": answered < kept}
        frame.attrs.setdefault(_NOTICES, []).extend(notices)
        return Rows(out), meta

    def split(self, rows: Rows, fraction: float, seed: int) -> tuple[Rows, Rows]:
        """Hold out whole contexts: questions about one paragraph share most of their answer
        evidence, so splitting them would score the model on text it was trained on."""
        if len(rows) < 2:
            raise UserError(
                "too few examples to hold out a validation split; add data or give --eval-data"
            )
        groups: dict[str, list[int]] = defaultdict(list)
        for i, context in enumerate(rows["context"]):
            groups[context].append(i)
        if len(groups) < 2:
            return super().split(rows, fraction, seed)
        keys = list(groups)
        order = np.random.default_rng(seed).permutation(len(keys))
        wanted = max(1, int(round(len(rows) * fraction)))
        held: list[int] = []
        for g in order[:-1]:  # at least one context stays for training
            if len(held) >= wanted:
                break
            held.extend(groups[keys[g]])
        kept = sorted(set(range(len(rows))) - set(held))
        return rows.subset(kept), rows.subset(sorted(held))

    # ---- the model ------------------------------------------------------------------------
    def num_outputs(self, meta: dict[str, Any]) -> int:
        return 2  # start and end logits

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        # Any question answering head fits any data (two outputs); keep a trained one.
        return saved is not None

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {}  # transformers' QA heads read only num_labels, whose default (2) is right

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        max_length = min(config.max_length or tokenizer.max_length, tokenizer.max_length)
        unique = list(dict.fromkeys(rows["context"]))
        encoded = tokenizer.encode_untruncated(unique)
        by_context = {
            c: (np.asarray(e.ids, dtype=np.int64), _offsets(e.offsets))
            for c, e in zip(unique, encoded, strict=True)
        }
        questions = [e.ids for e in tokenizer.encode_untruncated(rows["question"])]
        has_targets = "answer_start" in rows
        windows = encode_windows(
            questions,
            [by_context[c] for c in rows["context"]],
            tokenizer.template,
            max_length,
            config.stride,
            (rows["answer_start"], rows["answer_end"]) if has_targets else None,
        )
        return windows

    def loss(self, logits, batch, meta) -> torch.Tensor:
        import torch.nn.functional as F

        mask = batch["attention_mask"].bool().unsqueeze(-1)  # (B, T, 1)
        logits = logits.float().masked_fill(~mask, -1e9)  # (B, T, 2): padding never wins
        start = F.cross_entropy(logits[..., 0], batch["start_positions"])
        end = F.cross_entropy(logits[..., 1], batch["end_positions"])
        return (start + end) / 2

    def gather(self, logits, batch) -> list[np.ndarray]:
        """Each window's (length, 2) logits, without the batch's padding."""
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        values = logits.float().cpu().numpy()  # (B, T, 2)
        return [values[i, :n] for i, n in enumerate(lengths)]

    # ---- results --------------------------------------------------------------------------
    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        answers = best_answers(outputs, features, rows["context"], bool(meta.get("version_2")))
        predictions = {str(i): a[0]["answer"] if a else "" for i, a in enumerate(answers)}
        references = {str(i): golds for i, golds in enumerate(rows["answers"])}
        metrics: dict[str, Any] = dict(squad_metrics(predictions, references))
        if "start_positions" in features.values:
            metrics["loss"] = span_loss(outputs, features)
        metrics["num_examples"] = len(rows)
        metrics["examples"] = [
            [
                rows["question"][i][:500],
                _trim_context(
                    rows["context"][i], rows["answer_start"][i], rows["answer_end"][i], answers[i]
                ),
                list(rows["answers"][i]),
                predictions[str(i)],
                round(answers[i][0]["score"], 5) if answers[i] else 0.0,
            ]
            for i in range(min(len(rows), EXAMPLES_KEPT))
        ]
        return metrics

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        results = []
        for ranked in best_answers(outputs, features, rows["context"], bool(meta.get("version_2"))):
            best = ranked[0] if ranked else {"answer": "", "start": 0, "end": 0, "score": 0.0}
            results.append({**best, "top_k": ranked[:TOP_K]})
        return results

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        questions = inputs.get("text") or []
        contexts = inputs.get("context")
        if not questions:
            raise UserError("no question to answer; type a question or give --text")
        if not contexts:
            raise UserError(
                'question answering needs a context to find the answer in; give --context "..." '
                "after each --text"
            )
        if len(contexts) != len(questions):
            raise UserError(
                f"give one --context per question ({len(questions)} questions, {len(contexts)} contexts)"
            )
        if any(not str(c).strip() for c in contexts):
            raise UserError(
                "a context is empty; give the passage the answer is taken from with --context"
            )
        return Rows(
            {"question": [str(q) for q in questions], "context": [str(c) for c in contexts]}
        )


# ---- windows ----------------------------------------------------------------------------
def encode_windows(
    questions: list[list[int]],
    contexts: list[tuple[np.ndarray, np.ndarray]],
    template,
    max_length: int,
    stride: int,
    targets: tuple[list[int], list[int]] | None,
) -> Features:
    """`[CLS] question [SEP] window [SEP]` features over each context's tokens.

    `contexts` holds (ids, (n, 2) character offsets) per question; `targets` the answer's
    character span per question ((-1, -1): unanswerable), or None when predicting. The
    question keeps at most MAX_QUESTION_TOKENS tokens (and at most half of the room); windows
    of the context fill the rest, neighbours sharing `stride` tokens (at most half a window,
    so that windows always move on)."""
    room = max(max_length - template.pair_extra, 2)
    question_budget = max(1, min(MAX_QUESTION_TOKENS, room // 2))
    ids_out: list[list[int]] = []
    types_out: list[list[int]] = []
    offsets_out: list[np.ndarray] = []
    mask_out: list[np.ndarray] = []
    owner: list[int] = []
    start_positions: list[int] = []
    end_positions: list[int] = []
    head = len(template.pair_prefix)
    for i, (question, (context_ids, offsets)) in enumerate(zip(questions, contexts, strict=True)):
        question = list(question[:question_budget])
        budget = room - len(question)
        step = budget - min(max(stride, 0), budget // 2)
        context_start = head + len(question) + len(template.pair_middle)
        span = None
        if targets is not None and targets[0][i] >= 0:
            span = _token_span(offsets, targets[0][i], targets[1][i])
        n = len(context_ids)
        start = 0
        while True:
            end = min(start + budget, n)
            ids, types = template.pair(question, context_ids[start:end].tolist())
            length = len(ids)
            window_offsets = np.full((length, 2), -1, dtype=np.int32)
            window_offsets[context_start : context_start + end - start] = offsets[start:end]
            mask = np.zeros(length, dtype=bool)
            mask[context_start : context_start + end - start] = True
            ids_out.append(ids)
            types_out.append(types)
            offsets_out.append(window_offsets)
            mask_out.append(mask)
            owner.append(i)
            if targets is not None:
                if span is not None and start <= span[0] and span[1] < end:
                    start_positions.append(context_start + span[0] - start)
                    end_positions.append(context_start + span[1] - start)
                else:
                    start_positions.append(0)  # [CLS]: the answer is not (wholly) here
                    end_positions.append(0)
            if end >= n:
                break
            start += step
    values = {}
    if targets is not None:
        values = {
            "start_positions": np.asarray(start_positions, dtype=np.int64),
            "end_positions": np.asarray(end_positions, dtype=np.int64),
        }
    return Features(
        {"input_ids": ids_out, "token_type_ids": types_out},
        values,
        example_index=np.asarray(owner, dtype=np.int64),
        extra={"offsets": offsets_out, "context_mask": mask_out},
    )


def _offsets(pairs: list[tuple[int, int]]) -> np.ndarray:
    return np.asarray(pairs, dtype=np.int32).reshape(-1, 2)


def _token_span(offsets: np.ndarray, start_char: int, end_char: int) -> tuple[int, int] | None:
    """First and last context token of the characters [start_char, end_char), or None when
    no token covers them (characters the tokenizer drops)."""
    if len(offsets) == 0:
        return None
    first = int(
        np.searchsorted(offsets[:, 1], start_char, side="right")
    )  # first token ending after start
    last = (
        int(np.searchsorted(offsets[:, 0], end_char, side="left")) - 1
    )  # last token starting before end
    if first >= len(offsets) or last < first:
        return None
    return first, last


# ---- post-processing --------------------------------------------------------------------
def best_answers(
    outputs: list[np.ndarray], features: Features, contexts: list[str], version_2: bool
) -> list[list[dict[str, Any]]]:
    """Per example, its answers best first: `{"answer", "start", "end", "score"}` with
    character offsets into the context and the softmax of span scores over the n-best (the
    empty "no answer" among them on v2.0 data), at most N_BEST of them."""
    windows: dict[int, list[int]] = defaultdict(list)
    for f, example in enumerate(features.examples_of()):
        windows[int(example)].append(f)
    results = []
    for example, context in enumerate(contexts):
        spans: dict[tuple[int, int], float] = {}
        null_score = math.inf
        for f in windows.get(example, []):
            logits = outputs[f]
            offsets = features.extra["offsets"][f]
            candidate = np.flatnonzero(features.extra["context_mask"][f][: len(logits)])
            null_score = min(null_score, float(logits[0, 0] + logits[0, 1]))
            if len(candidate) == 0:
                continue
            starts = candidate[np.argsort(-logits[candidate, 0], kind="stable")[:N_BEST]]
            ends = candidate[np.argsort(-logits[candidate, 1], kind="stable")[:N_BEST]]
            s, e = starts[:, None], ends[None, :]  # (n, 1), (1, m)
            valid = (e >= s) & (e - s < MAX_ANSWER_TOKENS)
            scores = logits[s, 0] + logits[e, 1]  # (n, m)
            for a, b in zip(*np.nonzero(valid), strict=True):
                key = (int(offsets[starts[a], 0]), int(offsets[ends[b], 1]))
                score = float(scores[a, b])
                if score > spans.get(key, -math.inf):
                    spans[key] = score
        ranked = sorted(spans.items(), key=lambda item: -item[1])[:N_BEST]
        entries = [_answer(context, s, e, score) for (s, e), score in ranked]
        if version_2 and math.isfinite(null_score):
            # "No answer" is always ranked (as in transformers' run_qa), low as it may be.
            entries = entries[: N_BEST - 1]
            entries.append({"answer": "", "start": 0, "end": 0, "score": null_score})
            entries.sort(key=lambda entry: -entry["score"])
        if entries:
            raw = np.asarray([entry["score"] for entry in entries])
            probs = np.exp(raw - raw.max())
            probs /= probs.sum()
            for entry, p in zip(entries, probs, strict=True):
                entry["score"] = float(p)
        results.append(entries)
    return results


def _answer(context: str, start: int, end: int, score: float) -> dict[str, Any]:
    """The span's text, without whitespace at its ends (offsets moved to match)."""
    text = context[start:end]
    stripped = text.strip()
    if stripped and stripped != text:
        start += len(text) - len(text.lstrip())
        end = start + len(stripped)
    return {"answer": context[start:end], "start": start, "end": end, "score": score}


def span_loss(outputs: list[np.ndarray], features: Features) -> float:
    """Mean over windows of (CE(start) + CE(end)) / 2, as in training."""
    total = 0.0
    for f, logits in enumerate(outputs):
        for column, name in ((0, "start_positions"), (1, "end_positions")):
            row = logits[:, column].astype(np.float64)
            top = row.max()
            total += (top + math.log(np.exp(row - top).sum()) - row[features.values[name][f]]) / 2
    return total / max(len(outputs), 1)


def _trim_context(context: str, start: int, end: int, ranked: list[dict[str, Any]]) -> str:
    """The context around the gold answer (or the prediction), for the GUI's QA view."""
    if start < 0:
        start, end = (
            (ranked[0]["start"], ranked[0]["end"]) if ranked and ranked[0]["answer"] else (0, 0)
        )
    left, right = max(0, start - CONTEXT_AROUND), min(len(context), end + CONTEXT_AROUND)
    return ("…" if left else "") + context[left:right] + ("…" if right < len(context) else "")


# ---- reading answers --------------------------------------------------------------------
def _start_column(frame: pd.DataFrame, columns: dict[str, str]) -> str | None:
    taken = set(columns.values())
    lower = {str(c).lower().strip(): c for c in frame.columns if c not in taken}
    return next((lower[n] for n in _START_NAMES if n in lower), None)


def _holds_plain_texts(column: pd.Series) -> bool:
    sample = column.dropna().head(50).tolist()
    return bool(sample) and all(isinstance(v, str) for v in sample)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _answers_of(value: Any, start: Any, column: str, name: str) -> list[tuple[str, int | None]]:
    """(text, start or None) per gold answer of one row; [] for an unanswerable question.

    Takes a plain text (with the start column's value), SQuAD's list of {text, answer_start},
    the `datasets` form {"text": [...], "answer_start": [...]}, or a list of texts."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if _missing(value):
        return []
    if isinstance(value, str):
        return [(value, _int_or_none(start))] if value.strip() else []
    if isinstance(value, dict):
        texts, starts = value.get("text", []), value.get("answer_start")
        if isinstance(texts, str):
            texts, starts = [texts], [starts]
        texts = list(texts.tolist() if isinstance(texts, np.ndarray) else texts)
        starts = list(
            starts.tolist() if isinstance(starts, np.ndarray) else (starts or [None] * len(texts))
        )
        return [
            (str(t), _int_or_none(s)) for t, s in zip(texts, starts, strict=False) if str(t).strip()
        ]
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            if isinstance(item, dict) and "text" in item:
                if str(item["text"]).strip():
                    out.append((str(item["text"]), _int_or_none(item.get("answer_start"))))
            elif isinstance(item, str):
                if item.strip():
                    out.append((item, None))
            else:
                raise _bad_answers(column, name, item)
        return out
    if isinstance(value, int | float):
        return [(str(value), _int_or_none(start))]
    raise _bad_answers(column, name, value)


def _bad_answers(column: str, name: str, value: Any) -> UserError:
    return UserError(
        f"the answer column {column!r} of {name} holds {type(value).__name__} values; it needs the "
        "answer text (with an answer_start column) or SQuAD answers; pick it with --answer-column"
    )


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        value = value[0] if len(value) else None
        return _int_or_none(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) else None


def _locate(text: str, start: int | None, context: str) -> tuple[int, int] | None:
    """The answer's character span: at `start` when given (surrounding whitespace of the
    answer forgiven), else its first occurrence; None when it is not there."""
    stripped = text.strip()
    if start is None:
        found = context.find(stripped)
        return None if found < 0 else (found, found + len(stripped))
    start += len(text) - len(text.lstrip())
    if start >= 0 and context[start : start + len(stripped)] == stripped:
        return start, start + len(stripped)
    return None


TASK = QuestionAnswering()
