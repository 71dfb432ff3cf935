"""Length-grouped batches with dynamic padding.

Sentences of similar length go in one batch, so padding (wasted work) stays small, while
batches are still shuffled each epoch. As in `transformers`' group_by_length: shuffle,
cut into mega-batches of 50 batches, sort each by length, slice, shuffle the batches.
"""

from __future__ import annotations

import numpy as np
import torch

MEGABATCH = 50


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    batches: list[list[int]] = []
    span = batch_size * MEGABATCH
    for start in range(0, len(order), span):
        mega = order[start : start + span]
        mega = mega[np.argsort(-lengths_arr[mega], kind="stable")]
        batches.extend(mega[i : i + batch_size].tolist() for i in range(0, len(mega), batch_size))
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """For evaluation: longest first, no shuffling (results are put back in order)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def collate(
    token_ids: list[list[int]], indices: list[int], pad_id: int, multiple_of: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, T) with T the longest in the batch, rounded up
    to `multiple_of` (bounds the number of distinct shapes for bf16/compiled kernels)."""
    rows = [token_ids[i] for i in indices]
    longest = max(len(r) for r in rows)
    longest = -(-longest // multiple_of) * multiple_of
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask
