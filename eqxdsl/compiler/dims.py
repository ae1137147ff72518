"""Symbolic dimensions: the integer sizes the checker computes with.

A `Dim` is an integer expression over names (hyperparameters such as `width`,
input dimensions such as `T`), kept in one canonical form so that two
expressions that are equal as polynomials compare equal:
`2 * width * 4 * 4 == 32 * width` and `(2 * w) // 2 == w`.

The canonical form is a polynomial with integer coefficients whose atoms are
names and opaque floor divisions (`(size + 1) // 2`), kept only when a division
is not exact. Names stand for non-negative integers (sizes, counts), which is
what lets `definitely_differs` prove more than "the difference is a non-zero
constant".

`TensorType` pairs a shape of `Dim`s with a dtype name; it is what the checker
infers for every value of a spec.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Union

# A monomial is a sorted tuple of (atom, power); the empty monomial is the constant 1.
_Atom = Union[str, "_FloorDiv"]
_Monomial = tuple[tuple[_Atom, int], ...]


@dataclass(frozen=True)
class _FloorDiv:
    """The opaque atom `numerator // denominator` of a division that is not exact."""

    numerator: Dim
    denominator: Dim


def _atom_key(atom: _Atom) -> tuple:
    if isinstance(atom, str):
        return (0, atom)
    return (1, atom.numerator._sort_key(), atom.denominator._sort_key())


def _monomial_key(monomial: _Monomial) -> tuple:
    return tuple((_atom_key(atom), power) for atom, power in monomial)


def _multiply_monomials(a: _Monomial, b: _Monomial) -> _Monomial:
    powers: dict[_Atom, int] = dict(a)
    for atom, power in b:
        powers[atom] = powers.get(atom, 0) + power
    return tuple(sorted(powers.items(), key=lambda item: _atom_key(item[0])))


def _divide_monomial(a: _Monomial, b: _Monomial) -> _Monomial | None:
    """`a / b` when `b` divides `a`, else None."""
    powers: dict[_Atom, int] = dict(a)
    for atom, power in b:
        left = powers.get(atom, 0) - power
        if left < 0:
            return None
        if left:
            powers[atom] = left
        else:
            powers.pop(atom, None)
    return tuple(sorted(powers.items(), key=lambda item: _atom_key(item[0])))


class Dim:
    """An immutable, hashable symbolic integer in canonical form.

    Build one with `Dim.const(3)`, `Dim.symbol("width")` or `Dim.of(x)`, then
    combine with `+ - * // %` (with `Dim`s or `int`s). Equality is symbolic
    equality of the canonical forms; a constant `Dim` also equals (and hashes
    like) its `int`.
    """

    __slots__ = ("_terms", "_hash")

    def __init__(self, terms: Mapping[_Monomial, int]):
        """Internal: use `const`, `symbol` or `of`. `terms` maps monomials to non-zero coefficients."""
        items = [(monomial, coefficient) for monomial, coefficient in terms.items() if coefficient]
        items.sort(key=lambda item: _monomial_key(item[0]))
        self._terms: tuple[tuple[_Monomial, int], ...] = tuple(items)
        value = self.value
        self._hash = hash(value) if value is not None else hash(self._terms)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def const(cls, value: int) -> Dim:
        """The constant `value` (a Python `int`, not a `bool`)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a dimension constant must be an int, not {type(value).__name__}")
        return cls({(): value})

    @classmethod
    def symbol(cls, name: str) -> Dim:
        """The dimension named `name` (a hyperparameter or an input's symbolic size)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"a dimension name must be an identifier, not {name!r}")
        return cls({((name, 1),): 1})

    @classmethod
    def of(cls, value: Dim | int) -> Dim:
        """`value` itself when it is a `Dim`, else the constant `Dim` of an `int`."""
        return value if isinstance(value, Dim) else cls.const(value)

    # -- inspection -----------------------------------------------------------------

    @property
    def value(self) -> int | None:
        """The `int` this dimension equals when it is constant, else None."""
        if not self._terms:
            return 0
        if len(self._terms) == 1 and self._terms[0][0] == ():
            return self._terms[0][1]
        return None

    @property
    def symbols(self) -> frozenset[str]:
        """Every name this dimension depends on, including names inside divisions."""
        names: set[str] = set()
        for monomial, _ in self._terms:
            for atom, _ in monomial:
                if isinstance(atom, str):
                    names.add(atom)
                else:
                    names |= atom.numerator.symbols | atom.denominator.symbols
        return frozenset(names)

    def definitely_differs(self, other: Dim | int) -> bool:
        """Whether `self != other` for every non-negative value of the names.

        True when the difference is a non-zero constant, or a polynomial in
        names alone whose coefficients all have the sign of its non-zero
        constant term (`w + 1` never equals `0`). False means "may be equal".
        """
        difference = self - Dim.of(other)
        constant = difference._coefficient(())
        if constant == 0:
            return False
        for monomial, coefficient in difference._terms:
            if any(not isinstance(atom, str) for atom, _ in monomial):
                return False
            if (coefficient > 0) != (constant > 0):
                return False
        return True

    def substitute(self, values: Mapping[str, Dim | int]) -> Dim:
        """This dimension with each name in `values` replaced by its value, simplified again."""
        if not self.symbols & values.keys():
            return self
        total = Dim.const(0)
        for monomial, coefficient in self._terms:
            term = Dim.const(coefficient)
            for atom, power in monomial:
                if isinstance(atom, str):
                    factor = Dim.of(values[atom]) if atom in values else Dim.symbol(atom)
                else:
                    factor = atom.numerator.substitute(values) // atom.denominator.substitute(values)
                for _ in range(power):
                    term = term * factor
            total = total + term
        return total

    def evaluate(self, values: Mapping[str, int]) -> int:
        """The `int` this dimension takes when every name has the given value.

        Raises KeyError naming a name left without a value.
        """
        missing = self.symbols - values.keys()
        if missing:
            raise KeyError(f"no value for dimension {sorted(missing)[0]!r}")
        result = self.substitute(values).value
        assert result is not None
        return result

    # -- arithmetic -----------------------------------------------------------------

    def _coefficient(self, monomial: _Monomial) -> int:
        for own, coefficient in self._terms:
            if own == monomial:
                return coefficient
        return 0

    def __add__(self, other: Dim | int) -> Dim:
        if not isinstance(other, (Dim, int)) or isinstance(other, bool):
            return NotImplemented
        terms = dict(self._terms)
        for monomial, coefficient in Dim.of(other)._terms:
            terms[monomial] = terms.get(monomial, 0) + coefficient
        return Dim(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Dim({monomial: -coefficient for monomial, coefficient in self._terms})

    def __sub__(self, other: Dim | int) -> Dim:
        if not isinstance(other, (Dim, int)) or isinstance(other, bool):
            return NotImplemented
        return self + (-Dim.of(other))

    def __rsub__(self, other: int) -> Dim:
        return Dim.of(other) - self

    def __mul__(self, other: Dim | int) -> Dim:
        if not isinstance(other, (Dim, int)) or isinstance(other, bool):
            return NotImplemented
        terms: dict[_Monomial, int] = {}
        for monomial_a, coefficient_a in self._terms:
            for monomial_b, coefficient_b in Dim.of(other)._terms:
                product = _multiply_monomials(monomial_a, monomial_b)
                terms[product] = terms.get(product, 0) + coefficient_a * coefficient_b
        return Dim(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other: Dim | int) -> Dim:
        if not isinstance(other, (Dim, int)) or isinstance(other, bool):
            return NotImplemented
        denominator = Dim.of(other)
        if denominator.value is not None:
            return self._floordiv_constant(denominator.value)
        return self._floordiv_symbolic(denominator)

    def __rfloordiv__(self, other: int) -> Dim:
        return Dim.of(other) // self

    def __mod__(self, other: Dim | int) -> Dim:
        if not isinstance(other, (Dim, int)) or isinstance(other, bool):
            return NotImplemented
        return self - (self // other) * other

    def __rmod__(self, other: int) -> Dim:
        return Dim.of(other) % self

    def _floordiv_constant(self, divisor: int) -> Dim:
        if divisor == 0:
            raise ZeroDivisionError("dimension divided by zero")
        if divisor < 0:
            return (-self)._floordiv_constant(-divisor)
        # floor((q*d + r) / d) == q + floor(r / d) for integer-valued q: split each
        # coefficient so the remainder keeps coefficients in [0, d).
        quotient: dict[_Monomial, int] = {}
        remainder: dict[_Monomial, int] = {}
        for monomial, coefficient in self._terms:
            quotient[monomial], remainder[monomial] = divmod(coefficient, divisor)
        rest = Dim(remainder)
        return Dim(quotient) + rest._opaque_floordiv(divisor)

    def _opaque_floordiv(self, divisor: int) -> Dim:
        """`self // divisor` for a remainder `self` whose coefficients lie in [0, divisor)."""
        if self.value is not None:
            return Dim.const(self.value // divisor)
        common = math.gcd(divisor, *(coefficient for _, coefficient in self._terms))
        numerator = Dim({monomial: coefficient // common for monomial, coefficient in self._terms})
        divisor //= common
        if divisor == 1:
            return numerator
        # floor((floor(x / b) + k) / c) == floor((x + k*b) / (b*c)) for positive b, c:
        # chained strided sizes collapse into one division.
        nested = numerator._single_nested_division()
        if nested is not None:
            inner, offset = nested
            inner_divisor = inner.denominator.value
            return (inner.numerator + offset * inner_divisor) // (inner_divisor * divisor)
        return Dim({(((_FloorDiv(numerator, Dim.const(divisor))), 1),): 1})

    def _single_nested_division(self) -> tuple[_FloorDiv, int] | None:
        """`(F, k)` when this dimension is `F + k` for a division F by a positive constant."""
        divisions = [(monomial, coefficient) for monomial, coefficient in self._terms if monomial]
        if len(divisions) != 1:
            return None
        monomial, coefficient = divisions[0]
        if coefficient != 1 or len(monomial) != 1 or monomial[0][1] != 1:
            return None
        atom = monomial[0][0]
        if isinstance(atom, str) or atom.denominator.value is None or atom.denominator.value <= 0:
            return None
        return atom, self._coefficient(())

    def _floordiv_symbolic(self, denominator: Dim) -> Dim:
        if len(denominator._terms) == 1:
            # A single term c*m: move every term of self that c*m divides into the quotient.
            divisor_monomial, divisor_coefficient = denominator._terms[0]
            quotient: dict[_Monomial, int] = {}
            remainder: dict[_Monomial, int] = {}
            for monomial, coefficient in self._terms:
                reduced = _divide_monomial(monomial, divisor_monomial)
                if reduced is not None and coefficient % divisor_coefficient == 0:
                    quotient[reduced] = coefficient // divisor_coefficient
                else:
                    remainder[monomial] = coefficient
            rest = Dim(remainder)
            if rest.value == 0:
                return Dim(quotient)
            return Dim(quotient) + Dim({((_FloorDiv(rest, denominator), 1),): 1})
        # A sum: exact only when self is a constant multiple of it.
        leading_monomial, leading_coefficient = denominator._terms[-1]
        ratio, left = divmod(self._coefficient(leading_monomial), leading_coefficient)
        if left == 0 and ratio and self == denominator * ratio:
            return Dim.const(ratio)
        return Dim({((_FloorDiv(self, denominator), 1),): 1})

    # -- comparison -----------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool):
            return False
        if isinstance(other, int):
            return self.value == other
        if isinstance(other, Dim):
            return self._terms == other._terms
        return NotImplemented

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        value = self.value
        if value is None:
            raise TypeError(f"the truth value of the symbolic dimension {self} is unknown")
        return value != 0

    def __index__(self) -> int:
        value = self.value
        if value is None:
            raise TypeError(f"the symbolic dimension {self} has no integer value")
        return value

    def _sort_key(self) -> tuple:
        return tuple((_monomial_key(monomial), coefficient) for monomial, coefficient in self._terms)

    # -- text -----------------------------------------------------------------------

    def python(self, rename: Mapping[str, str] | None = None) -> str:
        """Python source computing this dimension, e.g. `32 * width` or `(size + 1) // 2`.

        `rename` maps a name to the expression to write for it (`{"width":
        "self.width"}`); an expression that is not a simple primary is put in
        parentheses.
        """
        return _format(self, _PYTHON_STYLE, dict(rename or {}))

    def __str__(self) -> str:
        return _format(self, _MESSAGE_STYLE, {})

    def __repr__(self) -> str:
        return f"Dim({str(self)!r})"


@dataclass(frozen=True)
class _Style:
    times: str
    floordiv: str


_PYTHON_STYLE = _Style(times=" * ", floordiv=" // ")
_MESSAGE_STYLE = _Style(times="*", floordiv="//")

_PRIMARY_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.Constant)


def _is_primary(expression: str) -> bool:
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, _PRIMARY_NODES)


def _format(dim: Dim, style: _Style, rename: dict[str, str]) -> str:
    if not dim._terms:
        return "0"

    def degree(item: tuple[_Monomial, int]) -> int:
        return sum(power for _, power in item[0])

    # Highest degree first and the constant last; then positive terms before
    # negative ones, so `3 - width` rather than `-width + 3`.
    ordered = sorted(dim._terms, key=lambda item: -degree(item))
    ordered = [item for item in ordered if item[1] > 0] + [item for item in ordered if item[1] < 0]
    text = ""
    for index, (monomial, coefficient) in enumerate(ordered):
        leading_minus = index == 0 and coefficient < 0
        body = _format_term(monomial, abs(coefficient), style, rename, leading_minus)
        if index == 0:
            text = "-" + body if leading_minus else body
        else:
            text += (" + " if coefficient > 0 else " - ") + body
    return text


def _format_term(
    monomial: _Monomial, coefficient: int, style: _Style, rename: dict[str, str], negated: bool
) -> str:
    factors: list[str] = []
    if coefficient != 1 or not monomial:
        factors.append(str(coefficient))
    # A division next to another factor, or after a unary minus, needs parentheses:
    # `2 * a // b` means `(2 * a) // b` and `-a // b` means `(-a) // b`.
    several = negated or len(monomial) > 1 or coefficient != 1 or any(power > 1 for _, power in monomial)
    for atom, power in monomial:
        if isinstance(atom, str):
            text = rename.get(atom, atom)
            if not _is_primary(text):
                text = f"({text})"
        else:
            text = _format_division(atom, style, rename)
            if several:
                text = f"({text})"
        factors.extend([text] * power)
    return style.times.join(factors)


def _format_division(atom: _FloorDiv, style: _Style, rename: dict[str, str]) -> str:
    numerator = _format(atom.numerator, style, rename)
    if len(atom.numerator._terms) > 1 or not _single_factor(atom.numerator):
        numerator = f"({numerator})"
    denominator = _format(atom.denominator, style, rename)
    if not _single_factor(atom.denominator):
        denominator = f"({denominator})"
    return f"{numerator}{style.floordiv}{denominator}"


def _single_factor(dim: Dim) -> bool:
    """Whether `dim` prints as one primary (a name or a non-negative constant)."""
    if len(dim._terms) != 1:
        return not dim._terms
    monomial, coefficient = dim._terms[0]
    if not monomial:
        return coefficient >= 0
    return coefficient == 1 and len(monomial) == 1 and monomial[0][1] == 1 and isinstance(monomial[0][0], str)


#: The dtype names of the language, with the NumPy name each one means.
DTYPES: Mapping[str, str] = {
    "f16": "float16",
    "bf16": "bfloat16",
    "f32": "float32",
    "f64": "float64",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u8": "uint8",
    "u32": "uint32",
    "bool": "bool",
    "c64": "complex64",
}

_FLOATING = frozenset({"f16", "bf16", "f32", "f64"})
_INTEGER = frozenset({"i8", "i16", "i32", "i64", "u8", "u32"})


@dataclass(frozen=True)
class TensorType:
    """The type of an array value: its dtype name and its shape.

    Attributes:
        dtype: one of the names in `DTYPES` (`"f32"`, `"i32"`, ...).
        shape: one `Dim` per axis; `()` for a scalar.
    """

    dtype: str
    shape: tuple[Dim, ...]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}")
        object.__setattr__(self, "shape", tuple(Dim.of(size) for size in self.shape))

    @classmethod
    def of(cls, dtype: str, shape: Iterable[Dim | int]) -> TensorType:
        """A TensorType from a dtype name and sizes given as `Dim`s or `int`s."""
        return cls(dtype, tuple(Dim.of(size) for size in shape))

    @property
    def rank(self) -> int:
        """The number of axes."""
        return len(self.shape)

    @property
    def is_floating(self) -> bool:
        """Whether the dtype is a real floating-point type."""
        return self.dtype in _FLOATING

    @property
    def is_integer(self) -> bool:
        """Whether the dtype is a signed or unsigned integer type."""
        return self.dtype in _INTEGER

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(str(size) for size in self.shape)}]"
