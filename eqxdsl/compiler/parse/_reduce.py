"""The parser's reductions: each grammar rule, as the LALR parser reduces it, becomes a call of its
`ToSyntax` method, so syntax nodes are built while parsing and Lark builds no tree of its own.

A reduction receives the values of its rule's symbols in full (every token,
anonymous ones included). Its callback keeps what Lark's tree would have kept,
in the same order: named tokens and rule values, with `None` where an optional
`[...]` did not match; `_rule`s and Lark's `x*`/`x+` helper rules are spliced
into their parent, and a `?rule` with a single child is that child. Positions
follow Lark's `propagate_positions`: a rule spans its first symbol to its last.

Each value also carries its nesting height (the depth of Lark's tree below it,
counting an `elif`/`else` as nested in the clause before it), so the parse stage
can refuse a spec that would overflow the recursive later stages without a
second walk over the tree.
"""

from __future__ import annotations

from collections.abc import Callable

from lark.grammar import Rule, Terminal

#: Clauses that nest, once built, inside the clause before them (`elif` is `else: if`).
CHAINED_CLAUSES = frozenset({"elif_clause", "else_clause", "model_elif", "model_else"})


class Reduced:
    """A rule's value on the parser's stack: the built value, the span it covers and its height.

    It also stands as the rule's position for `ToSyntax`'s methods: `line`,
    `column`, `end_line` and `end_column` are 1-based and the end column is
    exclusive, as on Lark's tokens; `start_pos` and `end_pos` are offsets.
    """

    __slots__ = ("value", "line", "column", "end_line", "end_column", "start_pos", "end_pos", "height", "chained")
    value: object

    def __init__(self, first, last, height: int, chained: int):
        self.line = first.line
        self.column = first.column
        self.end_line = last.end_line
        self.end_column = last.end_column
        self.start_pos = first.start_pos
        self.end_pos = last.end_pos
        self.height = height
        self.chained = chained


class Spliced(Reduced):
    """The values of a rule that is spliced into its parent (`_suite`, `statement+`, ...).

    `height` is the tallest of its values, counting the chained clauses before
    each, and `chained` how many chained clauses it holds; `value` is a list.
    """

    __slots__ = ()
    value: list


class _Nowhere:
    """Where a rule that matched no text lies (an empty file's `start`): no line, no column."""

    line = column = end_line = end_column = start_pos = end_pos = None


_NOWHERE = _Nowhere()


Callback = Callable[[list], object]


def reduction_callbacks(rules: list[Rule], methods: object) -> dict[Rule, Callback | None]:
    """The callback of every rule of the grammar, for Lark's LALR parser.

    Args:
        rules: the grammar's rules, as Lark compiled them (`Lark.rules`), with
            `maybe_placeholders` on.
        methods: an object with one method per rule name or alias,
            `rule(position, *children)`, returning the rule's value.

    Returns:
        A dict from each rule to the function the parser calls with the values
        of the rule's symbols, or to None for a `?rule`'s alternative of one
        rule name, whose value is that rule's.
    """
    callbacks: dict[Rule, Callback | None] = {}
    for rule in rules:
        name = rule.origin.name
        plan, trailing = _kept_children(rule)
        if name.startswith("_"):
            if not rule.expansion:
                raise ValueError(f"grammar rule {rule}: a rule spliced into its parent must match some text")
            callbacks[rule] = _splice(plan, trailing)
        elif rule.options.expand1 and not rule.alias:
            if len(rule.expansion) != 1 or rule.expansion[0].is_term or rule.expansion[0].name.startswith("_"):
                raise ValueError(f"grammar rule {rule}: an alternative of a `?rule` without an alias must be one rule name")
            callbacks[rule] = None
        else:
            method = getattr(methods, rule.alias or name)
            callbacks[rule] = _reduce(method, plan, trailing, int(name in CHAINED_CLAUSES))
    return callbacks


def _kept_children(rule: Rule) -> tuple[tuple[tuple[int, int], ...], int]:
    """Which of a rule's symbols its method receives, and where `None`s stand for unmatched `[...]`.

    Returns a step `(index, nones_before)` for each kept symbol (anonymous and
    `_`-named tokens are dropped) and the number of `None`s after the last one.
    """
    # `empty_indices` lists the expansion's symbols (False) and the unmatched
    # optionals between them (True); a `None` before a dropped token moves on
    # to the next kept symbol, as in Lark's tree builder.
    flags = rule.options.empty_indices or [False] * len(rule.expansion)
    nones_before = [len(run) for run in "".join("1" if flag else "0" for flag in flags).split("0")]
    steps = []
    pending = 0
    for index, symbol in enumerate(rule.expansion):
        pending += nones_before[index]
        if isinstance(symbol, Terminal) and symbol.filter_out:
            continue
        steps.append((index, pending))
        pending = 0
    return tuple(steps), pending + nones_before[len(rule.expansion)]


def _children(children: list, plan: tuple[tuple[int, int], ...], trailing: int) -> tuple[list, int, int]:
    """The values a rule keeps from its symbols' values, their tallest height and the chained clauses among them."""
    values: list = []
    tallest = 0
    chained = 0
    for index, nones in plan:
        if nones:
            values.extend([None] * nones)
        child = children[index]
        kind = type(child)
        if kind is Reduced:
            values.append(child.value)
            chained += child.chained
            if child.height + chained > tallest:
                tallest = child.height + chained
        elif kind is Spliced:
            if values:
                values.extend(child.value)
            else:
                # Left-recursive `x+` lists grow by one item a reduction: reuse the list.
                values = child.value
            if child.height and child.height + chained > tallest:
                tallest = child.height + chained
            chained += child.chained
        else:
            values.append(child)
    if trailing:
        values.extend([None] * trailing)
    return values, tallest, chained


def _reduce(method: Callable, plan: tuple[tuple[int, int], ...], trailing: int, chained: int) -> Callback:
    def reduce(children: list) -> Reduced:
        values, tallest, _ = _children(children, plan, trailing)
        first, last = (children[0], children[-1]) if children else (_NOWHERE, _NOWHERE)
        reduced = Reduced(first, last, tallest + 1, chained)
        reduced.value = method(reduced, *values)
        return reduced

    return reduce


def _splice(plan: tuple[tuple[int, int], ...], trailing: int) -> Callback:
    def splice(children: list) -> Spliced:
        values, tallest, chained = _children(children, plan, trailing)
        spliced = Spliced(children[0], children[-1], tallest, chained)
        spliced.value = values
        return spliced

    return splice
