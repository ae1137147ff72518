"""Trace counting, to catch accidental recompilation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ._module import _bound_method

__all__ = ["assert_max_traces", "get_num_traces"]


class _TraceCounter:
    """Wraps a function; counts its calls, which under `jit` happen once per trace."""

    def __init__(self, fun: Callable, max_traces: int | None):
        self._fun = fun
        self._max_traces = max_traces
        self.num_traces = 0
        functools.update_wrapper(self, fun, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.num_traces += 1
        if self._max_traces is not None and self.num_traces > self._max_traces:
            raise RuntimeError(
                f"{getattr(self._fun, '__qualname__', self._fun)} was traced {self.num_traces} times, "
                f"more than max_traces={self._max_traces}: something it depends on (a shape, a dtype, "
                "a static value) keeps changing"
            )
        return self._fun(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return _bound_method(self, instance)


def assert_max_traces(fun: Callable | None = None, *, max_traces: int | None) -> Any:
    """Raise `RuntimeError` when `fun` is traced more than `max_traces` times.

    Put it *inside* the transformation: `filter_jit(assert_max_traces(f, max_traces=1))`
    (or as the inner decorator); each call of the wrapped function under `jit`
    is one trace.

    Args:
        fun: the function to watch. Usable as a decorator with `max_traces=`.
        max_traces: the most traces allowed; `None` only counts.

    Returns:
        The wrapped function; `get_num_traces` reads its count.
    """
    if fun is None:
        return lambda fun: assert_max_traces(fun, max_traces=max_traces)
    return _TraceCounter(fun, max_traces)


def get_num_traces(fun: Callable) -> int:
    """How many times `fun` has been traced.

    Args:
        fun: a function returned by `filter_jit` (or a method bound from one), or
            a function wrapped by `assert_max_traces` (possibly inside other wrappers).

    Returns:
        The number of traces so far.
    """
    current: Any = fun
    while current is not None:
        if isinstance(current, _TraceCounter):
            return current.num_traces
        state = getattr(current, "_jit_state", None)
        if state is not None:
            return state.num_traces
        current = getattr(current, "__wrapped__", None)
    raise ValueError(f"{fun!r} is neither a filter_jit function nor wrapped by assert_max_traces")
