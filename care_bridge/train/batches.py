"""Training batches gathered from patch rows (memory-mapped or in memory), in a seeded order that a resumed run
continues.

The order: the training patches are visited pass by pass, each pass a uniformly random permutation of all of them
(pass ``k`` of seed ``s``: ``np.random.default_rng([s, k]).permutation(n)``), the passes concatenated into one
stream of patch positions; batch ``j`` of a run that starts at position ``p0`` holds positions
``p0 + j·b … p0 + (j+1)·b - 1`` (a batch may span two passes). Every patch is seen once per pass, as with a
shuffle buffer of the whole set, and the same seed gives the same batches whatever holds the patches (a memory
map of a file larger than RAM or an array), so streamed and in-memory training are the same computation. A
resumed run starts at the position its interrupted run reached (``patches_seen`` in the training state).

Memory: one batch (and the Keras pipeline's prefetched ones), and one pass's permutation (8 bytes a patch).
There is no on-line augmentation: patches are flipped and rotated when they are made (``care-bridge datagen``).
"""

from __future__ import annotations

import numpy as np

from ..data.patch_store import PatchRows, rows


def pass_permutation(seed: int, n: int, k: int) -> np.ndarray:
    """The order of the ``n`` training patches in pass ``k`` (0, 1, …) of seed ``seed``."""
    return np.random.default_rng([int(seed) % (1 << 64), int(k)]).permutation(n)


class BatchStream:
    """Batches of ``(X, Y)`` float32 gathered from the rows of ``X``/``Y`` (arrays or :class:`PatchRows`) in the
    order of :func:`pass_permutation`, starting at stream position ``start``."""

    def __init__(self, X, Y, *, batch_size: int, seed: int, start: int = 0):
        self.X, self.Y = rows(X), rows(Y)
        self.n, self.batch_size, self.seed, self.start = len(self.X), int(batch_size), int(seed), int(start)
        self._perm: tuple[int, np.ndarray] | None = None

    def _pass(self, k: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != k:
            self._perm = (k, pass_permutation(self.seed, self.n, k))
        return self._perm[1]

    def indices(self, j: int) -> np.ndarray:
        """Row numbers (into ``X``/``Y``) of batch ``j`` of this run."""
        pos = self.start + int(j) * self.batch_size + np.arange(self.batch_size)
        k, off = np.divmod(pos, self.n)
        return np.concatenate([self._pass(int(kk))[off[k == kk]] for kk in np.unique(k)])

    def batch(self, j) -> tuple[np.ndarray, np.ndarray]:
        return gather(self.X, self.Y, self.indices(int(j)))


def gather(X: PatchRows, Y: PatchRows, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of ``X`` and ``Y`` as float32; a memory map reads them in file order (sorted), which keeps
    the reads sequential where the rows are near each other."""
    order = np.argsort(idx, kind="stable")
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    xs, ys = X.take(idx[order]), Y.take(idx[order])
    return np.asarray(xs[back], np.float32), np.asarray(ys[back], np.float32)


def validation_batches(X, Y, batch_size: int) -> tuple[int, object]:
    """``(n_batches, batch(i))``: the validation rows in order, ``batch_size`` at a time (the last batch smaller)."""
    X, Y = rows(X), rows(Y)
    n = len(X)

    def batch(i) -> tuple[np.ndarray, np.ndarray]:
        i = int(i)
        return gather(X, Y, np.arange(i * batch_size, min(n, (i + 1) * batch_size)))

    return -(-n // batch_size), batch


def all_finite(A, *, chunk_bytes: int = 64 << 20) -> bool:
    """Whether every value of ``A`` (array or :class:`PatchRows`) is finite, read ``chunk_bytes`` at a time."""
    A = rows(A)
    per = max(1, chunk_bytes // max(1, int(np.prod(A.shape[1:])) * A.dtype.itemsize))
    return all(np.isfinite(A.take(np.arange(i, min(len(A), i + per)))).all() for i in range(0, len(A), per))


def tf_datasets(stream: BatchStream, X_val, Y_val, *, prefetch: int = 2):
    """The Keras inputs: an endless ``tf.data`` pipeline of ``stream``'s batches and the finite one of the
    validation batches, each batch gathered by NumPy (``tf.numpy_function``) when the pipeline needs it."""
    import tensorflow as tf

    x_shape = (stream.batch_size, *stream.X.shape[1:])
    y_shape = (stream.batch_size, *stream.Y.shape[1:])

    def shaped(xs, ys, bs=None):
        xs.set_shape((bs, *x_shape[1:]))
        ys.set_shape((bs, *y_shape[1:]))
        return xs, ys

    def mapped(fn, bs):
        return lambda i: shaped(*tf.numpy_function(fn, [i], (tf.float32, tf.float32)), bs=bs)

    train = tf.data.Dataset.counter(0).map(mapped(stream.batch, stream.batch_size)).prefetch(prefetch)
    n_val, val_batch = validation_batches(X_val, Y_val, stream.batch_size)
    val = tf.data.Dataset.range(n_val).map(mapped(val_batch, None)).prefetch(prefetch)
    return train, val
