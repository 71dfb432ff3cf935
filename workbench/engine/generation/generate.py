"""Text generation with any causal-LM head: settings, the token loop with the KV cache, stop
strings, and text streamed as it is completed.

`generate` names no family: it only calls the head with the decoder contract of family.py
(`position_ids`, `cache`). Its prompt is one sequence (no padding), so no attention mask is
needed. Shapes: P prompt tokens, V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import UserError

if TYPE_CHECKING:
    import torch

    from workbench.engine.tokenizer import TextTokenizer
    from workbench.engine.trained import TrainedModel

_CONTEXT_TOKENS = 8  # prompt tokens decoded before the new ones, so spacing comes out right


@dataclass(frozen=True)
class GenerationSettings:
    """How to continue a prompt; the same names as `transformers`' generate()."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    """0 is greedy (always the most likely token); above 0 samples, flatter as it grows."""
    top_k: int = 0
    """Sample only among the k most likely tokens; 0 = no limit."""
    top_p: float = 1.0
    """Sample only among the most likely tokens that make up this much probability."""
    repetition_penalty: float = 1.0
    """Above 1 makes tokens already in the text less likely (1 = off)."""
    stop: tuple[str, ...] = ()
    """Stop when the new text contains one of these; the stop string itself is not output."""
    seed: int | None = None
    """Same seed, same settings, same prompt: the same sample."""
    use_cache: bool = True
    """Keep earlier keys and values (fast); False recomputes the whole text every token."""

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int):
            raise UserError("--max-new-tokens must be a whole number")
        if self.max_new_tokens < 0:
            raise UserError(f"--max-new-tokens must be 0 or more, not {self.max_new_tokens}")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise UserError(f"--temperature must be 0 (greedy) or more, not {self.temperature}")
        if self.top_k < 0:
            raise UserError(f"--top-k must be 0 (no limit) or more, not {self.top_k}")
        if not (0 < self.top_p <= 1):
            raise UserError(f"--top-p must be above 0 and at most 1, not {self.top_p}")
        if not math.isfinite(self.repetition_penalty) or self.repetition_penalty <= 0:
            raise UserError(
                f"--repetition-penalty must be above 0 (1 = off), not {self.repetition_penalty}"
            )
        if any(not s for s in self.stop):
            raise UserError("--stop strings must not be empty")
        object.__setattr__(self, "stop", tuple(self.stop))


def _choose(
    logits: torch.Tensor, seen: torch.Tensor, settings: GenerationSettings, generator: Any
) -> torch.Tensor:
    """The next token of each row under the settings' sampling rules: (B, V) -> (B,)."""
    from workbench.engine.generation.sampling import next_token

    return next_token(
        logits,
        seen,
        temperature=settings.temperature,
        top_k=settings.top_k,
        top_p=settings.top_p,
        penalty=settings.repetition_penalty,
        generator=generator,
    )


class _NewText:
    """The text of the new tokens, decoded after a few prompt tokens so that decoders which
    drop a leading space at the start of a text (SentencePiece) keep it."""

    def __init__(self, tokenizer: TextTokenizer, prompt_ids: Sequence[int]) -> None:
        self._tokenizer = tokenizer
        self._context = list(prompt_ids[-_CONTEXT_TOKENS:])
        self._prefix = tokenizer.decode(self._context)

    def __call__(self, ids: Sequence[int]) -> str:
        text = self._tokenizer.decode([*self._context, *ids])
        return text[len(self._prefix) :] if text.startswith(self._prefix) else text


