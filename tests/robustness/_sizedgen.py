"""Hypothesis strategies for hyperparameter-sized operations: valid ones, and one broken at a random place.

Each step here draws one operation whose sizes must agree — a matrix product,
a residual, a concatenation, a reshape, a slice, an einsum, a typed method, a
layer given its input size, a scanned stack, a loop over an array — either in
a form the checker must accept (stating the `assert` it needs) or, with
`broken=True`, with one size replaced by one the checker cannot prove equal
(`Builder.other_size`: often a hyperparameter with the same default, so only
the proof, not the defaults, can tell). `sized_specs()` mixes the valid forms
with the steps of `valid_specs()`; `mismatched_specs()` puts one broken step at
a random place in such a spec and says where its error must be reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from ._specgen import _VECTOR_STEPS, ACTIVATIONS, Dim, ValidSpec, _Builder, draw_net


@dataclass(frozen=True)
class Mismatch:
    """A spec with one size mismatch and where it must be reported.

    Attributes:
        kind: the broken step (a key of `BREAKABLE`).
        text: the `.eqx` source.
        line, column: where the first error must point (1-based).
        message: a piece of the first error's message.
    """

    kind: str
    text: str
    line: int
    column: int
    message: str


def _sum(a: Dim, b: Dim) -> Dim:
    return Dim(f"{a.expr} + {b.expr}", a.value + b.value)


def _names(dim: Dim) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", dim.expr))


def _symbolic(dim: Dim) -> bool:
    return bool(_names(dim))


def _statement(b: _Builder, rhs: str, broken: bool, anchor: str, message: str) -> None:
    """Append `x = rhs` to forward; when `broken`, its error must point at `anchor` (a part of `rhs`)."""
    b.body.append(f"x = {rhs}")
    if broken:
        b.expect(f"x = {rhs}", anchor, message)


def _matmul(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    out, weight = b.size(), b.fresh("w")
    inner = b.other_size(cur) if broken else cur
    if b.seq:
        b.fields.append(f"{weight} = param f32[{inner.expr}, {out.expr}] = zeros")
        rhs = f"x @ {weight}"
    else:
        b.fields.append(f"{weight} = param f32[{out.expr}, {inner.expr}] = zeros")
        rhs = f"{weight} @ x"
    _statement(b, rhs, broken, rhs, "@: the last axis of the left operand")
    return out


def _einsum(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    out, weight = b.size(), b.fresh("w")
    inner = b.other_size(cur) if broken else cur
    b.fields.append(f"{weight} = param f32[{inner.expr}, {out.expr}] = zeros")
    subscripts = "ti,ij->tj" if b.seq else "i,ij->j"
    rhs = f'einsum("{subscripts}", x, {weight})'
    _statement(b, rhs, broken, rhs, "einsum index")
    return out


def _residual(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """`x` plus a projection of itself; broken, of another size (never one a literal 1 broadcasts with)."""
    if broken and not _symbolic(cur) and cur.value == 1:
        # Every size broadcasts with f32[1]: widen x first.
        widen, cur = b.fresh("f"), b.size(2, 6)
        b.fields.append(f"{widen} = Linear(out_features={cur.expr})")
        b.body.append(f"x = {b.apply(widen)}")
    name = b.fresh("f")
    out = b.other_size(cur, broadcast=True) if broken else cur
    b.fields.append(f"{name} = Linear(out_features={out.expr})")
    rhs = f"x + {b.draw(st.sampled_from(ACTIVATIONS))}({b.apply(name)})"
    _statement(b, rhs, broken, rhs, "+: cannot broadcast")
    return cur


def _concatenate(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """`x` joined with a projection of itself on its last axis; broken, on the axis where they differ."""
    name = b.fresh("f")
    hidden = b.other_size(cur) if broken else b.size()
    b.fields.append(f"{name} = Linear(out_features={hidden.expr})")
    axis = "0" if broken else "-1"
    if b.seq:
        arrays = f"[x, map({name}, x)]"
        rhs = f"concatenate({arrays}, axis={axis})"
    else:
        arrays = f"[x[None], {name}(x)[None]]"
        rhs = f"concatenate({arrays}, axis={axis})[0]"
    _statement(b, rhs, broken, arrays, "concatenate: array 1 has size")
    return _sum(cur, hidden)


def _shape_tuple(b: _Builder, *sizes: str) -> str:
    items = ("T",) + sizes if b.seq else sizes
    return f"({', '.join(items)})" if len(items) > 1 else f"({items[0]},)"


def _reshape(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """Split the last axis into heads and back (asserting divisibility); broken, a different element count."""
    if broken:
        target = _shape_tuple(b, b.other_size(cur).expr)
        _statement(b, f"reshape(x, {target})", broken, target, "reshape: cannot reshape")
        return cur
    value = b.draw(st.sampled_from([d for d in range(1, cur.value + 1) if cur.value % d == 0]))
    # The checker uses one divisibility per name, of a multiple of it (`n`, `2 * n`): another size
    # (a sum, or a name already split) is split by 1, which needs no assert.
    if b.divided & _names(cur) or len(_names(cur)) > 1 or "+" in cur.expr:
        value = 1
    # A divisor that is a name needs the divided size to be a name (`n % h`, not `2 * n % h` or `6 % h`).
    named = value > 1 and cur.expr.isidentifier()
    heads = b.int_hyper(value) if named and b.draw(st.booleans()) else Dim(str(value), value)
    if _symbolic(heads) or value > 1 and _symbolic(cur):
        b.divided |= _names(cur)
        b.relations.append(f"({cur.expr}) % {heads.expr} == 0")
    split = _shape_tuple(b, heads.expr, f"({cur.expr}) // {heads.expr}")
    b.body.append(f"x = reshape(reshape(x, {split}), {_shape_tuple(b, cur.expr)})")
    return cur


def _slice(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """Add a slice of a longer parameter, asserting the bound; broken, without the assert or past a literal end."""
    length = Dim("T", b.bindings["T"]) if b.seq else cur
    name = b.fresh("pos")
    # Sizes are positive, so a slice ending at a literal 1, or at a size asserted to be at most 1,
    # always fits: that one can only break past a literal end.
    at_most_one = not _symbolic(length) and length.value == 1 or f"{length.expr} <= 1" in b.relations
    past_the_end = broken and (b.draw(st.booleans()) or at_most_one)
    if past_the_end:
        limit = b.draw(st.integers(1, 6))
        end = str(limit + b.draw(st.integers(1, 3)))
        ctx = Dim(str(limit), limit)
    else:
        end = length.expr
        # A bound of 1 (`assert T <= 1`) would make a broken slice elsewhere in the spec fit.
        bigger = max(length.value + b.draw(st.integers(0, 3)), 2 if _symbolic(length) else 1)
        # Broken, the bound is a new hyperparameter: no assert can already imply it.
        ctx = b.int_hyper(bigger) if broken or b.draw(st.booleans()) else Dim(str(bigger), bigger)
        if not broken and (_symbolic(length) or _symbolic(ctx)):
            b.relations.append(f"{length.expr} <= {ctx.expr}")
    shape = f"{ctx.expr}, {cur.expr}" if b.seq else ctx.expr
    b.fields.append(f"{name} = param f32[{shape}] = zeros")
    rhs = f"x + {name}[:{end}]"
    _statement(b, rhs, broken, f":{end}]", "the slice ends at")
    return cur


def _typed_method(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """A method with declared types; broken, a declared return it does not have, or a call with the wrong input."""
    method, name = b.fresh("typed"), b.fresh("f")
    out = b.size()
    fault = b.draw(st.sampled_from(("return", "argument"))) if broken else None
    param = b.other_size(cur) if fault == "argument" else cur
    returned = _sum(param, out)
    declared = b.other_size(returned) if fault == "return" else returned
    b.fields.append(f"{name} = Linear(out_features={out.expr})")
    ret = f"return concatenate([y, {b.apply(name, 'y')}], axis=-1)"
    b.methods.append(
        f"def {method}(y: {b.shape(param)}) -> {b.shape(declared)}:\n"
        f'    """A method with declared types."""\n'
        f"    {ret}"
    )
    call = f"x = {method}(x)"
    b.body.append(call)
    if fault == "return":
        b.expect(ret, "return", "is declared to return")
    elif fault == "argument":
        b.expect(call, "x)", f"of input y of {method}")
    return declared


def _sized_layer(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """A layer told its input size; broken, a size the input does not have."""
    name = b.fresh("f")
    given = b.other_size(cur) if broken else cur
    layer = b.draw(st.sampled_from(("Linear", "LayerNorm", "RMSNorm")))
    if layer == "Linear":
        out = b.size()
        b.fields.append(f"{name} = Linear({given.expr}, {out.expr})")
        message = "but in_features is"
    else:
        out = cur
        b.fields.append(f"{name} = {layer}({given.expr})")
        message = "but axis 0 of its shape is"
    _statement(b, b.apply(name), broken, name, message)
    return out


def _scanned_stack(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """A scanned stack of Linear layers; broken, layers that change the size the scan carries."""
    name = b.fresh("f")
    count = b.draw(st.sampled_from(("1", "2", "hyper")))
    if count == "hyper":
        count = b.int_hyper(b.draw(st.integers(1, 3))).expr
    out = b.other_size(cur) if broken else cur
    b.fields.append(f"{name} = repeat {count} scan: Linear(out_features={out.expr})")
    loop = f"for layer in {name}:"
    b.body.append(f"{loop}\n    x = {b.draw(st.sampled_from(ACTIVATIONS))}({b.apply('layer')})")
    if broken:
        b.expect(loop, "for", "a scanned stack needs its loop to keep")
    return cur


def _array_loop(b: _Builder, cur: Dim, broken: bool = False) -> Dim:
    """A loop over the leading axis of `x` carrying a vector; broken, a body that changes the carry's size."""
    name, carry, item = b.fresh("f"), b.fresh("h"), b.fresh("e")
    out = b.other_size(cur) if broken else cur
    b.fields.append(f"{name} = Linear(out_features={out.expr})")
    loop = f"for {item} in x:"
    if b.seq:
        b.body.append(f"{carry} = zeros({cur.expr})\n{loop}\n    {carry} = tanh({name}({item} + {carry}))\nx = x + {carry}")
    else:
        b.body.append(f"{carry} = x\n{loop}\n    {carry} = tanh({name}({carry}) + {item})\nx = {carry}")
    if broken:
        b.expect(loop, "for", "a loop over an array must keep")
    return cur


