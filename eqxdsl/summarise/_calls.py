"""Seeing which layer runs during one abstract trace of a model.

While a `CallRecorder` is active, the `__call__` of every layer class in the
model is wrapped. Each call is matched to a layer path, records its outputs, and
runs inside a `jax.named_scope` whose name is a token for that path, so every
equation of the trace (inside `lax.scan` bodies, `jax.vmap`s and `jax.jit`s
too) says which layer it belongs to.

A layer is usually called as the very object the tree holds (`self.attn(...)`,
`jax.vmap(self.ln)`), which is matched by identity. Under `lax.scan` over
stacked layers, or after `combine`, the object is rebuilt from traced leaves;
it is then matched to the layer of the caller with the same class and the same
PyTree structure.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.tree_util as jtu

from ._kinds import Kinds
from ._report import TensorInfo
from ._tree import join_path, path_str, sublayers

_TOKEN = "eqxdsl-summary-{}"
_TOKEN_PATTERN = re.compile(r"eqxdsl-summary-(\d+)")
_active: contextvars.ContextVar[CallRecorder | None] = contextvars.ContextVar("eqxdsl_summary", default=None)
# Wrapping class attributes is process-wide: one recorder patches at a time.
_patch_lock = threading.Lock()


def innermost_token(name_stack: str) -> int | None:
    """The token of the innermost layer call named in a jaxpr equation's name stack."""
    found = _TOKEN_PATTERN.findall(name_stack)
    return int(found[-1]) if found else None


@dataclasses.dataclass
class Call:
    """What the calls of one layer path did.

    Attributes:
        type: the class name of the layer called.
        parent: the path of the caller (the model's path `""` at the top).
        outputs: the arrays its first call returned.
        calls: how many times it was called.
    """

    type: str
    parent: str | None
    outputs: tuple[TensorInfo, ...]
    calls: int


def vmapped_sizes(x: Any) -> tuple[int, ...]:
    """The sizes of the `jax.vmap` axes a traced value carries, outermost first.

    A value traced under `jax.vmap` is a batch tracer holding the batched value
    (`val`) and the axis its batch sits on (`batch_dim`); one of those per
    enclosing `vmap`. JAX keeps that class private, so it is recognised by those
    attributes, and a value without them is taken as unmapped.
    """
    sizes = []
    while isinstance(getattr(x, "batch_dim", None), int) and hasattr(getattr(x, "val", None), "shape"):
        sizes.append(x.val.shape[x.batch_dim])
        x = x.val
    return tuple(reversed(sizes))


def tensor_infos(output: Any, kinds: Kinds) -> tuple[TensorInfo, ...]:
    """The arrays of `output`, `State`s left out, with their vmapped axes in front."""
    infos = []
    for leaf in jtu.tree_leaves(output, is_leaf=kinds.is_state):
        if kinds.is_state(leaf) or not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
            continue
        mapped = vmapped_sizes(leaf)
        infos.append(TensorInfo(mapped + tuple(leaf.shape), str(leaf.dtype), None, len(mapped)))
    return tuple(infos)


