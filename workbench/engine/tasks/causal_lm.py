"""Causal language modelling: train a decoder (GPT-2, the Llama family) to continue text.

Two kinds of data, told apart by their columns:

- **plain text** (a .txt file, or a text column of a CSV/JSONL): every token is trained on.
  Each document is the family's template around its tokens (Llama's `<s>`, nothing for
  GPT-2) followed by the end-of-text token, so the model learns where a text ends.
- **prompt/response pairs** (`--prompt-column`, `--response-column`): the loss is on the
  response tokens only (and the end of the response), never on the prompt. When the
  tokenizer folder has a chat template (`chat_template` in tokenizer_config.json, or
  chat_template.jinja), each pair is rendered with it as a user and an assistant turn, as
  `transformers`' `apply_chat_template` does, and the prompt's share is the rendering of the
  user turn with the generation prompt; without one (or without `jinja2`) a pair is the
  prompt, a newline and the response, then the end-of-text token (a notice says so).

Packing (`packing`, the default for plain text): documents are joined into one stream and
cut into blocks of exactly `max_length` tokens, so no step computes padding. Each token
carries its document's id (`document_ids`): the family's decoder lets a token attend only
to earlier tokens of its own document and counts positions from 0 in each, so a block holds
several independent documents. A document cut by a block edge goes on in the next block,
without the part before the edge. Without packing (the default for pairs, whose prompt
could otherwise fall into the previous block) each document is one row, cut at
`max_length` (a long pair keeps the end of its prompt and the start of its response), and
batches are padded.

Labels are the input ids with -100 where nothing is to be predicted: padding, prompt tokens,
and the first token of each document (what comes before it is another document). The loss
shifts them inside: the logits at position t are scored against the label at t + 1. The
metrics are the mean cross-entropy per predicted token (`loss`, nats) and its exponential,
`perplexity`, the primary metric (lower is better), also reported before the first step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.models.family import CAUSAL_LM
from workbench.engine.tasks.base import Features, Role, Rows, Task, TaskData
from workbench.errors import UserError
from workbench.lazy import pandas as pd

if TYPE_CHECKING:
    import torch

    from workbench.config import RunConfig
    from workbench.engine.tokenizer import TextTokenizer

IGNORE = -100
SEPARATOR = "\n"
"""Between prompt and response when there is no chat template (no end-of-text token: the
model must not learn to stop after the prompt)."""
TOP_K = 5
"""Next tokens `predict` returns per input."""
PREDICT_NEW_TOKENS = 32
"""Tokens of the greedy continuation `predict` returns per input (the generation module's
`workbench generate` streams longer ones, sampled if wished)."""
SAMPLE_PROMPTS = 3
"""Validation prompts whose greedy continuation every evaluation reports (`generations`),
so the Train page, the CLI and metrics.jsonl show what the model writes as it learns."""
SAMPLE_NEW_TOKENS = 32
SAMPLE_PROMPT_TOKENS = 16
"""Plain text: a sample's prompt is its text's first tokens (at most half of them)."""
_TEXT_NAMES = ("text", "content", "document", "story", "sentence")
_PROMPT_NAMES = ("prompt", "instruction", "question", "query", "input", "source")
_RESPONSE_NAMES = ("response", "completion", "output", "answer", "target", "reply")

# The roles are all optional here: plain text needs only a text column, pairs only a prompt
# and a response column; `resolve_columns` decides which kind a file is.
TEXT_ROLE = Role("text_column", "--text-column", "Text", required=False)
PROMPT_ROLE = Role("prompt_column", "--prompt-column", "Prompt", required=False)
RESPONSE_ROLE = Role("response_column", "--response-column", "Response", required=False)


@dataclass
class CausalFeatures(Features):
    """Features with the tokenizer, which `predict` needs to name the next tokens."""

    tokenizer: TextTokenizer | None = None


class CausalLM(Task):
    name = "causal-lm"
    title = "Causal language modelling"
    description = (
        "Trains a decoder (GPT-2, Llama …) to continue text: on plain text, or on "
        "prompt/response pairs with the loss on the responses only; from pretrained weights, "
        "or from scratch with a folder holding only config.json and a tokenizer."
    )
    head_kind = CAUSAL_LM
    primary_metric = "perplexity"
    greater_is_better = False
    metric_names = ("perplexity", "loss")
    roles = (TEXT_ROLE, PROMPT_ROLE, RESPONSE_ROLE)
    # The rate was chosen on validation data (bench/tune_generative_defaults.py, 2026-12-02,
    # one seed): full fine-tuning of the offline default SmolLM2-135M on 400 Tiny
    # Shakespeare speeches, 8 steps of 8 blocks of 64 tokens, loss on 40 validation
    # speeches (4.950 before): 5e-5 -> 4.437, 1e-4 -> 4.267, 2e-4 -> 4.250, 1e-3 -> 4.873.
    # 1e-4 rather than 2e-4: equal within a seed's noise, and a run of 3 epochs takes far
    # more steps than this sweep, where a short run favours the larger rate. Epochs were not
    # swept (3, as transformers' run_clm); blocks of 256 and batches of 8 keep the (8, 256,
    # 50k-vocabulary) logits ~400 MB on a laptop CPU. From scratch wants a much higher rate:
    # bench/tinyshakespeare_gpt2.py trains its GPT-2 at 3e-3.
    defaults = {"epochs": 3, "learning_rate": 1e-4, "batch_size": 8, "max_length": 256}
    evaluate_before_training = True
    rows_encode_apart = False  # documents are packed into rows of max_length

    # ---- reading data --------------------------------------------------------------------
    def read(self, config: RunConfig, load: Callable[[str], pd.DataFrame]) -> TaskData:
        """As every task reads, plus what the model's tokenizer says (end-of-text token, chat
        template) and notices about skipped rows and the pair format."""
        from workbench.engine.models.registry import resolve_model

        folder = resolve_model(config.model)
        frames: list[pd.DataFrame] = []

        def tracked(path: str) -> pd.DataFrame:
            frame = load(path)
            frames.append(frame)
            return frame

        data = super().read(config, tracked)
        for frame in frames:
            data.notices.extend(frame.attrs.get("causal_lm_notices", []))
        more, notices = tokenizer_meta(config, folder, data.meta["kind"])
        data.meta.update(more)
        data.notices.extend(notices)
        return data

    def resolve_columns(self, frame: pd.DataFrame, config: Any, name: str) -> dict[str, str]:
        """Plain text (a text column) or pairs (a prompt and a response column): the user's
        columns where given, else guessed; pairs win when both kinds are guessed."""
        text = getattr(config, "text_column", None)
        prompt = getattr(config, "prompt_column", None)
        response = getattr(config, "response_column", None)
        if text and (prompt or response):
            raise UserError(
                "give either --text-column (plain text) or --prompt-column and "
                "--response-column (prompt/response pairs), not both"
            )
        guessed = self.guess_columns(frame)
        if (
            prompt
            or response
            or (not text and guessed["prompt_column"] and guessed["response_column"])
        ):
            prompt = prompt or guessed["prompt_column"]
            response = response or guessed["response_column"]
            if not prompt or not response:
                flag = "--prompt-column" if not prompt else "--response-column"
                raise UserError(
                    f"cannot tell which column of {name} holds the "
                    f"{'prompt' if not prompt else 'response'}; name it with {flag} "
                    f"(columns: {', '.join(map(str, frame.columns))})"
                )
            columns = {"prompt_column": prompt, "response_column": response}
        else:
            text = text or guessed["text_column"]
            if not text:
                raise UserError(
                    f"cannot tell which column of {name} holds the text; name it with "
                    "--text-column, or give --prompt-column and --response-column for pairs "
                    f"(columns: {', '.join(map(str, frame.columns))})"
                )
            columns = {"text_column": text}
        self.check_columns(frame, columns, name)
        if len(set(columns.values())) != len(columns):
            raise UserError(
                f"the prompt and the response need their own columns of {name}; pick them "
                "with --prompt-column and --response-column"
            )
        return columns

    def guess_columns(self, frame: pd.DataFrame) -> dict[str, str | None]:
        lower = {str(c).lower().strip(): c for c in frame.columns}

        def first(names: tuple[str, ...]) -> str | None:
            return next((lower[n] for n in names if n in lower), None)

        text = first(_TEXT_NAMES)
        if text is None:
            from workbench.engine.data.columns import guess_columns

            text = guess_columns(frame).text
        return {
            "text_column": text,
            "prompt_column": first(_PROMPT_NAMES),
            "response_column": first(_RESPONSE_NAMES),
        }

    def examples(self, frame, columns, meta, name, config):
        notices: list[str] = []
        if "text_column" in columns:
            column = columns["text_column"]
            texts = [t for t in (_as_text(v) for v in frame[column]) if t]
            if not texts:
                raise UserError(
                    f"{name} has no text in column {column!r}; pick the text column with "
                    "--text-column"
                )
            rows = Rows({"text": texts})
            kind = "text"
        else:
            prompts, responses = [], []
            for p, r in zip(
                frame[columns["prompt_column"]], frame[columns["response_column"]], strict=True
            ):
                p, r = _as_text(p), _as_text(r)
                if r:  # a pair without a response has nothing to train on
                    prompts.append(p)
                    responses.append(r)
            if not responses:
                raise UserError(
                    f"{name} has no responses in column {columns['response_column']!r}; pick "
                    "the response column with --response-column"
                )
            if len(responses) < len(frame):
                notices.append(
                    f"{len(frame) - len(responses)} rows of {name} have no response and were "
                    "left out"
                )
            rows = Rows({"prompt": prompts, "response": responses})
            kind = "pairs"
        if meta is None:
            meta = {"kind": kind}  # `read` adds what the model's tokenizer says
        frame.attrs.setdefault("causal_lm_notices", []).extend(notices)
        return rows, meta

    # ---- the model ------------------------------------------------------------------------
    def num_outputs(self, meta: dict[str, Any]) -> int:
        return 0  # the vocabulary comes from the model's own config

    def head_matches(self, saved: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
        return True  # the LM head is the vocabulary's (tied to the embeddings): always keep it

    def export_fields(self, meta: dict[str, Any]) -> dict[str, Any]:
        # What transformers' generate() reads: where a text ends (a tokenizer trained for a
        # model from scratch has its own ids, not the config's original ones).
        eos = meta.get("eos_token_id")
        return {"eos_token_id": eos} if eos is not None else {}

    # ---- tensors --------------------------------------------------------------------------
    def encode(self, rows: Rows, tokenizer: TextTokenizer, config: RunConfig, meta) -> Features:
        if "query" in rows:
            return encode_prompts(rows["query"], tokenizer, meta)
        if "prompt" in rows:
            docs = pair_documents(rows["prompt"], rows["response"], tokenizer, meta)
        else:
            docs = text_documents(rows["text"], tokenizer, meta)
        if meta.get("packing", True):
            return pack(docs, tokenizer.max_length)
        return pad_rows(docs, tokenizer.max_length)

    def collate(self, features, indices, pad_id, multiple_of, training) -> dict[str, torch.Tensor]:
        from workbench.engine.training.batching import collate_features

        batch = collate_features(features, indices, pad_id, multiple_of)
        if "labels" in batch and bool(batch["attention_mask"].all()):
            # No padding: plain causal attention (SDPA's fast path) needs no mask.
            del batch["attention_mask"]
        docs = batch.get("document_ids")
        if docs is not None:
            changes = (docs[:, 1:] != docs[:, :-1]) & (docs[:, 1:] != IGNORE)  # (B, T-1)
            if not bool(changes.any()):  # one document per row: nothing to separate
                del batch["document_ids"]
        return batch

    def forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        return model(
            batch["input_ids"], batch.get("attention_mask"), document_ids=batch.get("document_ids")
        )

    def loss_units(self, meta):
        from workbench.engine.tasks.loss_units import token_units

        return token_units(shift=True)  # the targets are the labels from position 1 on

    def loss(self, logits, batch, meta) -> torch.Tensor:
        """Mean cross-entropy of each position against the next label. The labels are
        shifted, not the (B, T, V) logits, and the softmax runs in fp32 a few rows at a
        time (training/lm_loss.py: no fp32 copy of the logits); a batch with no target
        (all prompt) gives 0, not cross-entropy's NaN."""
        from workbench.engine.training.lm_loss import causal_lm_loss

        return causal_lm_loss(logits, batch["labels"])

    def gather(self, logits, batch) -> list[np.ndarray]:
        """Evaluation: per feature [summed token loss, predicted tokens], never the (T, V)
        logits. Prediction: per feature the next-token log-probabilities (V,)."""
        import torch
        import torch.nn.functional as F

        if "labels" not in batch:
            mask = batch["attention_mask"]  # (B, T), prompts are right-padded
            last = mask.sum(1) - 1  # (B,)
            rows = torch.arange(logits.shape[0], device=logits.device)
            return list(logits[rows, last].float().log_softmax(-1).cpu().numpy())
        targets = batch["labels"][:, 1:]  # (B, T-1)
        chosen = targets != IGNORE
        rows_of = chosen.nonzero()[:, 0]  # (N,) the row of each predicted position
        token_loss = F.cross_entropy(
            logits[:, :-1][chosen].float(), targets[chosen], reduction="none"
        )  # (N,)
        summed = torch.zeros(targets.shape[0], device=targets.device).index_add_(
            0, rows_of, token_loss
        )
        return list(torch.stack([summed, chosen.sum(1).float()], 1).cpu().numpy())

    # ---- results --------------------------------------------------------------------------
    def metrics(self, outputs, features, rows, meta) -> dict[str, Any]:
        if not outputs:
            raise UserError("no text to evaluate on; add text to the evaluation data")
        stacked = np.stack(outputs).astype(np.float64)  # (features, 2)
        count = float(stacked[:, 1].sum())
        if not count:
            raise UserError(
                "the evaluation data gives no tokens to predict (every response is empty or "
                "cut away); add text or raise --max-length"
            )
        loss = float(stacked[:, 0].sum() / count)
        return {
            "perplexity": perplexity(loss),
            "loss": loss,
            "num_examples": len(rows),
            "num_blocks": len(outputs),
            "predicted_tokens": int(count),
        }

    def eval_generations(
        self, model: torch.nn.Module, tokenizer: TextTokenizer, rows: Rows, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """{"generations": [{"prompt", "output", "reference"}]}: the greedy continuation
        (`SAMPLE_NEW_TOKENS` at most) of the first `SAMPLE_PROMPTS` validation prompts, the
        same ones at every evaluation. A pair's prompt is formatted as in training (chat
        template); plain text is continued from its first tokens. Called by the training
        loop beside `metrics`, since it needs the model."""
        from workbench.engine.generation.generate import GenerationSettings, generate

        prompts, references = sample_prompts(rows, tokenizer, SAMPLE_PROMPTS)
        if not prompts:
            return {}
        features = encode_prompts(prompts, tokenizer, meta)
        settings = GenerationSettings(max_new_tokens=SAMPLE_NEW_TOKENS, temperature=0.0)
        context = model_positions(model)
        generations = []
        for prompt, reference, ids in zip(
            prompts, references, features.sequences["input_ids"], strict=True
        ):
            new = list(generate(model, tokenizer, ids, settings, max_context=context))
            generations.append(
                {"prompt": prompt, "output": tokenizer.decode(new), "reference": reference}
            )
        return {"generations": generations}

    def rows_from_inputs(self, inputs: dict[str, list[str]]) -> Rows:
        texts = inputs.get("text") or []
        if not texts:
            raise UserError('no text to continue; give --text "Once upon a time"')
        return Rows({"query": [str(t) for t in texts]})

    def predict(self, outputs, features, rows, meta) -> list[dict[str, Any]]:
        """The most likely next tokens of each input (`complete_predictions` adds the
        continuation, which needs the model)."""
        tokenizer = features.tokenizer
        results = []
        for text, logprobs in zip(rows["query"], outputs, strict=True):
            top = np.argsort(-logprobs, kind="stable")[:TOP_K]
            results.append(
                {
                    "text": text,
                    "next_tokens": [
                        {
                            "token": tokenizer.decode([int(i)], skip_special_tokens=False),
                            "id": int(i),
                            "probability": round(float(np.exp(logprobs[i])), 6),
                        }
                        for i in top
                    ],
                }
            )
        return results

    def complete_predictions(
        self, results: list[dict[str, Any]], trained: Any, features: Features
    ) -> list[dict[str, Any]]:
        """Each input's greedy continuation (`PREDICT_NEW_TOKENS` at most, ending at the
        end-of-text token), from the generation module with the KV cache."""
        from workbench.engine.generation.generate import (
            Generation,
            GenerationSettings,
            TextStream,
            generate,
        )

        settings = GenerationSettings(max_new_tokens=PREDICT_NEW_TOKENS, temperature=0.0)
        context = _positions(Path(trained.folder))
        for result, ids in zip(results, features.sequences["input_ids"], strict=True):
            tokens = generate(trained.model, trained.tokenizer, ids, settings, max_context=context)
            generation = Generation(tokens, TextStream(trained.tokenizer, ids))
            for _ in generation:  # the whole continuation; `text` and `token_ids` hold it
                pass
            result["continuation"] = generation.text
            result["token_ids"] = list(generation.token_ids)
        return results


def sample_prompts(rows: Rows, tokenizer: TextTokenizer, count: int) -> tuple[list[str], list[str]]:
    """(prompts, what followed each in the data): the first `count` validation pairs' prompts
    and responses, or the opening tokens of the first `count` texts and the rest of them."""
    if "prompt" in rows:
        return list(rows["prompt"][:count]), list(rows["response"][:count])
    if "text" not in rows:
        return [], []
    prompts, references = [], []
    texts = [t for t in rows["text"][: count * 4] if t.strip()][:count]
    for text, encoding in zip(texts, tokenizer.encode_untruncated(texts), strict=True):
        ids, offsets = encoding.ids, encoding.offsets
        if len(ids) < 2:
            continue  # nothing left to compare a continuation with
        cut = offsets[min(SAMPLE_PROMPT_TOKENS, len(ids) // 2) - 1][1]  # end of the last token
        prompts.append(text[:cut])
        references.append(text[cut:])
    return prompts, references


def model_positions(model: torch.nn.Module) -> int | None:
    """The positions a decoder has (learned or trained for), from its modules' config."""
    for module in model.modules():
        config = getattr(module, "config", None)
        value = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        if isinstance(value, int) and value > 0:
            return value
    return None


# ---- what the tokenizer folder says ---------------------------------------------------------
def tokenizer_meta(config: RunConfig, folder: Path, kind: str) -> tuple[dict[str, Any], list[str]]:
    """The training meta beyond the data kind: packing, the end-of-text token and (pairs)
    the chat template, read from the model's tokenizer folder; and notices about them."""
    from workbench.engine.tokenizer import TextTokenizer

    notices: list[str] = []
    tokenizer = TextTokenizer.from_folder(folder, 16)
    settings = _tokenizer_config(folder)
    eos = tokenizer.eos_id
    if eos is None:
        raise UserError(
            f"the tokenizer of {folder.name} has no end-of-text token (eos_token in "
            "tokenizer_config.json), which causal LM needs between documents; add one"
        )
    packing = config.packing if config.packing is not None else kind == "text"
    meta: dict[str, Any] = {"packing": bool(packing), "eos_token_id": eos}
    positions = _positions(folder)
    if positions and config.max_length and config.max_length > positions:
        notices.append(
            f"max length {config.max_length} is more than the {positions} positions of "
            f"{folder.name}: blocks are {positions} tokens"
        )  # the tokenizer caps its length at the model's positions
    if kind == "pairs":
        template = chat_template(folder, settings)
        if template and _jinja_available():
            meta["chat_template"] = template
            meta["chat_tokens"] = _special_tokens(settings)
            render_pair(template, meta["chat_tokens"], "probe", "probe")  # fails early
            notices.append(
                "pairs are formatted with the tokenizer's chat template (a user turn, then "
                "the assistant's); the loss is on the assistant's turn only"
            )
        else:
            why = (
                "jinja2 is not installed, so the tokenizer's chat template cannot be used"
                if template
                else f"the tokenizer of {folder.name} has no chat template"
            )
            notices.append(
                f"{why}: each pair is the prompt, a newline, then the response and the "
                "end-of-text token; the loss is on the response only"
            )
    return meta, notices


def chat_template(folder: Path, settings: dict[str, Any]) -> str | None:
    """The folder's chat template: chat_template.jinja (newer transformers save it there),
    else tokenizer_config.json's `chat_template` (a string, or a list of named ones)."""
    path = folder / "chat_template.jinja"
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    value = settings.get("chat_template")
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default") or next(iter(named.values()), None)
    return value if isinstance(value, str) and value.strip() else None


def chat_turn(folder: Path, prompt: str) -> str:
    """`prompt` as a user's turn in the folder's chat template, ending where the assistant's
    answer starts (`add_generation_prompt`): how an instruction-tuned model (and a run
    trained on prompt/response pairs with the template) expects to be asked."""
    settings = _tokenizer_config(folder)
    template = chat_template(folder, settings)
    if not template:
        raise UserError(
            f"the tokenizer of {folder.name} has no chat template (chat_template in "
            "tokenizer_config.json); generate without --chat"
        )
    if not _jinja_available():
        raise UserError("chat templates need jinja2: pip install jinja2, or drop --chat")
    user = [{"role": "user", "content": prompt}]
    return render_chat(template, user, True, _special_tokens(settings))


def _jinja_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("jinja2") is not None


def _special_tokens(settings: dict[str, Any]) -> dict[str, str]:
    """The special-token texts a chat template may name ({{ bos_token }} …)."""
    names = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token")
    return {n: _token_text(settings.get(n)) for n in names if _token_text(settings.get(n))}


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    return _json(folder / "tokenizer_config.json")


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _positions(folder: Path) -> int | None:
    config = _json(folder / "config.json")
    value = config.get("max_position_embeddings") or config.get("n_positions")
    return int(value) if isinstance(value, int) and value > 0 else None


# ---- chat templates ---------------------------------------------------------------------------
def render_chat(
    template: str,
    messages: list[dict[str, str]],
    add_generation_prompt: bool,
    special_tokens: dict[str, str],
) -> str:
    """A chat rendered as `transformers`' apply_chat_template renders it (a sandboxed Jinja
    environment with trim_blocks and lstrip_blocks, `raise_exception`, `tojson`)."""
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
            sort_keys=sort_keys,
        )  # fmt: skip

    def strftime_now(format: str) -> str:
        from datetime import datetime

        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(template).render(
            messages=messages, add_generation_prompt=add_generation_prompt, **special_tokens
        )
    except jinja2.exceptions.TemplateError as exc:
        raise UserError(f"the tokenizer's chat template cannot be rendered: {exc}") from None


def render_pair(
    template: str, special_tokens: dict[str, str], prompt: str, response: str
) -> tuple[str, str]:
    """(the prompt's text up to where the assistant starts, the rest): the user turn with the
    generation prompt, and what the full conversation adds after it."""
    user = [{"role": "user", "content": prompt}]
    head = render_chat(template, user, True, special_tokens)
    full = render_chat(
        template, [*user, {"role": "assistant", "content": response}], False, special_tokens
    )
    if not full.startswith(head):
        # Some templates render the last turn differently: cut where the two part ways.
        same = 0
        for a, b in zip(head, full, strict=False):
            if a != b:
                break
            same += 1
        head = full[:same]
    return head, full[len(head) :]


# ---- documents -------------------------------------------------------------------------------
@dataclass
class Document:
    ids: list[int]
    trained: list[bool]
    """Per token: whether it is a target (predicted from the tokens before it)."""


def text_documents(
    texts: list[str], tokenizer: TextTokenizer, meta: dict[str, Any]
) -> list[Document]:
    """Plain text: template + tokens + end-of-text; every token but the template's prefix
    (and the first, which has nothing before it) is a target."""
    template = tokenizer.template
    eos = int(meta["eos_token_id"])
    start = max(1, len(template.prefix))
    docs = []
    for content in tokenizer.encode_content(texts):
        if not content:
            continue
        ids = _with_eos(template.single(content), eos)
        docs.append(Document(ids, [i >= start for i in range(len(ids))]))
    if not docs:
        raise UserError("the text gives no tokens to train on; add text to the data")
    return docs


def pair_documents(
    prompts: list[str], responses: list[str], tokenizer: TextTokenizer, meta: dict[str, Any]
) -> list[Document]:
    """Prompt/response pairs: the prompt's tokens are context only, the response's (and the
    end of the turn) are targets."""
    heads, tails = [], []
    for prompt, response in zip(prompts, responses, strict=True):
        head, tail = format_pair(prompt, response, meta)
        heads.append(head)
        tails.append(tail)
    chat = "chat_template" in meta
    eos = int(meta["eos_token_id"])
    docs = []
    for head, tail in zip(
        tokenizer.encode_content(heads), tokenizer.encode_content(tails), strict=True
    ):
        if chat:  # the template writes every special token itself (as apply_chat_template)
            head_ids, tail_ids = head, tail
        else:
            head_ids = [*tokenizer.template.prefix, *head]
            tail_ids = _with_eos([*tail, *tokenizer.template.suffix], eos)
        ids = head_ids + tail_ids
        docs.append(Document(ids, [i >= max(1, len(head_ids)) for i in range(len(ids))]))
    return docs


def format_pair(prompt: str, response: str, meta: dict[str, Any]) -> tuple[str, str]:
    """(the prompt's text, the response's text) as the model reads them."""
    template = meta.get("chat_template")
    if template:
        return render_pair(template, meta.get("chat_tokens") or {}, prompt, response)
    return prompt + SEPARATOR, response


def _with_eos(ids: list[int], eos: int) -> list[int]:
    return ids if ids and ids[-1] == eos else [*ids, eos]


def pack(docs: list[Document], block: int) -> CausalFeatures:
    """Documents joined into blocks of `block` tokens, each token with its document's id."""
    ids: list[int] = []
    labels: list[int] = []
    owners: list[int] = []
    for d, doc in enumerate(docs):
        ids.extend(doc.ids)
        labels.extend(
            t if trained else IGNORE for t, trained in zip(doc.ids, doc.trained, strict=True)
        )
        owners.extend([d] * len(doc.ids))
    out_ids, out_labels, out_docs, example_index = [], [], [], []
    for start in range(0, len(ids), block):
        chunk_labels = labels[start + 1 : start + block]
        if all(label == IGNORE for label in chunk_labels):
            continue  # nothing to predict (a lone end-of-text at the very end)
        out_ids.append(ids[start : start + block])
        out_labels.append(labels[start : start + block])
        out_docs.append(owners[start : start + block])
        example_index.append(owners[start])
    if not out_ids:
        raise UserError("the text gives no tokens to train on; add text or lower --max-length")
    return CausalFeatures(
        {"input_ids": out_ids, "labels": out_labels, "document_ids": out_docs},
        example_index=np.asarray(example_index, dtype=np.int64),
    )


def pad_rows(docs: list[Document], block: int) -> CausalFeatures:
    """One document per row, cut to `block` tokens: a pair keeps the end of a long prompt
    (at most half the block) and the start of its response."""
    out_ids, out_labels = [], []
    for doc in docs:
        ids, trained = doc.ids, doc.trained
        if len(ids) > block:
            prompt = trained.index(True) if True in trained else len(ids)
            keep = min(prompt, max(block // 2, block - (len(ids) - prompt)))
            cut = prompt - keep  # drop the start of the prompt
            ids, trained = ids[cut:][:block], trained[cut:][:block]
        out_ids.append(ids)
        out_labels.append([t if k else IGNORE for t, k in zip(ids, trained, strict=True)])
    return CausalFeatures({"input_ids": out_ids, "labels": out_labels})


def encode_prompts(
    texts: list[str], tokenizer: TextTokenizer, meta: dict[str, Any]
) -> CausalFeatures:
    """Inputs to continue, formatted as the model was trained (a pair's prompt through the
    chat template); a long one keeps its end."""
    template = tokenizer.template
    out = []
    if meta.get("kind") == "pairs":
        heads = [format_pair(t, "", meta)[0] for t in texts]
        for head in tokenizer.encode_content(heads):
            ids = head if "chat_template" in meta else [*template.prefix, *head]
            out.append(ids[-tokenizer.max_length :])
    else:
        budget = max(tokenizer.max_length - len(template.prefix), 1)
        for content in tokenizer.encode_content(texts):
            out.append([*template.prefix, *content[-budget:]])
    if any(not ids for ids in out):
        raise UserError(
            "an input gives no tokens (and the model has no start token); type some text"
        )
    return CausalFeatures({"input_ids": out}, tokenizer=tokenizer)


# ---- results --------------------------------------------------------------------------------
def perplexity(loss: float) -> float:
    if not math.isfinite(loss):
        return float("nan") if math.isnan(loss) else float("inf")
    return math.exp(loss) if loss < 700 else float("inf")


def _as_text(value: Any) -> str:
    """A cell as text: missing cells are empty, token lists are joined with spaces."""
    if isinstance(value, list | tuple | np.ndarray):
        return " ".join(str(v) for v in value).strip()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value).strip()


TASK = CausalLM()
