"""Symbolic dimensions: the integer sizes the checker computes with.

A `Dim` is an integer expression over names (hyperparameters such as `width`,
input dimensions such as `T`), kept in one canonical form so that two
expressions that are equal as polynomials compare equal:
`2 * width * 4 * 4 == 32 * width` and `(2 * w) // 2 == w`.

The canonical form is a polynomial with integer coefficients whose atoms are
names and opaque floor divisions (`(size + 1) // 2`), kept only when a division
is not exact. Names stand for positive integers (sizes, counts), which is
what lets `definitely_differs` prove more than "the difference is a non-zero
constant": `n + 1 != n` and `2 * n != n` for every size `n`.

An operation that needs two sizes equal must prove it. `Facts` holds what a
model asserts about its sizes (`assert dim % heads == 0`, `assert T <= ctx`)
and proves equalities, bounds and divisibility under them; the checker makes
a model's facts the active ones (`with assuming(facts):`) while it checks the
model, so that the shape rules of the library, which only see `Dim`s, prove
with them through `proven_equal` and `proven_at_most`.

`TensorType` pairs a shape of `Dim`s with a dtype name; it is what the checker
infers for every value of a spec.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Union

from eqxdsl.compiler._dim_text import FORMULA_STYLE, MESSAGE_STYLE, PYTHON_STYLE, format_dim

# A monomial is a sorted tuple of (atom, power); the empty monomial is the constant 1.
_Atom = Union[str, "_FloorDiv"]
_Monomial = tuple[tuple[_Atom, int], ...]


class _FloorDiv:
    """The opaque atom `numerator // denominator` of a division that is not exact."""

    # Monomials are hashed each time a polynomial is built: the atom keeps its hash.
    __slots__ = ("numerator", "denominator", "_hash")

    def __init__(self, numerator: Dim, denominator: Dim):
        self.numerator = numerator
        self.denominator = denominator
        self._hash = hash((numerator, denominator))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _FloorDiv):
            return NotImplemented
        return self.numerator == other.numerator and self.denominator == other.denominator

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"_FloorDiv(numerator={self.numerator!r}, denominator={self.denominator!r})"


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


#: Constants in [-N, N] are built once and shared (see `Dim.const`).
_SHARED_CONSTANTS = 4096

_SYMBOL = re.compile(r"(?!\d)\w+(\[\d+\])?|len\((?!\d)\w+\)")
_CONSTANTS: dict[int, Dim] = {}


class Dim:
    """An immutable, hashable symbolic integer in canonical form.

    Build one with `Dim.const(3)`, `Dim.symbol("width")` or `Dim.of(x)`, then
    combine with `+ - * // %` (with `Dim`s or `int`s). Equality is symbolic
    equality of the canonical forms; a constant `Dim` also equals (and hashes
    like) its `int`.
    """

    # `_symbols`, `_sort_key` and `_text` are computed when first asked for (None until then).
    __slots__ = ("_terms", "_value", "_hash", "_symbols", "_key", "_text")

    def __init__(self, terms: Mapping[_Monomial, int]):
        """Internal: use `const`, `symbol` or `of`. `terms` maps monomials to coefficients (zeros are dropped)."""
        items = [(monomial, coefficient) for monomial, coefficient in terms.items() if coefficient]
        if len(items) > 1:
            items.sort(key=lambda item: _monomial_key(item[0]))
        self._set_terms(tuple(items))

    @classmethod
    def _canonical(cls, terms: tuple[tuple[_Monomial, int], ...]) -> Dim:
        """The Dim of `terms` already in canonical order, with no zero coefficient (nothing to sort)."""
        dim = object.__new__(cls)
        dim._set_terms(terms)
        return dim

    def _set_terms(self, terms: tuple[tuple[_Monomial, int], ...]) -> None:
        self._terms: tuple[tuple[_Monomial, int], ...] = terms
        if not terms:
            value: int | None = 0
        elif len(terms) == 1 and terms[0][0] == ():
            value = terms[0][1]
        else:
            value = None
        self._value = value
        self._hash = hash(value) if value is not None else hash(terms)
        self._symbols: frozenset[str] | None = None
        self._key: tuple | None = None
        self._text: str | None = None

    # -- construction ---------------------------------------------------------------

    @classmethod
    def const(cls, value: int) -> Dim:
        """The constant `value` (a Python `int`, not a `bool`)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a dimension constant must be an int, not {type(value).__name__}")
        # Dims are immutable, so the small constants every check builds thousands of times are shared.
        if cls is Dim and -_SHARED_CONSTANTS <= value <= _SHARED_CONSTANTS:
            shared = _CONSTANTS.get(value)
            if shared is None:
                shared = _CONSTANTS[value] = cls({(): value})
            return shared
        return cls({(): value})

    @classmethod
    def symbol(cls, name: str) -> Dim:
        """The dimension named `name`: a hyperparameter, an input's symbolic size, or an item or the
        length of a tuple hyperparameter, written as a spec reads it (`widths[2]`, `len(widths)`)."""
        if not isinstance(name, str) or not _SYMBOL.fullmatch(name):
            raise ValueError(f"a dimension name must be an identifier, an item `name[i]` or a length `len(name)`, not {name!r}")
        return cls._canonical(((((name, 1),), 1),))

    @classmethod
    def of(cls, value: Dim | int) -> Dim:
        """`value` itself when it is a `Dim`, else the constant `Dim` of an `int`."""
        return value if isinstance(value, Dim) else cls.const(value)

    # -- inspection -----------------------------------------------------------------

    @property
    def value(self) -> int | None:
        """The `int` this dimension equals when it is constant, else None."""
        return self._value

    @property
    def terms(self) -> tuple[tuple[_Monomial, int], ...]:
        """The canonical form: `(monomial, coefficient)` pairs in a fixed order, no coefficient zero.

        A monomial is a tuple of `(atom, power)`, an atom a name or an opaque division
        (with `numerator` and `denominator`); the empty monomial is the constant 1.
        """
        return self._terms

    @property
    def symbols(self) -> frozenset[str]:
        """Every name this dimension depends on, including names inside divisions."""
        if self._symbols is None:
            names: set[str] = set()
            for monomial, _ in self._terms:
                for atom, _ in monomial:
                    if isinstance(atom, str):
                        names.add(atom)
                    else:
                        names |= atom.numerator.symbols | atom.denominator.symbols
            self._symbols = frozenset(names)
        return self._symbols

    def as_name(self) -> str | None:
        """The name this dimension is when it is one name alone (`width`, not `2 * width`), else None."""
        terms = self._terms
        if len(terms) == 1 and terms[0][1] == 1:
            monomial = terms[0][0]
            if len(monomial) == 1 and monomial[0][1] == 1 and isinstance(monomial[0][0], str):
                return monomial[0][0]
        return None

    def definitely_differs(self, other: Dim | int) -> bool:
        """Whether `self != other` for every positive value of the names.

        True when the difference is provably at least 1 or at most -1
        (`w + 1` never equals `w`, `2 * w` never equals `w`). False means
        "may be equal".
        """
        difference = self - Dim.of(other)
        return _nonnegative(difference - 1) or _nonnegative(-difference - 1)

    def substitute(self, values: Mapping[str, Dim | int]) -> Dim:
        """This dimension with each name in `values` replaced by its value, simplified again."""
        if not values or self._value is not None or self.symbols.isdisjoint(values):
            return self
        name = self.as_name()
        if name is not None:
            value = values[name]
            return self if _is_name(value, name) else Dim.of(value)
        # A name given as itself changes nothing (a model used with its caller's names, `H` for `H`).
        changes = {name: values[name] for name in self.symbols if name in values and not _is_name(values[name], name)}
        if not changes:
            return self
        terms: dict[_Monomial, int] = {}
        for monomial, coefficient in self._terms:
            if _untouched(monomial, changes):
                terms[monomial] = terms.get(monomial, 0) + coefficient
                continue
            term = Dim.const(coefficient)
            for atom, power in monomial:
                if isinstance(atom, str):
                    factor = Dim.of(changes[atom]) if atom in changes else Dim.symbol(atom)
                else:
                    factor = atom.numerator.substitute(changes) // atom.denominator.substitute(changes)
                for _ in range(power):
                    term = term * factor
            for product, product_coefficient in term._terms:
                terms[product] = terms.get(product, 0) + product_coefficient
        return Dim(terms)

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
        if isinstance(other, Dim):
            other_terms = other._terms
        elif isinstance(other, int) and not isinstance(other, bool):
            other_terms = (((), other),) if other else ()
        else:
            return NotImplemented
        if not other_terms:
            return self
        if self._value is not None:
            return _plus_constant(other_terms, self._value)
        if len(other_terms) == 1 and other_terms[0][0] == ():
            return _plus_constant(self._terms, other_terms[0][1])
        terms = dict(self._terms)
        for monomial, coefficient in other_terms:
            terms[monomial] = terms.get(monomial, 0) + coefficient
        return Dim(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Dim._canonical(tuple((monomial, -coefficient) for monomial, coefficient in self._terms))

    def __sub__(self, other: Dim | int) -> Dim:
        if isinstance(other, Dim):
            return self + (-other)
        if isinstance(other, int) and not isinstance(other, bool):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other: int) -> Dim:
        return Dim.of(other) - self

    def __mul__(self, other: Dim | int) -> Dim:
        if isinstance(other, Dim):
            if other._value is not None:
                return self._scaled(other._value)
            if self._value is not None:
                return other._scaled(self._value)
        elif isinstance(other, int) and not isinstance(other, bool):
            return self._scaled(other)
        else:
            return NotImplemented
        terms: dict[_Monomial, int] = {}
        for monomial_a, coefficient_a in self._terms:
            for monomial_b, coefficient_b in other._terms:
                product = _multiply_monomials(monomial_a, monomial_b)
                terms[product] = terms.get(product, 0) + coefficient_a * coefficient_b
        return Dim(terms)

    __rmul__ = __mul__

    def _scaled(self, factor: int) -> Dim:
        """`factor * self`: scaling every coefficient keeps the canonical order."""
        if factor == 1:
            return self
        if factor == 0:
            return Dim.const(0)
        return Dim._canonical(tuple((monomial, coefficient * factor) for monomial, coefficient in self._terms))

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
        if divisor == 1:
            return self
        quotient: list[tuple[_Monomial, int]] = []
        remainder: list[tuple[_Monomial, int]] = []
        for monomial, coefficient in self._terms:
            whole, left = divmod(coefficient, divisor)
            if whole:
                quotient.append((monomial, whole))
            if left:
                remainder.append((monomial, left))
        # Both keep the canonical order of this dimension's terms.
        rest = Dim._canonical(tuple(remainder))
        return Dim._canonical(tuple(quotient)) + rest._opaque_floordiv(divisor)

    def _opaque_floordiv(self, divisor: int) -> Dim:
        """`self // divisor` for a remainder `self` whose coefficients lie in [0, divisor)."""
        if self.value is not None:
            return Dim.const(self.value // divisor)
        common = math.gcd(divisor, *(coefficient for _, coefficient in self._terms))
        numerator = Dim._canonical(tuple((monomial, coefficient // common) for monomial, coefficient in self._terms))
        divisor //= common
        if divisor == 1:
            return numerator
        # floor((floor(x / b) + k) / c) == floor((x + k*b) / (b*c)) for positive b, c:
        # chained strided sizes collapse into one division.
        nested = numerator._single_nested_division()
        if nested is not None:
            inner, offset = nested
            inner_divisor = inner.denominator.value
            assert inner_divisor is not None  # _single_nested_division finds only constant divisors
            return (inner.numerator + offset * inner_divisor) // (inner_divisor * divisor)
        return _division_atom(numerator, Dim.const(divisor))

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
            remainder: list[tuple[_Monomial, int]] = []
            for monomial, coefficient in self._terms:
                reduced = _divide_monomial(monomial, divisor_monomial)
                if reduced is not None and coefficient % divisor_coefficient == 0:
                    quotient[reduced] = coefficient // divisor_coefficient
                else:
                    remainder.append((monomial, coefficient))
            rest = Dim._canonical(tuple(remainder))
            if rest.value == 0:
                return Dim(quotient)
            return Dim(quotient) + _division_atom(rest, denominator)
        # A sum: exact only when self is a constant multiple of it.
        leading_monomial, leading_coefficient = denominator._terms[-1]
        ratio, left = divmod(self._coefficient(leading_monomial), leading_coefficient)
        if left == 0 and ratio and self == denominator * ratio:
            return Dim.const(ratio)
        return _division_atom(self, denominator)

    # -- comparison -----------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool):
            return False
        if isinstance(other, int):
            return self._value == other
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
        if self._key is None:
            self._key = tuple((_monomial_key(monomial), coefficient) for monomial, coefficient in self._terms)
        return self._key

    # -- text -----------------------------------------------------------------------

    def python(self, rename: Mapping[str, str] | None = None) -> str:
        """Python source computing this dimension, e.g. `32 * width` or `(size + 1) // 2`.

        `rename` maps a name to the expression to write for it (`{"width":
        "self.width"}`); an expression that is not a simple primary is put in
        parentheses.
        """
        return format_dim(self, PYTHON_STYLE, dict(rename or {}))

    def formula(self) -> str:
        """The dimension as a formula for people, e.g. `12·dim² + 13·dim`."""
        return format_dim(self, FORMULA_STYLE, {})

    def __str__(self) -> str:
        # Shape rules name their sizes in messages built before they know whether they fail.
        if self._text is None:
            self._text = format_dim(self, MESSAGE_STYLE, {})
        return self._text

    def __repr__(self) -> str:
        return f"Dim({str(self)!r})"


def _untouched(monomial: _Monomial, values: Mapping[str, object]) -> bool:
    """Whether substituting `values` leaves `monomial` as it is: it names none of them, not even in a division."""
    for atom, _ in monomial:
        if isinstance(atom, str):
            if atom in values:
                return False
        elif not (atom.numerator.symbols.isdisjoint(values) and atom.denominator.symbols.isdisjoint(values)):
            return False
    return True


def _is_name(value: Dim | int, name: str) -> bool:
    """Whether `value` is the dimension named `name` itself."""
    return isinstance(value, Dim) and value._terms == ((((name, 1),), 1),)


def _division_atom(numerator: Dim, denominator: Dim) -> Dim:
    """The dimension that is the opaque division `numerator // denominator` alone."""
    return Dim._canonical(((((_FloorDiv(numerator, denominator), 1),), 1),))


def _plus_constant(terms: tuple[tuple[_Monomial, int], ...], constant: int) -> Dim:
    """The Dim of canonical `terms` plus `constant`: the constant term sorts first, so nothing else moves."""
    if terms and terms[0][0] == ():
        total = terms[0][1] + constant
        return Dim._canonical((((), total), *terms[1:]) if total else terms[1:])
    return Dim._canonical((((), constant), *terms) if constant else terms)


def _nonnegative(dim: Dim) -> bool:
    """Whether `dim >= 0` provably, for every positive value of its names.

    Each name `n` is written `n' + 1` with `n' >= 0`; the result is then
    non-negative when every coefficient is, and every division in it divides
    a non-negative numerator by a positive denominator.
    """
    if all(_is_linear_name(monomial) for monomial, _ in dim._terms if monomial):
        # `c + sum(a_i * n_i)` becomes `c + sum(a_i) + sum(a_i * n_i')`: no need to expand it.
        return all(coefficient >= 0 for monomial, coefficient in dim._terms if monomial) and sum(
            coefficient for _, coefficient in dim._terms
        ) >= 0
    try:
        # Where every name is 1 the shifted form is its constant term: a negative value there
        # means no proof, and costs far less to find than the shifted form.
        if dim.evaluate(dict.fromkeys(dim.symbols, 1)) < 0:
            return False
    except ZeroDivisionError:
        pass
    shifted = dim.substitute({name: Dim.symbol(name) + 1 for name in dim.symbols})
    return _all_coefficients_nonnegative(shifted)


def _is_linear_name(monomial: _Monomial) -> bool:
    """Whether `monomial` is one name to the first power."""
    return len(monomial) == 1 and monomial[0][1] == 1 and isinstance(monomial[0][0], str)


def _all_coefficients_nonnegative(dim: Dim) -> bool:
    for monomial, coefficient in dim._terms:
        if coefficient < 0:
            return False
        for atom, _ in monomial:
            if isinstance(atom, _FloorDiv) and not (
                _all_coefficients_nonnegative(atom.numerator)
                and _all_coefficients_nonnegative(atom.denominator - 1)
            ):
                return False
    return True


class Facts:
    """What is known about a model's sizes beyond their being positive integers.

    Built from the relations a model asserts, each as `(op, left, right)` with
    `op` one of `==`, `!=`, `<`, `<=`, `>`, `>=`. Equalities become rewrite
    rules (a name solved for, or a divisibility `n % d == 0` that writes `n`
    as `d` times a new name); bounds become differences known to be
    non-negative. Every proof rewrites both sides first, then asks whether the
    difference is zero (equality) or non-negative (a bound).
    """

    def __init__(self, relations: Iterable[tuple[str, Dim | int, Dim | int]] = ()):
        self._rewrites: dict[str, Dim] = {}
        self._zeros: list[Dim] = []
        self._slacks: list[Dim] = []
        self._nonzeros: list[Dim] = []
        self._relations = tuple((op, Dim.of(left), Dim.of(right)) for op, left, right in relations)
        for op, left, right in self._relations:
            self._add(op, left, right)

    def extended(self, relations: Iterable[tuple[str, Dim | int, Dim | int]]) -> Facts:
        """These facts and `relations` too (what holds inside a branch)."""
        return Facts((*self._relations, *relations))

    def _add(self, op: str, left: Dim, right: Dim) -> None:
        difference = self.normal(left - right)
        if op == "==":
            self._add_zero(difference)
        elif op == "!=":
            self._nonzeros.append(difference)
        elif op in ("<=", "<"):
            self._slacks.append(-difference - int(op == "<"))
        elif op in (">=", ">"):
            self._slacks.append(difference - int(op == ">"))
        else:
            raise ValueError(f"unknown relation {op!r}")

    def _add_zero(self, difference: Dim) -> None:
        if difference.value == 0:
            return
        multiple = _divisibility(difference)
        if multiple is not None:
            name, divisor = multiple
            quotient = Dim.symbol(f"{name}__over__{len(self._rewrites)}")
            self._rewrite(name, divisor * quotient)
            return
        for monomial, coefficient in difference._terms:
            if len(monomial) != 1 or not isinstance(monomial[0][0], str) or monomial[0][1] != 1 or abs(coefficient) != 1:
                continue
            name = monomial[0][0]
            rest = difference - Dim({monomial: coefficient})
            if name not in rest.symbols:
                self._rewrite(name, -rest if coefficient == 1 else rest)
                return
        self._zeros.append(difference)

    def _rewrite(self, name: str, value: Dim) -> None:
        self._rewrites = {key: old.substitute({name: value}) for key, old in self._rewrites.items()}
        self._rewrites[name] = value
        self._zeros = [self.normal(zero) for zero in self._zeros]
        self._slacks = [self.normal(slack) for slack in self._slacks]
        self._nonzeros = [self.normal(nonzero) for nonzero in self._nonzeros]

    def normal(self, dim: Dim | int) -> Dim:
        """`dim` with every rewrite applied: two sizes the facts make equal have one normal form."""
        return Dim.of(dim).substitute(self._rewrites)

    def equal(self, a: Dim | int, b: Dim | int) -> bool:
        """Whether `a == b` follows from the facts."""
        if a == b:
            return True
        difference = self.normal(Dim.of(a) - Dim.of(b))
        if difference.value == 0:
            return True
        return any(_constant_multiple(difference, zero) for zero in self._zeros)

    def at_most(self, a: Dim | int, b: Dim | int) -> bool:
        """Whether `a <= b` follows from the facts (and from every name being at least 1)."""
        difference = self.normal(Dim.of(b) - Dim.of(a))
        if _nonnegative(difference):
            return True
        if any(_nonnegative(difference - slack) for slack in self._slacks):
            return True
        return any(
            _nonnegative(difference - first - second)
            for index, first in enumerate(self._slacks)
            for second in self._slacks[index:]
        )

    def differ(self, a: Dim | int, b: Dim | int) -> bool:
        """Whether `a != b` follows from the facts."""
        difference = self.normal(Dim.of(a) - Dim.of(b))
        if any(_constant_multiple(difference, nonzero) for nonzero in self._nonzeros):
            return True
        return self.at_most(Dim.of(a) + 1, b) or self.at_most(Dim.of(b) + 1, a)

    def divides(self, divisor: Dim | int, dim: Dim | int) -> bool:
        """Whether `dim % divisor == 0` follows from the facts."""
        dim = Dim.of(dim)
        return self.equal(dim // divisor * divisor, dim)


def _divisibility(difference: Dim) -> tuple[str, Dim] | None:
    """`(n, m)` when `difference` is `c * n % d` (that is `c * n - d * (c * n // d)`) for a name `n`, with `n` a multiple of `m`.

    `m` is `d` when `c` is 1 (any `d`), and `d / gcd(c, d)` for constant `c` and `d`.
    """
    for monomial, _ in difference._terms:
        for atom, _ in monomial:
            if isinstance(atom, _FloorDiv) and len(atom.numerator.symbols) == 1:
                numerator, denominator = atom.numerator, atom.denominator
                name = next(iter(numerator.symbols))
                # `2 * n % 4` simplifies to `2 * (n % 2)`: any constant multiple says the same.
                if not _constant_multiple(difference, numerator % denominator):
                    continue
                if numerator == Dim.symbol(name):
                    return name, denominator
                scale = numerator._coefficient(((name, 1),))
                if denominator.value is not None and numerator == scale * Dim.symbol(name):
                    return name, Dim.const(denominator.value // math.gcd(scale, denominator.value))
    return None


def _constant_multiple(a: Dim, b: Dim) -> bool:
    """Whether `a == c * b` for some non-zero integer `c`."""
    if not b._terms or not a._terms:
        return False
    monomial, coefficient = b._terms[-1]
    ratio, remainder = divmod(a._coefficient(monomial), coefficient)
    return remainder == 0 and ratio != 0 and a == b * ratio


_ACTIVE_FACTS: contextvars.ContextVar[Facts] = contextvars.ContextVar("eqxdsl_size_facts", default=Facts())


@contextlib.contextmanager
def assuming(facts: Facts) -> Iterator[Facts]:
    """Make `facts` the ones `proven_equal` and `proven_at_most` use, inside the block."""
    token = _ACTIVE_FACTS.set(facts)
    try:
        yield facts
    finally:
        _ACTIVE_FACTS.reset(token)


def active_facts() -> Facts:
    """The facts in force: those of the model being checked, else only positivity."""
    return _ACTIVE_FACTS.get()


def proven_equal(a: Dim | int, b: Dim | int) -> bool:
    """Whether `a == b` is proven under the active facts."""
    return _ACTIVE_FACTS.get().equal(a, b)


def proven_at_most(a: Dim | int, b: Dim | int) -> bool:
    """Whether `a <= b` is proven under the active facts."""
    return _ACTIVE_FACTS.get().at_most(a, b)


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
        shape = self.shape
        if type(shape) is not tuple or not all(isinstance(size, Dim) for size in shape):
            object.__setattr__(self, "shape", tuple(Dim.of(size) for size in shape))

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
        return self._text

    @functools.cached_property
    def _text(self) -> str:
        # Shape rules name their inputs in messages built before they know whether they fail.
        return f"{self.dtype}[{', '.join(str(size) for size in self.shape)}]"
