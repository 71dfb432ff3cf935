"""A word-overlap baseline for extractive QA, to put the fine-tuned model's F1 in context.

The classic sliding-window idea of the SQuAD paper (Rajpurkar et al. 2016, after Richardson
et al. 2013): the answer usually sits next to the question's words. For each question, take
the context sentence that shares the most (idf-weighted) words with the question; inside
it, slide a window of 1..MAX_WORDS words over the words that are *not* in the question and
score each window by the question words found within WINDOW words around it (nearer counts
more), preferring shorter spans on ties. No training; prints one JSON object with F1/EM
(0-1) from the same metric code as the product.

    python bench/qa_overlap_baseline.py [--data PATH]   # default: xquad_en
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from public_data import SHARED_DATA  # noqa: E402

from workbench.engine.data import load_table  # noqa: E402
from workbench.engine.metrics.squad import squad_metrics  # noqa: E402

MAX_WORDS = 4  # longest answer tried, in words (most SQuAD answers are 1-3 words)
WINDOW = 6  # question words counted within this many words of a candidate span
_WORD = re.compile(r"\w+(?:[-'.]\w+)*", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
STOP = set(
    "a an the of in on at to for by with from and or is are was were be been being as that "
    "this these those it its which who whom whose what when where why how did do does done "
    "has have had not no into than then there their they he she his her him i you we our".split()
)


def words(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    """(lower-cased word, start, end) with character offsets into the text."""
    return [(m.group().lower(), offset + m.start(), offset + m.end()) for m in _WORD.finditer(text)]


def sentences(context: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _SENTENCE.finditer(context):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(context)))
    return [s for s in spans if context[s[0] : s[1]].strip()]


def answer(question: str, context: str, idf: dict[str, float]) -> str:
    asked = {w for w, _, _ in words(question) if w not in STOP}
    best_sentence, best_overlap = None, -1.0
    for start, end in sentences(context):
        seen = {w for w, _, _ in words(context[start:end])}
        overlap = sum(idf.get(w, 1.0) for w in asked & seen)
        if overlap > best_overlap:
            best_sentence, best_overlap = (start, end), overlap
    start, end = best_sentence or (0, len(context))
    tokens = words(context[start:end], start)
    best, best_score = None, -math.inf
    for i in range(len(tokens)):
        for j in range(i, min(i + MAX_WORDS, len(tokens))):
            span = tokens[i : j + 1]
            if any(w in asked or w in STOP for w, _, _ in (span[0], span[-1])):
                continue  # an answer neither starts nor ends with a question word or a stop word
            score = 0.0
            for k, (w, _, _) in enumerate(tokens):
                if w in asked and not i <= k <= j:
                    distance = i - k if k < i else k - j
                    if distance <= WINDOW:
                        score += idf.get(w, 1.0) / distance
            score -= 0.01 * (j - i)  # the shorter of equal spans
            if score > best_score:
                best, best_score = (span[0][1], span[-1][2]), score
    return context[best[0] : best[1]] if best else ""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(SHARED_DATA / "xquad_en" / "xquad.en.json"))
    args = parser.parse_args()
    started = time.time()
    frame = load_table(args.data)
    contexts = list(dict.fromkeys(frame["context"]))
    document_frequency = Counter(w for c in contexts for w in {w for w, _, _ in words(c)})
    idf = {w: math.log(len(contexts) / n) + 1.0 for w, n in document_frequency.items()}
    predictions, references = {}, {}
    for qid, question, context, answers in zip(
        frame["id"], frame["question"], frame["context"], frame["answers"], strict=True
    ):
        predictions[qid] = answer(question, context, idf)
        references[qid] = [a["text"] for a in answers]
    metrics = squad_metrics(predictions, references)
    print(
        json.dumps(
            {
                "baseline": "sentence overlap + sliding window",
                "data": Path(args.data).name,
                "date": date.today().isoformat(),
                "num_examples": len(references),
                **{k: round(v, 4) for k, v in metrics.items()},
                "seconds": round(time.time() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
