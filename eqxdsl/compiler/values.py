"""What the checker knows about a value while it executes a spec on shapes.

An expression of a spec is either an array (`TensorType`, or `UnknownArray`
when only "some array" is known), a tuple of values, or a static Python value
(`Static`: an int as a `Dim`, a float, a bool, a string, a function name, a
dtype, `None`), whose concrete value may be unknown when it comes from a
hyperparameter. Layers, stacks and methods are values too, so a name can be
looked up once and its use checked by kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from eqxdsl.compiler.dims import Dim, TensorType

if TYPE_CHECKING:
    from typing_extensions import TypeIs


class ShapeError(Exception):
    """A shape or argument rule failed.

    Attributes:
        message: what disagreed, naming the dimension.
        hint: how to fix it, when known.
        argument: the name of the argument to point at, when one is to blame.
        sizes: the two sizes that had to be equal but were not proven so, if that is the fault.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        argument: str | None = None,
        sizes: tuple[Dim, Dim] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.argument = argument
        self.sizes = sizes


@dataclass(frozen=True)
class UnknownArray:
    """An array whose dtype and shape the checker cannot know (rare: a tensor attribute of an opaque module)."""

    def __str__(self) -> str:
        return "array"


@dataclass(frozen=True)
class TupleValue:
    """A tuple of values, e.g. several return values or `split`'s result."""

    items: tuple[Value, ...]

    def __str__(self) -> str:
        return "(" + ", ".join(str(i) for i in self.items) + ("," if len(self.items) == 1 else "") + ")"


#: What a static value is: see `Static.kind`.
StaticKind = Literal["int", "float", "bool", "str", "none", "fn", "dtype", "ints", "tuple", "key", "presence"]


@dataclass(frozen=True)
class Static:
    """A Python value fixed when the model is built.

    Attributes:
        kind: "int", "float", "bool", "str", "none", "fn" (an activation), "dtype",
            "ints" (a tuple of ints), "tuple" (of other static values), "key" (the
            method's key) or "presence" (a layer that exists only under an `if`).
        value: for "int" a `Dim`; for "ints" a tuple of `Dim`s; for "fn" and
            "dtype" the language's name; otherwise the Python value. `None` when
            unknown (it comes from a hyperparameter of that kind).
    """

    kind: StaticKind
    # The payload's type follows `kind` (see above); readers check `kind` first.
    value: Any = None

    @property
    def known(self) -> bool:
        if self.kind == "int":
            return isinstance(self.value, Dim) and self.value.value is not None
        return self.value is not None or self.kind == "none"

    def __str__(self) -> str:
        if self.value is None and self.kind != "none":
            return self.kind
        if self.kind == "ints":
            return "(" + ", ".join(str(d) for d in self.value) + ")"
        return str(self.value)


@dataclass(frozen=True)
class Poisoned:
    """The value of an expression whose check failed, after the failure was reported.

    Whatever computes on a poisoned value is poisoned too, silently: its type
    is unknown, so any further complaint about it would be a follow-on of the
    error already reported. A spec holding one never reaches the lower stage.
    """

    def __str__(self) -> str:
        return "unknown"


POISONED = Poisoned()


Value = TensorType | UnknownArray | TupleValue | Static | Poisoned


def is_array(value: object) -> TypeIs[TensorType | UnknownArray]:
    return isinstance(value, (TensorType, UnknownArray))


def describe(value: object) -> str:
    """A short description of a value for messages: `f32[T, 64]`, `int`, `(f32[8], f32[8])`."""
    if isinstance(value, Static):
        return f"{value.kind} {value}" if value.known and value.kind not in ("none",) else value.kind
    return str(value)


def static_int(value: int | Dim) -> Static:
    return Static("int", Dim.of(value))
