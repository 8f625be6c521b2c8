"""The NumPy engine (``engine="numpy"``): the reference engine's equations in buffers allocated once.

On small networks an evaluation costs the fixed overhead of each NumPy call rather than arithmetic, so this
engine does the least Python per call: the parameters are copied into a workspace kept for the next call with
the same number of models, whose every view (``W_l``, ``W_lᵀ``, ``b_l``, the gradient's ``dW_l``, ``db_l``) and
buffer is made once; every array is written with ``out=``; the log-sum-exp is taken once (never the logarithm
of a probability); and the first layer of all M models meets the shared data in one GEMM. The matrices a BLAS
call sees are each model's own, ``(n, S)``: with one model they are 2-D views (``np.dot``), with several a
stack (``np.matmul``); every other line is the same for both. A stack whose hidden layers would not stay in a
core's caches (``CHUNK_BYTES``) is evaluated a few models at a time, each chunk in the same buffers (what that
saves: docs/performance.md, "Chunks of models"); a model whose layers alone would not stay there is evaluated a
fixed block of samples at a time, its loss and gradient the sums of the blocks' parts, added in block order. The
chunks (or blocks) are shared out among :data:`CHUNK_THREADS` threads, each with buffers of its own, and every
chunk's numbers are the same whichever thread makes them. Same labels as
:mod:`descentlab.core.engines.reference`; ``z[l]`` here holds z_{l+1} (and, on the way back, dZ_{l+1}),
``a[l]`` is a_l and ``dh[l]`` is h′(z_{l+1}).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextvars import ContextVar, copy_context
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..activations import Fill
from .base import WANTS, Batch, Evaluation, Network, Want

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

CHUNK_BYTES = 1 << 21  # the widest layer's (models, units, samples) array of a chunk at most this large
# How many threads evaluate a stack's chunks, or a model's blocks of samples, at once: fit gives them the threads
# it takes from BLAS (training/fit.py, blas_threads). The chunks do not depend on it, so neither do the numbers.
CHUNK_THREADS: ContextVar[int] = ContextVar("CHUNK_THREADS", default=1)


class Workspace:
    """Every array one evaluation of M models reads or writes, made once and reused by every call (for every block
    of samples of its size: :meth:`read` points it at one)."""

    def __init__(self, net: Network, M: int, A0: np.ndarray) -> None:
        dtype, S, d, n1 = A0.dtype, A0.shape[1], net.sizes[0], net.sizes[1]
        one = M == 1
        model: Callable[[np.ndarray], np.ndarray] = (lambda a: a[0]) if one else (lambda a: a)  # BLAS operands
        self.M, self.product = M, np.dot if one else np.matmul
        self.x = np.empty((M, net.n_params), dtype)  # the parameters, copied in: their views below stay valid
        self.W = [model(W) for W, _ in net.layers(self.x)]
        self.W_T = [W.mT for W in self.W]
        self.b3 = [b for _, b in net.layers(self.x)]
        self.b = [model(b) for b in self.b3]
        self.z3 = [np.empty((M, n, S), dtype) for n in net.sizes[1:]]
        self.z = [model(z) for z in self.z3]
        self.a3 = [A0[None]] + [np.empty((M, n, S), dtype) for n in net.sizes[1:-1]]
        self.a = [A0] + [model(a) for a in self.a3[1:]]
        self.a_T = [a.mT for a in self.a]
        self.dh3 = [np.empty_like(a) for a in self.a3[1:]]
        self.dh = [model(dh) for dh in self.dh3]
        self.column = np.empty((M, 1, S), dtype)  # max_j z_j, then Σ_j e^{z_j − max}
        self.log_column = np.empty((M, 1, S), dtype)
        self.picked = np.empty(M, dtype)
        self.z1_rows = self.z3[0].reshape(M * n1, S)  # z_1 of all models, one row per unit, for the shared GEMM
        self.z_L_rows = self.z3[-1].reshape(M, -1)  # each model's z_L as one row, for Σ_s z_{y_s s}
        # The first layer of all models as one (M·n_1, d) matrix: with one model, the parameters' own view.
        self.W0_rows = self.W[0] if one else np.empty((M * n1, d), dtype)
        self.gradient = np.empty((M, net.n_params), dtype)
        self.dW = [model(dW) for dW, _ in net.layers(self.gradient)]
        self.db = [model(db)[..., 0] for _, db in net.layers(self.gradient)]
        self.dW0_rows = self.dW[0] if one else np.empty((M * n1, d), dtype)  # like W0_rows

    def read(self, A0: np.ndarray) -> None:
        """Take the samples ``A0`` (d, S), of the size this workspace was made for, as a_0."""
        self.a3[0], self.a[0], self.a_T[0] = A0[None], A0, A0.mT


def models_per_chunk(sizes: Sequence[int], samples: int, itemsize: int) -> int:
    """How many models of a stack one evaluation takes at a time: as many as keep the widest layer's
    (models, units, samples) array within ``CHUNK_BYTES``."""
    return max(1, CHUNK_BYTES // (max(sizes[1:]) * samples * itemsize))


def samples_per_block(sizes: Sequence[int], samples: int, itemsize: int) -> int:
    """How many samples one evaluation of a model takes at a time: all of them when its widest layer's
    (units, samples) array is within ``CHUNK_BYTES``, else as many as keep it there."""
    return min(samples, max(1, CHUNK_BYTES // (max(sizes[1:]) * itemsize)))


def even_slices(n: int, parts: int) -> list[slice]:
    """``range(n)`` cut into ``parts`` consecutive slices of ⌊n/parts⌋ or ⌈n/parts⌉."""
    return [slice(i * n // parts, (i + 1) * n // parts) for i in range(parts)]


class _ThreadWorkspaces(threading.local):
    def __init__(self) -> None:  # in each thread that uses them
        self.by_size: dict[tuple[int, int], Workspace] = {}


# (z, b, a, dh, derivative) on stacks (M, n, S), b (M, n, 1): z += b (F1's bias), then a = h(z), dh = h′(z) (F2)
Activate = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool], None]


def bias_then(fill: Fill) -> Activate:
    """The hidden layers' bias and activation as two NumPy steps: ``z += b``, then the activation's formula."""

    def activate(z: np.ndarray, b: np.ndarray, a: np.ndarray, dh: np.ndarray, derivative: bool) -> None:
        np.add(z, b, out=z)  # (F1) + b_l
        fill(z, a, dh, derivative)  # (F2)

    return activate


class FusedEngine:
    """The buffered NumPy kernel; see the module docstring. ``activate`` replaces :func:`bias_then` (the compiled
    engine passes its fused softplus; it may also replace ``products_back`` and ``exp``)."""

    def __init__(self, net: Network, batch: Batch, activate: Activate | None = None) -> None:
        self.net, self.batch = net, batch
        self.activate = activate or bias_then(net.activation.fill)
        self.products_back: Callable[[Workspace], None] = self.blas_products_back  # (B2–B5) from dZ_L
        self.exp: Callable[..., object] = np.exp  # e^x of x ≤ 0 in place (the simd engine passes its own)
        self.S = batch.S  # every block's sums are divided by the whole batch's S: its parts add up to the loss
        itemsize = batch.A0.dtype.itemsize
        self.chunk = models_per_chunk(net.sizes, batch.S, itemsize)
        per_block = samples_per_block(net.sizes, batch.S, itemsize)
        self.blocks = [] if per_block == batch.S else [batch.block(part)
                                                       for part in even_slices(batch.S, -(-batch.S // per_block))]
        self._local = _ThreadWorkspaces()
        self._stack_gradient = np.empty((0, net.n_params), batch.A0.dtype)

    @property
    def _works(self) -> dict[tuple[int, int], Workspace]:
        """This thread's workspaces, by number of models and of samples."""
        return self._local.by_size

    def workspace(self, M: int, A0: np.ndarray | None = None) -> Workspace:
        """This thread's buffers for a stack of M models on the samples ``A0`` (default: the whole batch's), kept
        for two sizes: a stack's chunks, or a model's blocks, have at most two."""
        A0 = self.batch.A0 if A0 is None else A0
        works = self._works
        work = works.get((M, A0.shape[1]))
        if work is None:
            if len(works) == 2:
                works.clear()
            work = works[M, A0.shape[1]] = Workspace(self.net, M, A0)
        if work.a[0] is not A0:
            work.read(A0)
        return work

    def evaluate(self, x: np.ndarray, want: Want) -> Evaluation:
        if self.blocks:
            return self._in_blocks(x, want)
        chunks = -(-x.shape[0] // self.chunk)
        return self.evaluate_chunk(x, want) if chunks <= 1 else self._in_chunks(x, want, chunks)

    def _in_chunks(self, x: np.ndarray, want: Want, chunks: int) -> Evaluation:
        """The stack evaluated ``chunks`` slices of models at a time, by up to :data:`CHUNK_THREADS` threads; each
        chunk's results copied into arrays of the whole stack."""
        M, (gradient, correct_wanted) = x.shape[0], WANTS[want]
        stack_gradient = self._stack_gradient_of(x)
        loss, correct = np.empty(M, x.dtype), np.empty(M, np.int64)
        todo = deque(even_slices(M, chunks))

        def evaluate_chunks() -> None:  # the next chunk no thread has taken, until none is left
            while (part := _take(todo)) is not None:
                result = self.evaluate_chunk(x[part], want)
                loss[part] = result.loss
                if result.correct is not None:
                    correct[part] = result.correct
                if result.gradient is not None:  # before this thread's next chunk of this size overwrites it
                    np.copyto(stack_gradient[part], result.gradient)

        share_out(evaluate_chunks, min(CHUNK_THREADS.get(), chunks), todo)
        return Evaluation(loss, stack_gradient if gradient else None, correct if correct_wanted else None)

    def _stack_gradient_of(self, x: np.ndarray) -> np.ndarray:
        """The (M, P) array a stack's gradient is gathered in, kept for the next stack of the same size."""
        if self._stack_gradient.shape[0] != x.shape[0]:
            self._stack_gradient = np.empty(x.shape, x.dtype)
        return self._stack_gradient

    def _in_blocks(self, x: np.ndarray, want: Want) -> Evaluation:
        """Each model's loss, gradient and correct count as sums over :attr:`blocks`, one model at a time, its
        blocks shared out among up to :data:`CHUNK_THREADS` threads and their parts added in block order."""
        M, (gradient, correct_wanted) = x.shape[0], WANTS[want]
        stack_gradient = self._stack_gradient_of(x)
        losses, corrects = np.empty((len(self.blocks), M), x.dtype), np.empty((len(self.blocks), M), np.int64)
        for m in range(M):
            self._model_in_blocks(x[m:m + 1], want, losses[:, m], corrects[:, m], stack_gradient[m])
        # accumulate adds the blocks one after another (NumPy's sum of one model's row would pair them up, and a
        # model would get other bits alone than in a stack)
        return Evaluation(np.add.accumulate(losses)[-1], stack_gradient if gradient else None,
                          np.add.accumulate(corrects)[-1] if correct_wanted else None)

    def _model_in_blocks(self, x: np.ndarray, want: Want, losses: np.ndarray, corrects: np.ndarray,
                         gradient: np.ndarray) -> None:
        todo, gradients = deque(range(len(self.blocks))), InOrder(gradient)

        def evaluate_blocks() -> None:  # the next block no thread has taken, until none is left
            while (b := _take(todo)) is not None:
                result = self.evaluate_chunk(x, want, self.blocks[b])
                losses[b] = result.loss[0]
                if result.correct is not None:
                    corrects[b] = result.correct[0]
                if result.gradient is not None:  # before this thread's next block overwrites it
                    gradients.add(b, result.gradient[0])

        share_out(evaluate_blocks, min(CHUNK_THREADS.get(), len(self.blocks)), todo)

    def evaluate_chunk(self, x: np.ndarray, want: Want, samples: Batch | None = None) -> Evaluation:
        """One evaluation of the stack ``x`` on ``samples`` (default: the whole batch) in one workspace."""
        samples = samples or self.batch
        work = self.workspace(x.shape[0], samples.A0)
        np.copyto(work.x, x)
        gradient, correct_wanted = WANTS[want]
        self.forward(work, gradient)
        loss, correct = self.output(work, correct_wanted, samples)
        if not gradient:
            return Evaluation(loss, None, correct)
        self.backward(work, samples)
        return Evaluation(loss, work.gradient, correct)

    def forward(self, work: Workspace, gradient: bool) -> None:
        """(F1, F2) z_{l+1} = W_l a_l + b_l and a_{l+1} = h(z_{l+1}) (with h′ when the gradient is wanted)."""
        z, a = work.z, work.a
        if work.M > 1:  # the first layer of every model as one matrix, for one GEMM over the shared data
            np.copyto(work.W0_rows.reshape(work.W[0].shape), work.W[0])
        np.dot(work.W0_rows, a[0], out=work.z1_rows)  # (F1) z_1 = W_0 a_0 (+ b_0 below)
        for l in range(1, len(z)):  # noqa: E741 - the derivation's layer index
            self.activate(work.z3[l - 1], work.b3[l - 1], work.a3[l], work.dh3[l - 1], gradient)  # (F1, F2)
            work.product(work.W[l], a[l], out=z[l])  # (F1) z_{l+1} = W_l a_l (+ b_l)
        np.add(z[-1], work.b[-1], out=z[-1])

    def output(self, work: Workspace, want_correct: bool, samples: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """The loss (L1) and the correct counts from z_L; leaves e^{z_L − m} in ``z[-1]`` and Σ_j in ``column``."""
        z_L = work.z3[-1]
        correct = (np.argmax(z_L, axis=-2) == samples.y).sum(axis=-1) if want_correct else None
        # (F3, L1) log-sum-exp: L = (1/S) Σ_s (m_s + ln Σ_j e^{z_js − m_s} − z_{y_s s}), every exponent ≤ 0.
        np.maximum.reduce(z_L, axis=-2, keepdims=True, out=work.column)
        np.subtract(z_L, work.column, out=z_L)
        # Σ_s (z_{y_s s} − m_s), one BLAS dot per model: the same sum whatever the size of the stack
        picked = np.vecdot(work.z_L_rows, samples.Y_flat, out=work.picked)
        self.exp(z_L, out=z_L)
        np.add.reduce(z_L, axis=-2, keepdims=True, out=work.column)
        np.log(work.column, out=work.log_column)
        return (np.add.reduce(work.log_column, axis=(-2, -1)) - picked) / self.S, correct

    def backward(self, work: Workspace, batch: Batch) -> None:
        """(B1–B5) from the output layer down, with e^{z_L − m} in ``z[-1]``; ∂L/∂x into ``work.gradient``."""
        dZ = work.z3[-1]
        np.divide(dZ, work.column, out=dZ)  # (F3) ŷ = softmax(z_L)
        np.subtract(dZ, batch.Y, out=dZ)
        np.multiply(dZ, 1.0 / self.S, out=dZ)  # (B1) dZ_L = (Ŷ − Y)/S: the softmax Jacobian collapsed
        self.products_back(work)

    def blas_products_back(self, work: Workspace) -> None:
        """(B2–B5) from dZ_L in ``z[-1]``: each layer's products by BLAS, the first layer's for all models in one
        GEMM."""
        z, a_T = work.z, work.a_T
        for l in range(len(z) - 1, 0, -1):  # noqa: E741 - the derivation's layer index
            self.layer_products_back(work, l)
            np.multiply(z[l - 1], work.dh[l - 1], out=z[l - 1])  # (B5) dZ_l = ∂L/∂a_l ⊙ h′(z_l)
        np.dot(work.z1_rows, a_T[0], out=work.dW0_rows)  # (B2) of the first layer, all models in one GEMM
        if work.M > 1:
            np.copyto(work.dW[0], work.dW0_rows.reshape(work.dW[0].shape))
        np.add.reduce(z[0], axis=-1, out=work.db[0])  # (B3)

    def layer_products_back(self, work: Workspace, l: int) -> None:  # noqa: E741 - the derivation's layer index
        """(B2–B4) of layer l ≥ 1 from dZ_{l+1} in ``z[l]``; z_l is no longer needed: ``z[l − 1]`` receives
        ∂L/∂a_l."""
        dZ = work.z[l]
        work.product(dZ, work.a_T[l], out=work.dW[l])  # (B2) ∂L/∂W_l = dZ_{l+1} a_lᵀ
        np.add.reduce(dZ, axis=-1, out=work.db[l])  # (B3) ∂L/∂b_l = Σ_s dZ_{l+1}
        work.product(work.W_T[l], dZ, out=work.z[l - 1])  # (B4) ∂L/∂a_l = W_lᵀ dZ_{l+1}


class InOrder:
    """Adds the blocks' gradients into ``total`` in block order as threads finish them: a block finished before
    one ahead of it waits, copied, until that one is added: those finished while an earlier block is still being
    computed, few since the blocks are taken in order, more only while a thread stalls."""

    def __init__(self, total: np.ndarray) -> None:
        self.total, self.next, self.early, self._lock = total, 0, dict[int, np.ndarray](), threading.Lock()

    def add(self, block: int, gradient: np.ndarray) -> None:
        with self._lock:
            if block != self.next:
                self.early[block] = gradient.copy()
                return
            self._add(gradient)
            while self.next in self.early:
                self._add(self.early.pop(self.next))

    def _add(self, gradient: np.ndarray) -> None:
        if self.next == 0:
            np.copyto(self.total, gradient)
        else:
            np.add(self.total, gradient, out=self.total)
        self.next += 1


Task = TypeVar("Task")


def _take(todo: deque[Task]) -> Task | None:
    try:
        return todo.popleft()  # a deque's pops are atomic: no two threads take the same chunk
    except IndexError:
        return None


@cache
def _helpers() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # imported by the first stack in chunks on threads

    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="descentlab-chunks")


def share_out(work: Callable[[], None], threads: int, todo: deque[Any]) -> None:
    """``work`` on this thread and on ``threads − 1`` helpers at once, each taking chunks from ``todo``, the
    helpers in this thread's context (NumPy's error settings among it); returns when all have finished. An
    error in one, or an interrupt while this thread waits, ends the others after the chunk they hold (which
    writes into the arrays the caller gets back) and then reaches the caller."""
    if threads <= 1:
        work()
        return

    def work_or_stop_all() -> None:
        try:
            work()
        except BaseException:
            todo.clear()
            raise

    helpers = [_helpers().submit(copy_context().run, work_or_stop_all) for _ in range(threads - 1)]
    try:
        work_or_stop_all()
    finally:
        _wait_for(helpers, todo)
    for helper in helpers:
        helper.result()  # a helper's error


def _wait_for(helpers: list[Future[None]], todo: deque[Any]) -> None:
    """Until every helper has finished; a Ctrl-C meanwhile leaves them no chunk to take and is raised after."""
    from concurrent.futures import wait

    interrupted: BaseException | None = None
    while True:
        try:
            wait(helpers)
            break
        except BaseException as error:
            todo.clear()
            interrupted = interrupted or error
    if interrupted is not None:
        raise interrupted