class CallRecorder:
    """Matches layer calls to paths while a model is traced once.

    Attributes:
        calls: by path, what the calls of that layer did.
        tokens: the path of each named-scope token.
    """

    def __init__(self, kinds: Kinds, paths: frozenset[str]):
        """`paths` are the paths of the model's layers; a call matched to none
        of them (a layer built inside `__call__`) gets an invented path."""
        self._kinds = kinds
        self._paths = paths
        self._root: Any = None
        self._stack: list[tuple[Any, str]] = []
        self._sublayers: dict[int, tuple[Any, list[tuple[str, Any]]]] = {}
        # By caller, the relative paths already matched by structure, for ties.
        self._claimed: dict[int, set[str]] = {}
        self.calls: dict[str, Call] = {}
        self.tokens: dict[int, str] = {}

    @contextlib.contextmanager
    def recording(self, layer_types: set[type]) -> Iterator[Callable[[Any], None]]:
        """Wrap the `__call__` of `layer_types` for the duration of the block.

        Yields a function to call, inside the trace, with the model as the
        traced function sees it (rebuilt from traced leaves).
        """
        with _patch_lock:
            originals = _wrap_calls(layer_types)
            token = _active.set(self)
            try:
                yield self._set_root
            finally:
                _active.reset(token)
                for owner, original in originals.items():
                    setattr(owner, "__call__", original)

    def _set_root(self, root: Any) -> None:
        self._root = root

    def _sublayers_of(self, module: Any) -> list[tuple[str, Any]]:
        # Keyed by id while the module is kept alive in the value, so ids are not reused.
        entry = self._sublayers.get(id(module))
        if entry is None or entry[0] is not module:
            entry = (module, [(path_str(keys), layer) for keys, layer in sublayers(module, self._kinds)])
            self._sublayers[id(module)] = entry
        return entry[1]

    def _match(self, layer: Any, caller: Any) -> str | None:
        """The path of `layer` relative to `caller`, or `None` when no layer of the caller is it.

        At the top, the caller is the model, and the model itself is a candidate too.
        """
        candidates = self._sublayers_of(caller)
        if not self._stack:
            candidates = [("", caller), *candidates]
        for path, candidate in candidates:
            if candidate is layer:
                return path
        structure = jtu.tree_structure(layer)
        same = [
            (path, candidate)
            for path, candidate in candidates
            if type(candidate) is type(layer) and jtu.tree_structure(candidate) == structure
        ]
        if len(same) > 1:
            # A scanned stack holds each leaf with extra leading (stacking) axes.
            same = [(path, c) for path, c in same if _leaves_fit(layer, c)] or same
            claimed = self._claimed.setdefault(id(caller), set())
            same = [(path, c) for path, c in same if path not in claimed] or same
            claimed.add(same[0][0])
        return same[0][0] if same else None

    def _resolve(self, layer: Any) -> str:
        caller, caller_path = self._stack[-1] if self._stack else (self._root, "")
        relative = self._match(layer, caller)
        if relative is not None:
            return join_path(caller_path, relative)
        if caller is not self._root:
            for path, candidate in self._sublayers_of(self._root):
                if candidate is layer:
                    return path
        base = join_path(caller_path, f"<{type(layer).__name__}>")
        path, copy = base, 1
        while path in self._paths:
            copy += 1
            path = f"{base}#{copy}"
        return path

    def call(self, original: Callable, layer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run `original(layer, *args, **kwargs)` as a recorded call of `layer`."""
        if self._stack and self._stack[-1][0] is layer:  # `super().__call__` of the same layer
            return original(layer, *args, **kwargs)
        path = self._resolve(layer)
        if self._stack:
            caller_path: str | None = self._stack[-1][1]
        else:
            caller_path = None if path == "" else ""
        token = len(self.tokens)
        self.tokens[token] = path
        record = self.calls.get(path)
        first = record is None
        if record is None:
            record = self.calls[path] = Call(type(layer).__name__, caller_path, (), 0)
        record.calls += 1
        self._stack.append((layer, path))
        try:
            with jax.named_scope(_TOKEN.format(token)):
                output = original(layer, *args, **kwargs)
        finally:
            self._stack.pop()
        if first:
            record.outputs = tensor_infos(output, self._kinds)
        return output


def _leaves_fit(layer: Any, candidate: Any) -> bool:
    """Whether every leaf of `candidate` has the shape of `layer`'s, perhaps after leading axes."""
    for leaf, stored in zip(jtu.tree_leaves(layer), jtu.tree_leaves(candidate)):
        shape, stored_shape = getattr(leaf, "shape", None), getattr(stored, "shape", None)
        if shape is None or stored_shape is None:
            continue
        if len(stored_shape) < len(shape) or tuple(stored_shape[len(stored_shape) - len(shape) :]) != tuple(shape):
            return False
    return True


def _wrap_calls(layer_types: set[type]) -> dict[type, Any]:
    """Wrap the `__call__` each of `layer_types` runs; returns the originals by owning class."""
    originals: dict[type, Any] = {}
    for layer_type in layer_types:
        owner = next((klass for klass in layer_type.__mro__ if "__call__" in klass.__dict__), None)
        if owner is None or owner is object or owner in originals:
            continue
        original = owner.__dict__["__call__"]
        originals[owner] = original
        setattr(owner, "__call__", _recorded(original))
    return originals


def _recorded(original: Any) -> Callable[..., Any]:
    def run(layer: Any, *args: Any, **kwargs: Any) -> Any:
        return original.__get__(layer, type(layer))(*args, **kwargs)

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        recorder = _active.get()
        if recorder is None:
            return run(self, *args, **kwargs)
        return recorder.call(run, self, args, kwargs)

    __call__.__wrapped__ = original  # type: ignore[attr-defined]
    return __call__