class _StopStrings:
    """Holds back the tokens that may begin a stop string until it is clear they do not."""

    def __init__(self, stops: tuple[str, ...], text_of: _NewText) -> None:
        self._stops = stops
        self._text_of = text_of
        self._ids: list[int] = []
        self._emitted = 0
        self.stopped = False

    def push(self, token: int) -> list[int]:
        """The tokens now safe to output (none, this one, or some held before it)."""
        self._ids.append(token)
        if not self._stops:
            self._emitted = len(self._ids)
            return [token]
        text = self._text_of(self._ids)
        found = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if found:
            self.stopped = True
            return self._release(min(found))  # a token that runs into the stop goes with it
        held = max(
            (n for s in self._stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0
        )
        return self._release(len(text) - held)

    def flush(self) -> list[int]:
        out = self._ids[self._emitted :]
        self._emitted = len(self._ids)
        return out

    def _release(self, safe_chars: int) -> list[int]:
        out = []
        while self._emitted < len(self._ids):
            if len(self._text_of(self._ids[: self._emitted + 1])) > safe_chars:
                break
            out.append(self._ids[self._emitted])
            self._emitted += 1
        return out


def generate(
    model: torch.nn.Module,
    tokenizer: TextTokenizer,
    prompt_ids: Sequence[int],
    settings: GenerationSettings,
    *,
    max_context: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """The new token ids after `prompt_ids`, one at a time as they are chosen.

    Ends at `settings.max_new_tokens`, at the tokenizer's end-of-text token (not output), at
    a stop string (not output), when the text reaches `max_context` tokens (the model's
    positions), or when `should_stop()` turns true. A prompt longer than the context keeps
    its end.
    """
    import torch

    from workbench.engine.generation.cache import KVCache

    ids = list(prompt_ids)
    if not ids:
        raise ValueError("generate needs at least one prompt token")
    if max_context is not None and len(ids) >= max_context:
        ids = ids[len(ids) - max_context + 1 :]  # room for one new token at least
    device = next(model.parameters()).device
    generator = None
    if settings.seed is not None:
        generator = torch.Generator(device=device).manual_seed(settings.seed)
    stops = _StopStrings(settings.stop, _NewText(tokenizer, ids))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            tokens = torch.tensor([ids], dtype=torch.long, device=device)  # (1, P)
            cache = KVCache() if settings.use_cache else None
            step_input = tokens
            for _ in range(settings.max_new_tokens):
                if max_context is not None and tokens.shape[1] >= max_context:
                    break
                if should_stop is not None and should_stop():
                    break
                if cache is not None:
                    past = cache.length
                    positions = torch.arange(past, past + step_input.shape[1], device=device)
                    logits = model(step_input, None, position_ids=positions[None], cache=cache)
                else:
                    logits = model(tokens, None)  # (1, T, V), the whole text again
                chosen = _choose(logits[:, -1], tokens, settings, generator)  # (1,)
                token = int(chosen.item())
                if token == tokenizer.eos_id:
                    break
                tokens = torch.cat([tokens, chosen[:, None]], dim=1)
                step_input = chosen[:, None]  # (1, 1)
                yield from stops.push(token)
                if stops.stopped:
                    return
            yield from stops.flush()
    finally:
        model.train(was_training)


def generate_batch(
    model: torch.nn.Module,
    tokenizer: TextTokenizer,
    prompts: Sequence[Sequence[int]],
    settings: GenerationSettings,
    *,
    max_context: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[int]]:
    """The new ids of each prompt, all run as one left-padded batch: each row gets what
    `generate` gives it alone (greedy; a sample draws differently). Left padding keeps every
    row's newest token in the last column; positions count real tokens only (the decoder
    contract's `position_ids`), and the attention mask hides the padding, also in the cache.
    With `max_context`, the batch ends when its longest row fills it (shorter rows too).
    """
    import torch

    from workbench.engine.generation.cache import KVCache

    rows = [list(p) for p in prompts]
    if not rows or any(not row for row in rows):
        raise ValueError("generate_batch needs at least one token in every prompt")
    if max_context is not None:
        rows = [
            row[len(row) - max_context + 1 :] if len(row) >= max_context else row for row in rows
        ]
    B, P = len(rows), max(map(len, rows))
    device = next(model.parameters()).device
    generator = None
    if settings.seed is not None:
        generator = torch.Generator(device=device).manual_seed(settings.seed)
    pad = tokenizer.pad_id
    tokens = torch.tensor([[pad] * (P - len(r)) + r for r in rows], device=device)  # (B, P)
    mask = torch.tensor([[0] * (P - len(r)) + [1] * len(r) for r in rows], device=device)
    stops = [_StopStrings(settings.stop, _NewText(tokenizer, r)) for r in rows]
    out: list[list[int]] = [[] for _ in rows]
    done = [False] * B
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            cache = KVCache() if settings.use_cache else None
            step_input = tokens
            for _ in range(settings.max_new_tokens):
                if max_context is not None and tokens.shape[1] >= max_context:
                    break
                if should_stop is not None and should_stop():
                    break
                positions = (mask.cumsum(1) - 1).clamp(min=0)  # (B, S): real tokens counted
                if cache is not None:
                    T = step_input.shape[1]
                    logits = model(step_input, mask, position_ids=positions[:, -T:], cache=cache)
                else:
                    logits = model(tokens, mask, position_ids=positions)  # (B, S, V)
                seen = torch.where(mask.bool(), tokens, tokens[:, -1:])  # padding is not "seen"
                chosen = _choose(logits[:, -1], seen, settings, generator)  # (B,)
                for i, token in enumerate(chosen.tolist()):
                    if done[i]:
                        continue
                    if token == tokenizer.eos_id:
                        done[i] = True
                        continue
                    out[i] += stops[i].push(token)
                    done[i] = stops[i].stopped
                if all(done):
                    break
                # Finished rows go on computing (their tokens are dropped): rows never mix.
                tokens = torch.cat([tokens, chosen[:, None]], dim=1)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                step_input = chosen[:, None]  # (B, 1)
    finally:
        model.train(was_training)
    for i, stop in enumerate(stops):
        if not stop.stopped:
            out[i] += stop.flush()
    return out


class TextStream:
    """Turns new token ids into new text, holding back an incomplete multi-byte character
    (decoded as U+FFFD) until its last byte arrives."""

    def __init__(self, tokenizer: TextTokenizer, prompt_ids: Sequence[int]) -> None:
        self._text_of = _NewText(tokenizer, prompt_ids)
        self.ids: list[int] = []
        self.text = ""

    def push(self, token: int) -> str:
        self.ids.append(token)
        text = self._text_of(self.ids)
        if text.endswith("\ufffd"):
            return ""
        return self._advance(text)

    def flush(self) -> str:
        return self._advance(self._text_of(self.ids))

    def _advance(self, text: str) -> str:
        new = text[len(self.text) :] if text.startswith(self.text) else ""
        self.text = text if text.startswith(self.text) else self.text
        return new


@dataclass
class Generation:
    """One generation in progress: iterate it for pieces of text as they are completed; after
    it, `token_ids` and `text` hold everything new."""

    _tokens: Iterator[int]
    _stream: TextStream
    token_ids: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self._stream.text

    def __iter__(self) -> Iterator[str]:
        for token in self._tokens:
            self.token_ids.append(token)
            piece = self._stream.push(token)
            if piece:
                yield piece
        rest = self._stream.flush()
        if rest:
            yield rest


def _generation_tokenizer(folder: Path) -> tuple[TextTokenizer, int | None]:
    """The folder's tokenizer without a run's cut, and the model's own context length
    (None when the tokenizer names none)."""
    from workbench.engine.tokenizer import TextTokenizer

    unlimited = 1 << 30
    tokenizer = TextTokenizer.from_folder(folder, max_length=unlimited)
    return tokenizer, tokenizer.max_length if tokenizer.max_length < unlimited else None


@dataclass
class Generator:
    """A causal-LM (or encoder-decoder) model with its tokenizer, ready to continue prompts
    (or, encoder-decoders, to answer them: the prompt is the source). One per thread."""

    model: torch.nn.Module
    tokenizer: TextTokenizer
    folder: Path
    max_context: int | None
    encoder_decoder: bool = False

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu") -> Generator:
        """From a model folder, a run folder or what `resolve_model` else knows (a .gguf
        file, the bundled decoder's name); UserError when it cannot generate text."""
        from workbench.engine.models.checks import check_model
        from workbench.engine.models.family import CAUSAL_LM, SEQ2SEQ_LM
        from workbench.engine.models.loading import build_model
        from workbench.engine.models.registry import family_for, read_config, resolve_model
        from workbench.engine.training.precision import pick_device

        folder = resolve_model(source)  # a folder, a run, a .gguf file or a bundled name
        check_model(folder)  # config, weight headers, tokenizer: one line naming the file
        family = family_for(read_config(folder), folder)
        kind = next((k for k in (CAUSAL_LM, SEQ2SEQ_LM) if k in family.heads), None)
        if kind is None:
            raise UserError(
                f"{folder} is a {family.name} model, which cannot generate text (it has no "
                "causal-lm or seq2seq-lm head); give a decoder such as GPT-2, or BART/T5"
            )
        loaded = build_model(folder, kind, 0)
        model = loaded.model.to(pick_device(device)).eval()
        tokenizer, max_context = _generation_tokenizer(folder)
        return cls(model, tokenizer, folder, max_context, encoder_decoder=kind == SEQ2SEQ_LM)

    @classmethod
    def from_trained(cls, trained: TrainedModel) -> Generator | None:
        """A generator over a model already loaded for prediction (the Playground's), so its
        weights are not loaded a second time; None when its head does not generate (a
        classifier: `load` builds the family's generative head instead)."""
        from workbench.engine.models.family import CAUSAL_LM, SEQ2SEQ_LM

        kind = trained.task.head_for(trained.meta)
        if kind not in (CAUSAL_LM, SEQ2SEQ_LM):
            return None
        tokenizer, max_context = _generation_tokenizer(trained.folder)
        return cls(
            trained.model.eval(),
            tokenizer,
            trained.folder,
            max_context,
            encoder_decoder=kind == SEQ2SEQ_LM,
        )

    def chat_prompt(self, prompt: str) -> str:
        """The prompt as a user's turn in the model's chat template (UserError without one)."""
        from workbench.engine.tasks.causal_lm import chat_turn

        return chat_turn(self.folder, prompt)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The prompt's ids; an empty prompt starts from the start (or end-of-text) token."""
        ids = self.tokenizer.encode_prompt(prompt)
        if not ids and self.tokenizer.eos_id is not None:
            ids = [self.tokenizer.eos_id]  # GPT-2 begins documents after <|endoftext|>
        if not ids:
            raise UserError("the prompt is empty and this model has no start token; give --prompt")
        return ids

    def source_ids(self, prompt: str) -> list[int]:
        """An encoder-decoder's source: the whole template (`<s> … </s>`), a long one cut at
        the model's length."""
        if self.max_context is None:
            ids = self.tokenizer.template.single(self.tokenizer.encode_content([prompt])[0])
        else:
            (ids,) = self.tokenizer.encode([prompt])
        if not ids:
            raise UserError("the prompt is empty; give --prompt with the text to start from")
        return ids

    def start(
        self,
        prompt: str,
        settings: GenerationSettings | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generation:
        settings = settings or GenerationSettings()
        if self.encoder_decoder:
            from workbench.engine.generation.seq2seq import generate_seq2seq

            source = self.source_ids(prompt)
            tokens = generate_seq2seq(
                self.model,
                self.tokenizer,
                source,
                settings,
                max_target=self.max_context,
                should_stop=should_stop,
            )
            return Generation(tokens, TextStream(self.tokenizer, []))
        ids = self.prompt_ids(prompt)
        tokens = generate(
            self.model,
            self.tokenizer,
            ids,
            settings,
            max_context=self.max_context,
            should_stop=should_stop,
        )
        return Generation(tokens, TextStream(self.tokenizer, ids))
