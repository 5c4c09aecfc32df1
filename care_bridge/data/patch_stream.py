"""Patch pairs made a batch at a time: a mode's generator hands out one source's patches (or one chunk of them)
with their rows in the patch file, so that ``care-bridge datagen`` writes them to disk
(:class:`~care_bridge.data.patch_store.PatchFileWriter`) without holding all of them, and the Python API collects
the same batches into arrays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import CareBridgeError

CHUNK_BYTES = 32 << 20  # patch pairs a stream makes at once from one source (the isotropic stack)


@dataclass
class PatchBatch:
    """Patch pairs of one source (or one chunk of them): ``X``/``Y`` float32 ``"S<spatial>C"``, their ``rows``
    among all the stream's patches and their ``source`` (one integer, or one per patch)."""

    rows: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    source: int | np.ndarray


class PatchStream:
    """``n`` patch pairs made a :class:`PatchBatch` at a time, so that only one source's patches (or one chunk's)
    need be in memory; iterate it once. ``info`` describes them as the generator's in-memory form does, without
    ``source`` (the batches carry it); it is complete once the stream is exhausted (upsampling's foreground
    fractions, for one, grow stack by stack). ``shapes``: one ``X`` and one ``Y`` patch's, once a batch came."""

    def __init__(self, n: int, batches: Iterator[PatchBatch], info: dict):
        self.n, self.info = int(n), info
        self._batches = batches
        self.shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def __iter__(self) -> Iterator[PatchBatch]:
        for b in self._batches:
            self.shapes = self.shapes or (tuple(b.X.shape[1:]), tuple(b.Y.shape[1:]))
            yield b
            del b  # one batch in memory: not this one while the next is made

    def collect(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All the patches in memory: ``(X, Y, source)`` in row order."""
        X = Y = None
        source = np.zeros(self.n, np.int32)
        for b in self:
            if X is None:
                X = np.empty((self.n, *b.X.shape[1:]), np.float32)
                Y = np.empty((self.n, *b.Y.shape[1:]), np.float32)
            X[b.rows], Y[b.rows], source[b.rows] = b.X, b.Y, b.source
        if X is None:
            raise CareBridgeError("the generator made no patches")
        return X, Y, source

    def write(self, writer) -> None:
        """Append every batch at its rows to ``writer``, a :class:`~care_bridge.data.patch_store.PatchFileWriter`
        (committing is the caller's: the report may need ``info`` complete)."""
        for b in self:
            writer.append(b.X, b.Y, b.source, rows=b.rows)
            del b


def with_source(info: dict, source: np.ndarray) -> dict:
    """``info`` with ``source`` (one integer per patch) before its ``source_names``: what the in-memory
    generators return."""
    out = {}
    for k, v in info.items():
        if k == "source_names":
            out["source"] = source
        out[k] = v
    return out if "source" in out else {**out, "source": source}


def generator_at(rng: np.random.Generator, state: dict) -> np.random.Generator:
    """A new generator of ``rng``'s kind in ``state`` (a ``bit_generator.state`` saved earlier): it draws again
    what ``rng`` drew from there, for streams that must simulate a source twice to keep the draws' order."""
    g = np.random.Generator(type(rng.bit_generator)(0))
    g.bit_generator.state = state
    return g
