"""`Partial`: `functools.partial` as a Module, so its bound arguments are PyTree leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._module import Module


class Partial(Module):
    """A function with some arguments fixed, whose arguments are PyTree children.

    `Partial(f, a, k=b)(x)` calls `f(a, x, k=b)`. Arrays in `a`/`b` (and in `f`
    when it is itself a PyTree, e.g. a Module) are visible to transformations;
    a plain Python function `f` is a leaf.
    """

    func: Callable
    args: tuple[Any, ...]
    keywords: dict[str, Any]

    def __init__(self, func: Callable, /, *args: Any, **kwargs: Any):
        """Args:
        func: the function to call.
        *args: leading positional arguments to fix.
        **kwargs: keyword arguments to fix (call-time keywords override them).
        """
        if not callable(func):
            raise TypeError(f"Partial needs a callable first argument, got {func!r}")
        self.func = func
        self.args = args
        self.keywords = kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*self.args, *args, **{**self.keywords, **kwargs})
