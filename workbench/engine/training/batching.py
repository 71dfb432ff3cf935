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


# Padding of sequence features other than the input ids: token types 0, per-token labels
# -100 (what cross-entropy ignores).
SEQUENCE_PADDING = {"token_type_ids": 0, "special_tokens_mask": 1}
IGNORE_INDEX = -100


def collate_features(
    features, indices: list[int], pad_id: int, multiple_of: int = 1
) -> dict[str, torch.Tensor]:
    """A batch of `Features` rows: every sequence padded to the longest in the batch (rounded
    up to `multiple_of`), an attention mask, and the per-feature values stacked."""
    ids, mask = collate(features.sequences["input_ids"], indices, pad_id, multiple_of)
    batch = {"input_ids": ids, "attention_mask": mask}
    width = ids.shape[1]
    for name, sequences in features.sequences.items():
        if name == "input_ids":
            continue
        fill = SEQUENCE_PADDING.get(name, IGNORE_INDEX)
        padded = torch.full((len(indices), width), fill, dtype=torch.long)
        for row, i in enumerate(indices):
            values = sequences[i]
            padded[row, : len(values)] = torch.tensor(values, dtype=torch.long)
        batch[name] = padded
    for name, values in features.values.items():
        batch[name] = torch.from_numpy(np.ascontiguousarray(values[indices]))
    return batch
