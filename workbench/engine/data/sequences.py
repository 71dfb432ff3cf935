"""Token sequences kept compactly: one flat numpy array and the offsets where each row starts.

A Python list of lists of ints costs about 36 bytes per token (an 8-byte pointer and a
28-byte int object for every id above 256) and 56+ bytes per row; a 300 MB CSV of short
sentences has ~60 million tokens, so the lists alone took gigabytes. Here a token costs
the smallest integer type its values fit (2 bytes for a 30k vocabulary, 1 for token types
and masks) and a row 8 bytes of offset. Rows read back as numpy views, which every consumer
of `Features.sequences` indexes, measures with `len` and hands to `torch.tensor`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

_TYPES = (np.int8, np.int16, np.int32, np.int64)


def smallest_int_type(low: int, high: int) -> np.dtype:
    """The narrowest signed integer type that holds every value in [low, high]."""
    for candidate in _TYPES:
        info = np.iinfo(candidate)
        if info.min <= low and high <= info.max:
            return np.dtype(candidate)
    raise OverflowError(f"values {low}..{high} do not fit in 64 bits")


class PackedSequences(Sequence):
    """Rows of integers as `flat[offsets[i]:offsets[i + 1]]` (read-only views)."""

    __slots__ = ("flat", "offsets")

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.ndim != 1 or len(offsets) == 0 or offsets[-1] != len(flat):
            raise ValueError("offsets must start a row each and end at len(flat)")
        self.flat = flat
        self.offsets = offsets.astype(np.int64, copy=False)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[int]]) -> PackedSequences:
        """Pack lists (or arrays) of ints, in the narrowest type that holds them."""
        rows = rows if isinstance(rows, list) else list(rows)
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=total)
        if total:
            flat = flat.astype(smallest_int_type(int(flat.min()), int(flat.max())))
        else:
            flat = flat.astype(np.int8)
        return cls(flat, offsets)

    @classmethod
    def concat(cls, parts: Sequence[PackedSequences]) -> PackedSequences:
        """One PackedSequences of the parts' rows in order (in the widest part's type)."""
        if not parts:
            return cls(np.zeros(0, dtype=np.int8), np.zeros(1, dtype=np.int64))
        flat = np.concatenate([p.flat for p in parts])
        starts = np.cumsum([0] + [len(p.flat) for p in parts[:-1]])
        offsets = np.concatenate(
            [parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, starts, strict=True)]
        )
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index):  # int -> np.ndarray row; slice -> PackedSequences
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            first, last = int(self.offsets[start]), int(self.offsets[max(stop, start)])
            return PackedSequences(
                self.flat[first:last], self.offsets[start : max(stop, start) + 1] - first
            )
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        row = self.flat[self.offsets[index] : self.offsets[index + 1]]
        row.flags.writeable = False
        return row

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def nbytes(self) -> int:
        return int(self.flat.nbytes + self.offsets.nbytes)

    def tolist(self) -> list[list[int]]:
        return [row.tolist() for row in self]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedSequences):
            return np.array_equal(self.flat, other.flat) and np.array_equal(
                self.offsets, other.offsets
            )
        if isinstance(other, list):
            return self.tolist() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedSequences({len(self)} rows, {len(self.flat)} values, {self.flat.dtype})"


class TextColumn(Sequence):
    """A column of texts kept in a pandas string array (Arrow-backed: the text's bytes and an
    offset per row) instead of a list of Python strings (~50 bytes of object header each, and
    a heap that stays fragmented after the table is gone). A Python `str` is made only for
    the rows read: one by index, a slice (a chunk to tokenise) as a list."""

    __slots__ = ("array",)
    BLOCK = 10_000

    def __init__(self, array) -> None:
        self.array = array

    @classmethod
    def from_series(cls, series) -> TextColumn:
        """The series' values as text (what `.astype(str).tolist()` gives, kept compact)."""
        import pandas as pd

        values = series.astype(str).array
        if getattr(values.dtype, "storage", None) != "pyarrow":  # pandas 2: object strings
            try:
                values = pd.array(values, dtype="string[pyarrow]")
            except (ImportError, TypeError, ValueError):
                pass  # no pyarrow: the strings as they are
        return cls(values)

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index):  # int -> str; slice -> list[str]
        if isinstance(index, slice):
            return list(self.array[index].tolist())
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return str(self.array[index])

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), self.BLOCK):
            yield from self.array[start : start + self.BLOCK].tolist()

    def take(self, indices) -> TextColumn:
        """The rows at `indices`, still compact (a split of a big table)."""
        return TextColumn(self.array.take(np.asarray(indices, dtype=np.intp)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextColumn | list | tuple):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TextColumn({len(self)} texts)"