#: Each step that can be drawn broken, by the name of what it breaks.
BREAKABLE: dict[str, Callable[..., Dim]] = {
    "matmul": _matmul,
    "einsum": _einsum,
    "residual": _residual,
    "concatenate": _concatenate,
    "reshape": _reshape,
    "slice": _slice,
    "typed method": _typed_method,
    "sized layer": _sized_layer,
    "scanned stack": _scanned_stack,
    "array loop": _array_loop,
}
SIZED_STEPS = _VECTOR_STEPS + tuple(BREAKABLE.values())


@st.composite
def sized_specs(draw) -> ValidSpec:
    """A random valid spec drawing on the steps of `valid_specs()` and the valid forms of `BREAKABLE`."""
    return draw_net(draw, SIZED_STEPS)[0]


@st.composite
def mismatched_specs(draw, kind: str | None = None) -> Mismatch:
    """A spec like `sized_specs()` with one step of `BREAKABLE` (`kind`, or any) broken at a random place."""
    kind = kind or draw(st.sampled_from(sorted(BREAKABLE)))
    spec, b = draw_net(draw, SIZED_STEPS, lambda b, cur: BREAKABLE[kind](b, cur, broken=True))
    line, column = b.expected.location(spec.text)
    return Mismatch(kind, spec.text, line, column, b.expected.message)


def _holds(relations: tuple[str, ...], values: dict[str, int]) -> bool:
    # The relations are the generator's own text over the size names: plain integer arithmetic.
    return all(eval(relation, {"__builtins__": {}}, dict(values)) for relation in relations)  # noqa: S307


@st.composite
def other_values(draw, spec: ValidSpec) -> dict[str, int | bool]:
    """Other values for every size of `spec` (1 to 6) and its bool flags, satisfying its asserts.

    Tries ten draws, then keeps
    the defaults' sizes (which satisfy the asserts) with the drawn flags.
    """
    flags = draw(st.fixed_dictionaries({name: st.booleans() for name in spec.flags}))
    sizes_drawn = st.fixed_dictionaries({name: st.integers(1, 6) for name in sorted(spec.bindings)})
    for _ in range(10):
        sizes = draw(sizes_drawn)
        if _holds(spec.relations, sizes):
            return {**sizes, **flags}
    return {**spec.bindings, **flags}
