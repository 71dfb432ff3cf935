"""The key/value cache every decoder family fills the same way, so generation names no family."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


class KVCache:
    """Keys and values of the tokens seen so far, per layer, each (B, kv_heads, T, head_dim).

    A head calls `update(layer, k, v)` with this step's keys and values and attends over
    what it returns; `length` is the number of cached positions before this call's tokens
    (read it before the first layer updates).

    Encoder-decoders also keep their cross-attention keys and values in `cross` (layer ->
    (keys, values) of the encoder's states): computed on the first step, reused after.
    """

    def __init__(self) -> None:
        self._keys: list[Tensor] = []
        self._values: list[Tensor] = []
        self.cross: dict[int, tuple[Tensor, Tensor]] = {}

    @property
    def length(self) -> int:
        return int(self._keys[0].shape[2]) if self._keys else 0

    def update(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        import torch

        if layer == len(self._keys):
            self._keys.append(keys)
            self._values.append(values)
        elif layer < len(self._keys):
            self._keys[layer] = torch.cat([self._keys[layer], keys], dim=2)
            self._values[layer] = torch.cat([self._values[layer], values], dim=2)
        else:
            raise IndexError(f"layer {layer} updated before layer {len(self._keys)}")
        return self._keys[layer], self._values[layer]

    def reorder(self, index: Tensor) -> None:
        """Keep only the batch rows in `index` (a finished sequence dropped, beams reordered)."""
        self._keys = [k.index_select(0, index) for k in self._keys]
        self._values = [v.index_select(0, index) for v in self._values]
        self.cross = {
            layer: (k.index_select(0, index), v.index_select(0, index))
            for layer, (k, v) in self.cross.items()
        }
