"""How a `Dim` is written: as Python source, in messages, and as a formula for people.

Highest-degree terms come first and the constant last, positive terms before
negative ones (`3 - width`); a division is parenthesised where Python's
precedence would read it otherwise (`(2 * a) // b`).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eqxdsl.compiler.dims import Dim, _FloorDiv, _Monomial


@dataclass(frozen=True)
class Style:
    """How a dimension is written: `times` between factors, `floordiv` for a division."""

    times: str
    floordiv: str
    #: write `dim²` rather than `dim*dim`.
    powers: bool = False


PYTHON_STYLE = Style(times=" * ", floordiv=" // ")
MESSAGE_STYLE = Style(times="*", floordiv="//")
FORMULA_STYLE = Style(times="·", floordiv="//", powers=True)
_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

_PRIMARY_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.Constant)


@functools.lru_cache(maxsize=4096)
def _is_primary(expression: str) -> bool:
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, _PRIMARY_NODES)


def format_dim(dim: Dim, style: Style, rename: dict[str, str]) -> str:
    """`dim` written in `style`, each name in `rename` replaced by the expression it maps to."""
    if not dim.terms:
        return "0"

    def degree(item: tuple[_Monomial, int]) -> int:
        return sum(power for _, power in item[0])

    # Highest degree first and the constant last; then positive terms before
    # negative ones, so `3 - width` rather than `-width + 3`.
    ordered = sorted(dim.terms, key=lambda item: -degree(item))
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
    monomial: _Monomial, coefficient: int, style: Style, rename: dict[str, str], negated: bool
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
        if style.powers and power > 1:
            factors.append(text + str(power).translate(_SUPERSCRIPTS))
        else:
            factors.extend([text] * power)
    return style.times.join(factors)


def _format_division(atom: _FloorDiv, style: Style, rename: dict[str, str]) -> str:
    numerator = format_dim(atom.numerator, style, rename)
    if len(atom.numerator.terms) > 1 or not _single_factor(atom.numerator):
        numerator = f"({numerator})"
    denominator = format_dim(atom.denominator, style, rename)
    if not _single_factor(atom.denominator):
        denominator = f"({denominator})"
    return f"{numerator}{style.floordiv}{denominator}"


def _single_factor(dim: Dim) -> bool:
    """Whether `dim` prints as one primary (a name or a non-negative constant)."""
    if len(dim.terms) != 1:
        return not dim.terms
    monomial, coefficient = dim.terms[0]
    if not monomial:
        return coefficient >= 0
    return coefficient == 1 and len(monomial) == 1 and monomial[0][1] == 1 and isinstance(monomial[0][0], str)
