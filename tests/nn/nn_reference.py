"""Independent NumPy implementations of the layers' maths, written out from their
definitions (direct loops over output positions; no jax.lax), for the tests."""

from __future__ import annotations

import itertools
import math

import numpy as np


def same_pads(size: int, kernel: int, stride: int, dilation: int, lower: bool) -> tuple[int, int]:
    """Padding that makes a convolution's output size ``ceil(size / stride)``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    lo = (total + 1) // 2 if lower else total // 2
    return lo, total - lo


def conv(x, weight, bias, stride, pads, dilation, groups, mode="constant"):
    """Cross-correlation of ``x`` ``(C, *spatial)`` with ``weight`` ``(O, C // groups, *k)``."""
    x = np.pad(x, [(0, 0)] + list(pads), mode=mode)
    out_channels, group_in, *kernel = weight.shape
    out_shape = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(x.shape[1:], kernel, stride, dilation)]
    y = np.zeros((out_channels, *out_shape), np.float64)
    per_group = out_channels // groups
    for o in range(out_channels):
        first = (o // per_group) * group_in
        for position in itertools.product(*map(range, out_shape)):
            window = x[
                (slice(first, first + group_in),)
                + tuple(
                    slice(p * s, p * s + d * (k - 1) + 1, d)
                    for p, s, d, k in zip(position, stride, dilation, kernel)
                )
            ]
            y[(o, *position)] = np.sum(window * weight[o])
    if bias is not None:
        y = y + bias
    return y


def conv_transpose(x, weight, bias, stride, pads, output_padding, dilation, groups):
    """Transposed convolution by scattering: input position ``i`` and kernel tap
    ``k`` add to output position ``i * stride - pad_lo + dilation * k``, with the
    kernel flipped (the weight is the correlation kernel of the dilated input)."""
    out_channels, group_in, *kernel = weight.shape
    flipped = weight[(slice(None), slice(None)) + (slice(None, None, -1),) * len(kernel)]
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip(x.shape[1:], stride, dilation, kernel)]
    margin = max(abs(p) for pair in pads for p in pair) + max(output_padding) + 1
    buffer = np.zeros((out_channels, *[f + 2 * margin for f in full]), np.float64)
    per_group = out_channels // groups
    for o in range(out_channels):
        first = (o // per_group) * group_in
        for i in itertools.product(*map(range, x.shape[1:])):
            for k in itertools.product(*map(range, kernel)):
                target = tuple(margin + p * s + d * kk for p, s, d, kk in zip(i, stride, dilation, k))
                buffer[(o, *target)] += np.dot(
                    x[(slice(first, first + group_in), *i)], flipped[(o, slice(None), *k)]
                )
    out_shape = [
        (n - 1) * s - lo - hi + d * (k - 1) + a + 1
        for n, s, (lo, hi), d, k, a in zip(x.shape[1:], stride, pads, dilation, kernel, output_padding)
    ]
    crop = tuple(slice(margin + lo, margin + lo + n) for (lo, _), n in zip(pads, out_shape))
    y = buffer[(slice(None), *crop)]
    if bias is not None:
        y = y + bias
    return y


def pool(x, kernel, stride, pads, reduce, fill):
    """Reduce windows of ``x`` ``(C, *spatial)`` after padding with ``fill``."""
    x = np.pad(x, [(0, 0)] + list(pads), constant_values=fill)
    out_shape = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:], kernel, stride)]
    y = np.zeros((x.shape[0], *out_shape), np.float64)
    for position in itertools.product(*map(range, out_shape)):
        window = x[
            (slice(None),) + tuple(slice(p * s, p * s + k) for p, s, k in zip(position, stride, kernel))
        ]
        y[(slice(None), *position)] = reduce(window.reshape(x.shape[0], -1), axis=1)
    return y


def adaptive_bins(size: int, target: int) -> list[tuple[int, int]]:
    """Contiguous bins: the first ``size % target`` have one element more."""
    small, large = divmod(size, target)
    bins, start = [], 0
    for index in range(target):
        width = small + (1 if index < large else 0)
        bins.append((start, start + width))
        start += width
    return bins


def adaptive_pool(x, target, reduce):
    axes_bins = [adaptive_bins(n, t) for n, t in zip(x.shape[1:], target)]
    y = np.zeros((x.shape[0], *target), np.float64)
    for position in itertools.product(*map(range, target)):
        block = x[(slice(None),) + tuple(slice(*axes_bins[a][p]) for a, p in enumerate(position))]
        y[(slice(None), *position)] = reduce(block.reshape(x.shape[0], -1), axis=1)
    return y


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def attention(q, k, v, mask=None):
    """Single-head scaled dot-product attention."""
    logits = q @ k.T / math.sqrt(q.shape[-1])
    if mask is not None:
        logits = np.where(mask, logits, -1e30)
    return softmax(logits) @ v
