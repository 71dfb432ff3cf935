"""Generation with any encoder-decoder head (T5, BART): encode the source once, then the
decoder's token loop with the KV cache (its self-attention) and the cross-attention keys
kept in `cache.cross`.

Names no family: it only calls the head with the encoder-decoder contract of family.py
(`encode`, `decoder_input_ids`, `encoder_hidden`, `cache`, `decoder_start_token_id`,
`eos_token_id`). The settings are the decoders' `GenerationSettings` (greedy at temperature
0; sampling, repetition penalty over the decoder's tokens, stop strings), so `workbench
generate` means the same for both. Shapes: B batch, S source tokens, T decoder tokens, V
vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from workbench.engine.generation.generate import (
    GenerationSettings,
    _choose,
    _NewText,
    _StopStrings,
)

if TYPE_CHECKING:
    import torch

    from workbench.engine.tokenizer import TextTokenizer


def _generator(settings: GenerationSettings, device: torch.device):
    import torch

    if settings.seed is None:
        return None
    return torch.Generator(device=device).manual_seed(settings.seed)


def generate_seq2seq(
    model: torch.nn.Module,
    tokenizer: TextTokenizer,
    source_ids: Sequence[int],
    settings: GenerationSettings,
    *,
    max_target: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """The target's token ids for one source, one at a time as they are chosen.

    Ends at `settings.max_new_tokens`, at the model's end-of-sequence token (not output), at
    a stop string (not output), when the decoder holds `max_target` tokens (its positions),
    or when `should_stop()` turns true."""
    batch = _Seq2SeqBatch(model, tokenizer, [list(source_ids)], settings, max_target)
    try:
        while not batch.finished(should_stop):
            token = batch.step()[0]
            if token is None:  # end of sequence
                break
            yield from batch.stops[0].push(token)
            if batch.stops[0].stopped:
                return
        yield from batch.stops[0].flush()
    finally:
        batch.close()


def generate_seq2seq_batch(
    model: torch.nn.Module,
    tokenizer: TextTokenizer | None,
    sources: Sequence[Sequence[int]],
    settings: GenerationSettings,
    *,
    max_target: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[int]]:
    """The target ids of each source, all run as one batch: sources right-padded (the
    encoder's attention mask hides the padding, also from cross-attention), decoder rows all
    of the same length, so each row gets what it would alone (greedy; a sample draws
    differently). Finished rows go on computing until every row is done; their tokens are
    dropped."""
    batch = _Seq2SeqBatch(model, tokenizer, [list(s) for s in sources], settings, max_target)
    out: list[list[int]] = [[] for _ in sources]
    done = [False] * len(out)
    try:
        while not batch.finished(should_stop) and not all(done):
            for i, token in enumerate(batch.step()):
                if done[i]:
                    continue
                if token is None:
                    done[i] = True
                    continue
                out[i] += batch.stops[i].push(token)
                done[i] = batch.stops[i].stopped
    finally:
        batch.close()
    for i, stop in enumerate(batch.stops):
        if not stop.stopped:
            out[i] += stop.flush()
    return out


class _Seq2SeqBatch:
    """The state of one batched generation: encoder states, decoder tokens, the cache."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: TextTokenizer | None,
        sources: list[list[int]],
        settings: GenerationSettings,
        max_target: int | None,
    ) -> None:
        import torch

        from workbench.engine.generation.cache import KVCache

        if not sources or any(not s for s in sources):
            raise ValueError("seq2seq generation needs at least one token in every source")
        self.model = model
        self.settings = settings
        self.max_target = max_target
        self.eos = int(model.eos_token_id)
        self.device = next(model.parameters()).device
        self.generator = _generator(settings, self.device)
        self.was_training = model.training
        model.eval()
        S = max(map(len, sources))
        pad = int(model.pad_token_id)
        self.source = torch.tensor(
            [s + [pad] * (S - len(s)) for s in sources], device=self.device
        )  # (B, S), right-padded
        self.mask = torch.tensor(
            [[1] * len(s) + [0] * (S - len(s)) for s in sources], device=self.device
        )
        with torch.no_grad():
            self.encoded = model.encode(self.source, self.mask)  # (B, S, H), once
        start = int(model.decoder_start_token_id)
        self.tokens = torch.full((len(sources), 1), start, device=self.device)  # (B, 1)
        self.step_input = self.tokens
        self.cache = KVCache() if settings.use_cache else None
        # The tokenizer is needed for stop strings only (evaluation batches have none).
        text_of = _NewText(tokenizer, []) if settings.stop else None
        self.stops = [_StopStrings(settings.stop, text_of) for _ in sources]
        self.steps = 0

    def finished(self, should_stop: Callable[[], bool] | None) -> bool:
        if self.steps >= self.settings.max_new_tokens:
            return True
        if self.max_target is not None and self.tokens.shape[1] >= self.max_target + 1:
            return True  # the decoder reads every token so far: no more than its positions
        return should_stop is not None and should_stop()

    def step(self) -> list[int | None]:
        """One more token per row (None: that row chose end-of-sequence)."""
        import torch

        with torch.no_grad():
            logits = self._logits()  # (B, T or 1, V)
        chosen = _choose(logits[:, -1], self.tokens, self.settings, self.generator)  # (B,)
        self.tokens = torch.cat([self.tokens, chosen[:, None]], dim=1)
        self.step_input = chosen[:, None]  # (B, 1)
        self.steps += 1
        return [None if t == self.eos else t for t in chosen.tolist()]

    def _logits(self) -> torch.Tensor:
        if self.cache is not None:
            return self.model(
                None,
                self.mask,
                decoder_input_ids=self.step_input,
                encoder_hidden=self.encoded,
                cache=self.cache,
            )  # (B, 1, V): the newest token only
        return self.model(
            None, self.mask, decoder_input_ids=self.tokens, encoder_hidden=self.encoded
        )  # (B, T, V): the whole target again

    def close(self) -> None:
        self.model.train(self.was_training)
