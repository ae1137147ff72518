"""Stacks checked copy by copy, and tuples that loops run over.

`repeat w, s in zip(widths, strides): Stage(w, stride=s)` builds one copy per
element; its copies may differ in every size. The checker builds and calls
each copy it can count (a count fixed in the spec, or the defaults'), so an
unrolled stack may change shape from copy to copy. The same walk checks the
loops of methods over stacks, their slices (`blocks[1:]`), tuples, `zip` and
`enumerate`. A tuple hyperparameter of any length (`tuple[int, ...]`) is
checked at its default's length, its values symbolic (`widths_0`, ...) and its
length the symbol `widths_len`, so that the generated code holds for any length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eqxdsl.compiler.check._adapters import ModelLayer
from eqxdsl.compiler.check._join import same_type
from eqxdsl.compiler.check._report import Abort, check_identifier
from eqxdsl.compiler.check._role import Role
from eqxdsl.compiler.check._scope import Scope
from eqxdsl.compiler.check._sizes import default_sizes
from eqxdsl.compiler.check._walk import assigned_names
from eqxdsl.compiler.check.checked import (
    CheckedModel,
    CopyArgument,
    FieldInfo,
    LoopRef,
    Ref,
    StackCopy,
    element_symbol,
    is_length_symbol,
    length_symbol,
)
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import Static, TupleValue, describe, static_int

if TYPE_CHECKING:
    from eqxdsl.compiler.check._declarations import ModelChecker

# The most copies the checker walks one by one: each is checked as a layer of its own.
MOST_COPIES_WALKED = 1000


def variadic_value(name: str, length: int) -> Static:
    """The checker's value of a `tuple[int, ...]` hyperparameter checked at `length`: one symbol per element."""
    return Static("ints", tuple(Dim.symbol(element_symbol(name, index)) for index in range(length)))


def stack_count(info: FieldInfo) -> Dim:
    """The number of copies of the stack `info`: set when its `repeat` is checked."""
    assert info.count is not None, f"{info.name} is not a checked stack"
    return info.count


@dataclass
class _Sequence:
    """One thing a loop runs over, as far as the checker walks it.

    Attributes:
        items: per checked copy, a `Static` (an element or the copy index) or,
            for a stack, the copy's index into the stack.
        source: the spec expression it runs over; None for the copy index.
        length: its length in the generated code, when the checker knows one.
        stack: for a stack (or its slice), the stack's name.
        what: how messages name it.
    """

    items: list
    source: s.Expr | None
    length: Dim | None
    stack: str | None = None
    what: str = ""


class StackChecker(Role):
    """Per-copy stacks, loops over stacks and tuples, stack indexing, and `len`.

    Reaches the rest of the model's checker through `checker`.
    """

    def __init__(self, checker: ModelChecker):
        super().__init__(checker)
        # The defaults, and how many hyperparameters they are of: hyperparameters are only
        # ever appended, each with its default settled, so a count that still matches means
        # the defaults are the same (every constructor argument of a size reads them).
        self._defaults: tuple[int, dict[str, Dim]] = (-1, {})

    # -- build-time values ----------------------------------------------------------

    def defaults(self) -> Mapping[str, Dim]:
        """The hyperparameters' defaults as values of their symbols (tuple elements and lengths included)."""
        count, values = self._defaults
        if count != len(self.model.hypers):
            values = {symbol: Dim.const(value) for symbol, value in default_sizes(self.model.hypers).items()}
            self._defaults = (len(self.model.hypers), values)
        return values

    def walkable(self, count: Dim) -> int | None:
        """How many copies the checker walks for `count`: its value, or its value with the defaults; None if unknown."""
        try:
            return count.value if count.value is not None else count.substitute(self.defaults()).value
        except ZeroDivisionError:
            return None

    def divides_by_zero(self, count: Dim) -> bool:
        """Whether `count`, whose every name has a default, divides by zero with the defaults."""
        return self.walkable(count) is None and count.symbols <= self.defaults().keys()

    def count_to_walk(self, count: Dim, where: s.Node, what: str) -> int:
        """`walkable(count)`, reported where unknown."""
        known = self.walkable(count)
        if known is None and self.divides_by_zero(count):
            self.r.error(where, f"the count of {what} ({count}) divides by zero with the hyperparameters' defaults", hint="choose defaults that give a count")
            raise Abort
        if known is None:
            self.r.error(where, f"the compiler checks each copy of {what}, so it needs to know how many there are ({count})", hint=f"give {', '.join(sorted(count.symbols))} a default")
            raise Abort
        if known > MOST_COPIES_WALKED:
            self.r.error(where, f"the compiler checks each copy of {what} one by one, and {known if count.value is not None else f'{count} = {known}'} copies is more than the {MOST_COPIES_WALKED} it walks", hint="use fewer copies, or `repeat n scan:` for a stack whose copies keep one shape")
            raise Abort
        return known

    def copies_to_check(self, count: Dim, where: s.Node, what: str) -> int:
        """How many copies the checker builds and calls for `count`: `count_to_walk(count)`, and at least two
        where the spec leaves the count open, so that what the later copies infer is known for any count."""
        known = self.count_to_walk(count, where, what)
        return max(known, 2) if known > 0 and self._open(count) else known

    def length(self, node: s.Call, scope: Scope | None) -> Static:
        """`len(x)` of a tuple, a stack or an array's leading axis."""
        if len(node.args) != 1 or node.keywords:
            self.r.error(node, "len takes one tuple, stack or array", hint="len(widths)")
            raise Abort
        arg = node.args[0]
        self.model.resolved[id(node)] = Ref("function", "len")
        if isinstance(arg, s.Name) and (scope is None or arg.id not in scope.variables):
            hyper = next((h for h in self.model.hypers if h.name == arg.id), None)
            if hyper is not None and hyper.kind == "ints" and hyper.length is None:
                self.model.resolved[id(arg)] = Ref("hyper", arg.id)
                return Static("int", Dim.symbol(length_symbol(arg.id)))
            info = self.model.fields.get(arg.id)
            if info is not None and info.kind == "stack" and scope is not None:
                self.model.resolved[id(arg)] = Ref("field", arg.id)
                return Static("int", info.count)
        value = self.checker.expressions.eval(arg, scope)
        if isinstance(value, Static) and value.kind == "ints" and value.value is not None:
            return static_int(len(value.value))
        if isinstance(value, Static) and value.kind == "tuple" and value.value is not None:
            return static_int(len(value.value))
        if isinstance(value, TupleValue):
            return static_int(len(value.items))
        if isinstance(value, TensorType) and value.rank > 0:
            return Static("int", value.shape[0])
        self.r.error(arg, f"len takes a tuple, a stack or an array, not {describe(value)}", hint="len(widths) for a tuple, len(blocks) for a stack, len(x) for an array's leading axis")
        raise Abort

    def fits_tuple_length(self, layer, arg, value: object, node: s.Expr) -> bool:
        """Whether a tuple passed to a model's `tuple[int, int]` hyperparameter has its length (reported if not)."""
        if not isinstance(layer, ModelLayer) or arg.kind != "ints" or not isinstance(value, tuple):
            return True
        hyper = next((h for h in layer.model.hypers if h.name == arg.name), None)
        if hyper is None or hyper.length is None or len(value) == hyper.length:
            return True
        self.r.error(node, f"argument {arg.name} of {layer.name} is a {hyper.node.type} ({hyper.length} ints), not a tuple of {len(value)}", hint=f"pass exactly {hyper.length} ints, or declare it tuple[int, ...] to take any length")
        return False

    def at_given_lengths(self, layer, given: dict, call: s.Call):
        """`layer`, or for a model of this spec given tuples of other lengths than its defaults', the model
        checked again at those lengths (its errors reported, and named at the call)."""
        spec = self.checker.spec
        if not isinstance(layer, ModelLayer) or spec.models.get(layer.model.name) is not layer.model:
            return layer
        lengths = {}
        for hyper in layer.model.hypers:
            value = given.get(hyper.name, (None,))[0]
            if hyper.kind == "ints" and hyper.length is None and hyper.default is not None and isinstance(value, tuple) and len(value) != len(hyper.default.value):
                lengths[hyper.name] = len(value)
        if not lengths:
            return layer
        key = (layer.model.name, tuple(sorted(lengths.items())))
        if key not in spec.variants:
            spec.variants[key] = self._check_variant(layer, lengths, call)
        return spec.variants[key]

    def _check_variant(self, layer: ModelLayer, lengths: dict[str, int], call: s.Call) -> ModelLayer:
        original = layer.model
        variant = CheckedModel(original.name, original.node, original.docstring)
        checker = type(self.checker)(self.checker.spec, variant)
        checker.tuple_lengths = lengths
        before = len(self.r.diagnostics)
        self.checker.spec.ensure_checked(variant, checker)
        if len(self.r.diagnostics) > before:
            words = ", ".join(f"{name} of length {length}" for name, length in lengths.items())
            self.r.error(call, f"{original.name} does not check with {words} (the errors above)", hint="its default's length checks; fix the model for this length, or pass another")
        return ModelLayer(variant, layer.class_name)

    # -- what loops run over ------------------------------------------------------------

    def sequences(self, node: s.Expr, scope: Scope | None) -> list[_Sequence]:
        """What `node` runs over: one sequence, or one per argument of `zip`, or the index and the sequence of `enumerate`."""
        if isinstance(node, s.Call) and isinstance(node.func, s.Name) and node.func.id in ("zip", "enumerate"):
            name = node.func.id
            self.model.resolved[id(node.func)] = Ref("function", name)
            if node.keywords or not node.args or name == "enumerate" and len(node.args) != 1:
                self.r.error(node, "enumerate takes one tuple or stack" if name == "enumerate" else "zip takes tuples and stacks, by position", hint="enumerate(blocks), or zip(a, b) to pair several" if name == "enumerate" else "zip(widths, strides)")
                raise Abort
            if name == "enumerate":
                inner = self._sequence(node.args[0], scope)
                index = _Sequence([static_int(c) for c in range(len(inner.items))], None, inner.length, what="the index")
                return [index, inner]
            parts = [self._sequence(arg, scope) for arg in node.args]
            for part, arg in zip(parts[1:], node.args[1:]):
                if len(part.items) != len(parts[0].items):
                    self.r.error(arg, f"zip's arguments differ in length: {parts[0].what} has {len(parts[0].items)}, {part.what} has {len(part.items)}", hint="Python's zip would drop the extra items silently; make them the same length")
                    raise Abort
            return parts
        return [self._sequence(node, scope)]

    def _sequence(self, node: s.Expr, scope: Scope | None) -> _Sequence:
        if isinstance(node, s.Call) and isinstance(node.func, s.Name) and node.func.id == "range":
            self.model.resolved[id(node.func)] = Ref("function", "range")
            if len(node.args) != 1 or node.keywords:
                self.r.error(node, "range takes one count here: range(n)", hint="the copies are numbered from 0")
                raise Abort
            count = self.checker.expressions.eval(node.args[0], scope)
            if not (isinstance(count, Static) and count.kind == "int"):
                self.r.error(node.args[0], f"range takes an int fixed when the model is built, not {describe(count)}")
                raise Abort
            self.checker.note_least_value(count.value, 1)  # the copies are checked as if there were some
            walked = self.copies_to_check(count.value, node, f"range({count.value})")
            return _Sequence([static_int(c) for c in range(walked)], None, count.value, what=f"range({count.value})")
        stack = self._stack_name(node, scope)
        if stack is not None:
            return self._stack_sequence(node, stack)
        value = self.checker.expressions.eval(node, scope)
        if isinstance(value, Static) and value.kind == "ints":
            name = node.id if isinstance(node, s.Name) else None
            if value.value is None:
                self.r.error(node, f"the compiler checks each copy of a loop over {name or 'this tuple'}, so it needs to know its length", hint=f"give {name} a default: the compiler checks that length, the generated code any other" if name else None)
                raise Abort
            hyper = next((h for h in self.model.hypers if h.name == name), None) if name else None
            if hyper is not None and hyper.kind == "ints" and hyper.length is None:
                length = Dim.symbol(length_symbol(hyper.name))
            else:
                length = Dim.const(len(value.value))
            return _Sequence([static_int(item) for item in value.value], node, length, what=name or str(value))
        self.r.error(node, f"a loop here runs over range(n), a tuple of ints, a stack, zip(...) or enumerate(...), not {describe(value)}", hint="for example `repeat d in (1, 2, 4):` or `repeat w, s in zip(widths, strides):`")
        raise Abort

    def _stack_name(self, node: s.Expr, scope: Scope | None) -> str | None:
        base = node.value if isinstance(node, s.Subscript) else node
        if not isinstance(base, s.Name) or base.id not in self.model.fields or scope is not None and base.id in scope.variables:
            return None
        info = self.model.fields[base.id]
        if scope is None:
            self.r.error(base, f"{base.id} is a layer; a value fixed at build time cannot run over it")
            raise Abort
        self.checker.expressions.check_present(base, base.id, scope)
        if info.kind != "stack":
            self.r.error(base, f"cannot loop over {base.id}: it is not a stack", hint="a stack is declared with `name = repeat n: Layer(...)`")
            raise Abort
        self.model.resolved[id(base)] = Ref("field", base.id)
        return base.id

    def _stack_sequence(self, node: s.Expr, name: str) -> _Sequence:
        info = self.model.fields[name]
        if info.scan:
            self.r.error(node, f"{name} is a scanned stack: it runs as one jax.lax.scan, so it can only be looped over whole (`for layer in {name}:`)", hint="drop `scan` from its repeat to index, slice or zip it")
            raise Abort
        indices = list(range(self.copies_to_walk(info)))
        if isinstance(node, s.Subscript):
            # A slice runs over the copies built at the defaults, not over those checked beyond them.
            indices = indices[: self.built_copies(info)]
            if len(node.index) != 1 or not isinstance(node.index[0], s.Slice):
                self.r.error(node, f"a loop runs over a stack or a slice of it, such as {name}[1:]", hint=f"call one copy directly: {name}[0](x)")
                raise Abort
            part = node.index[0]
            bounds = [self._copy_index(p, name, len(indices), allow_end=True) if p is not None else None for p in (part.lower, part.upper, part.step)]
            if part.step is not None and bounds[2] == 0:
                self.r.error(part.step, "a slice's step cannot be zero", hint=f"{name}[::2] takes every other copy")
                raise Abort
            indices = indices[slice(*bounds)]
            if not indices:
                self.r.error(node, f"this slice of {name} holds no copy (it has {info.count})", hint=f"a loop needs at least one copy: {name}[1:] skips only the first")
                raise Abort
        length = info.count if not isinstance(node, s.Subscript) else (Dim.const(len(indices)) if stack_count(info).value is not None else None)
        return _Sequence(indices, node, length, stack=name, what=name)

    def copies_to_walk(self, info: FieldInfo) -> int:
        return len(info.copies) if info.copies else self.copies_to_check(stack_count(info), info.node, info.name)

    def built_copies(self, info: FieldInfo) -> int:
        """How many copies of a stack its defaults build: fewer than the checker walks only for an open count."""
        if not self._open(info.count):
            return self.copies_to_walk(info)
        return self.count_to_walk(stack_count(info), info.node, info.name)

    def _copy_index(self, node: s.Expr, name: str, count: int, allow_end: bool = False) -> int:
        value = self.checker.static_eval(node)
        if value.kind != "int" or value.value.value is None:
            self.r.error(node, f"an index into the stack {name} must be an int fixed in the spec, not {describe(value)}")
            raise Abort
        index = value.value.value
        if not allow_end and not -count <= index < count:
            self.r.error(node, f"index {index} is out of range for {name}, which has {count} copies", hint=f"its copies are {name}[0] to {name}[{count - 1}] (or {name}[-1] for the last)")
            raise Abort
        return index

    # -- declarations -------------------------------------------------------------------

    def declare(self, item: s.RepeatDef, conditional: bool) -> None:
        """`name = repeat targets in sequence: Layer(...)`: one copy per element, each checked with its values."""
        checker = self.checker
        try:
            parts = self.sequences(item.count, None)
            self._check_targets(item.targets, parts, item.count)
        except Abort:
            checker.broken.add(item.name)
            return
        if item.scan:
            self.r.error(item, f"a scanned stack builds its copies at once with filter_vmap, so they cannot take per-copy values ({', '.join(t.id for t in item.targets)})", hint="drop `scan` to build the copies one by one")
        copies: list[StackCopy] = []
        info = None
        try:
            for copy in range(len(parts[0].items)):
                bindings = {target.id: part.items[copy] for target, part in zip(item.targets, parts)}
                checker.copy_bindings = bindings
                if copy == 0:
                    info = checker._layer_field(item.name, item, item.layer, conditional)
                    if info is None or item.name in checker.failed_layers:
                        break
                    copies.append(StackCopy(bindings, info.given))
                    continue
                assert info is not None and info.call is not None  # the field checked at copy 0
                given, complete = checker._layer_arguments(info.layer, info.call)
                if not complete:
                    checker.failed_layers.add(item.name)
                    break
                copies.append(StackCopy(bindings, given))
        finally:
            checker.copy_bindings = {}
        if info is None:
            return
        info.kind = "stack"
        info.count = parts[0].length
        info.targets = tuple(t.id for t in item.targets)
        info.sequences = {target.id: part.source for target, part in zip(item.targets, parts)}
        info.copies = copies
        info.zipped = tuple(part.length for part in parts if part.source is not None) if len(parts) > 1 else ()

    def _check_targets(self, targets: tuple[s.Name, ...], parts: list[_Sequence], where: s.Expr) -> None:
        if len(targets) != len(parts):
            self.r.error(where, f"{len(targets)} loop name{'s' if len(targets) != 1 else ''} for {len(parts)} value{'s' if len(parts) != 1 else ''} per copy", hint="write one name per value: `a, b in zip(x, y)`, `i, d in enumerate(d)`")
            raise Abort
        if not parts[0].items:
            self.r.error(where, "this runs over nothing: a stack needs at least one copy")
            raise Abort
        model = self.model
        seen: set[str] = set()
        for target in targets:
            name = target.id
            if not check_identifier(self.r, target, name, "loop name"):
                raise Abort
            if name in seen:
                self.r.error(target, f"the loop name {name!r} is given twice")
                raise Abort
            seen.add(name)
            if any(h.name == name for h in model.hypers) or name in model.constants or name in model.fields or name in model.methods:
                self.r.error(target, f"the loop name {name!r} is already a name of the model", hint="choose another name for the loop")
                raise Abort

    # -- loops of methods --------------------------------------------------------------

    def ensure_copies(self, info: FieldInfo) -> None:
        """Give a stack without per-copy values one record per copy, so each copy's sizes can differ."""
        if info.copies:
            return
        count = self.copies_to_check(stack_count(info), info.node, info.name)
        info.copies = [StackCopy({}, info.given) for _ in range(count)]
        if info.copies:
            info.copies[0].inferred = info.inferred

    def loop(self, stmt: s.For, scope: Scope, returns: list, plain_stack: str | None = None) -> None:
        """A loop walked copy by copy: over stacks, their slices, tuples, `zip` and `enumerate`."""
        statements = self.checker.statements
        targets = stmt.targets or (stmt.target,)
        parts = self.sequences(stmt.iter, scope)
        self._check_targets_in_method(targets, parts, stmt, scope)
        for part in parts:
            if part.stack is not None:
                self.ensure_copies(self.model.fields[part.stack])
        before = dict(scope.variables)
        current = dict(scope.variables)
        last_but_one = current
        for copy in range(len(parts[0].items)):
            last_but_one = current
            body = scope.copy()
            body.variables = dict(current)
            for target, part in zip(targets, parts):
                item = part.items[copy]
                if part.stack is not None:
                    body.stack_vars[target.id] = (part.stack, item)
                    self.model.resolved[id(target)] = Ref("layer_var", part.stack)
                else:
                    body.variables[target.id] = item
                    self.model.resolved[id(target)] = Ref("local", target.id)
            statements.block(stmt.body, body, returns)
            current = {name: body.variables.get(name, before[name]) for name in before}
        assigned = assigned_names(stmt.body)
        carries = tuple(name for name in before if name in assigned)
        open_count = next((part.length for part in parts if self._open(part.length)), None)
        if open_count is not None and len(parts[0].items) > 1:
            for name in carries:
                if not same_type(last_but_one[name], current[name]):
                    self.r.error(stmt, f"each copy changes {name} ({describe(last_but_one[name])}, then {describe(current[name])}), so what the loop gives depends on the count {open_count}, which the spec leaves open", hint="fix the count in the spec, run the loop over a tuple, or let the last copies keep the shape")
                    raise Abort
        scope.variables.update(current)
        self.model.resolved[id(stmt)] = LoopRef("unrolled", carries, stack=plain_stack)

    def _open(self, length: Dim | None) -> bool:
        """Whether a loop's length is left open by the spec, other than as a tuple's length (whose last element stays symbolic)."""
        if length is None or length.value is not None:
            return False
        return any(not is_length_symbol(symbol) for symbol in length.symbols)

    def _check_targets_in_method(self, targets, parts, stmt: s.For, scope: Scope) -> None:
        if len(targets) != len(parts):
            self.r.error(stmt.iter, f"{len(targets)} loop name{'s' if len(targets) != 1 else ''} for {len(parts)} value{'s' if len(parts) != 1 else ''} per step", hint="write one name per value: `for a, b in zip(x, y):`")
            raise Abort
        seen: set[str] = set()
        for target in targets:
            if target.id in scope.variables:
                self.r.error(target, f"the loop variable {target.id!r} is already a variable of this method", hint="choose a new name for the loop variable")
                raise Abort
            if target.id in seen:
                self.r.error(target, f"the loop variable {target.id!r} is given twice")
                raise Abort
            seen.add(target.id)
            self.checker.statements._check_local_name(target, scope)

    def call_copy(self, node: s.Expr, func: s.Subscript, args, nodes, keywords, scope: Scope):
        """`blocks[0](x)`: one copy of an unrolled stack, called."""
        name = self._stack_name(func, scope)
        if name is None:
            self.r.error(func, "only layers, methods, functions and function hyperparameters can be called", hint="index a stack to call one copy: blocks[0](x)")
            raise Abort
        info = self.model.fields[name]
        if info.scan:
            self.r.error(func, f"{name} is a scanned stack: its copies are not separate layers", hint="drop `scan` from its repeat to call one copy")
            raise Abort
        if len(func.index) != 1 or isinstance(func.index[0], (s.Slice, s.EllipsisExpr)):
            self.r.error(func, f"call one copy of {name} by its index, such as {name}[0](x)", hint=f"loop over a slice instead: for layer in {name}[1:]:")
            raise Abort
        self.ensure_copies(info)
        built = self.built_copies(info)
        index = self._copy_index(func.index[0], name, built) % built
        return self.checker.calls.call_layer(node, info, args, nodes, keywords, rest=False, copy=info.copies[index])

    # -- after the methods -----------------------------------------------------------------

    def finish(self) -> None:
        """How each inferred argument of a per-copy stack varies with the copy (reported when no rule fits)."""
        for info in self.model.fields.values():
            if info.kind != "stack" or not info.copies or info.name in self.checker.failed_layers:
                continue
            assert info.layer is not None  # a stack is a field of a layer the checker found
            if info.copies[0].inferred is not None:
                info.inferred = info.copies[0].inferred
            built = self.built_copies(info)
            if any(copy.inferred is None for copy in info.copies[built:]):
                # The copies checked beyond the defaults' count were not all called (a method calls
                # `blocks[0]` only): what they infer is unknown, so the rule comes from the built ones.
                info.copies = info.copies[:built]
            uncalled = [index for index, copy in enumerate(info.copies) if copy.inferred is None]
            if uncalled and len(uncalled) < len(info.copies) and any(a.inferred and a.required and a.name not in info.given for a in info.layer.args):
                self.r.error(info.node, f"copy {uncalled[0]} of {info.name} is never called, so its sizes cannot be inferred", hint="call every copy (loop over the whole stack), or give the sizes explicitly")
                continue
            names = sorted(set().union(*(set(copy.inferred or {}) for copy in info.copies)))
            for name in names:
                rule = self._copy_rule(info, name)
                if rule is None:
                    values = ", ".join(str(copy.inferred.get(name)) for copy in info.copies if copy.inferred is not None)
                    self.r.error(info.node, f"the copies of {info.name} infer {name} as {values}, which no one expression of the copy gives", hint=f"give {name} explicitly, from the loop names")
                    break
                info.copy_arguments[name] = rule
            if not info.targets and info.copy_arguments:
                # Built alike, the copies differ only in what they infer: the first's and the others'.
                info.inferred = {name: rule.first for name, rule in info.copy_arguments.items()}
                info.inferred_rest = {name: rule.rest for name, rule in info.copy_arguments.items()}

    def _copy_rule(self, info: FieldInfo, name: str) -> CopyArgument | None:
        values = [copy.inferred.get(name) if copy.inferred is not None else None for copy in info.copies]
        first, rest = values[0], values[1:]
        # A rule of the loop names first: a constant seen over few copies may only look constant.
        for target in info.targets:
            own = [copy.bindings[target].value for copy in info.copies]
            if rest and all(v == own[c] for c, v in enumerate(values) if c > 0):
                return CopyArgument(first, loop=target, first_too=first == own[0])
            if rest and all(v == own[c - 1] for c, v in enumerate(values) if c > 0):
                return CopyArgument(first, loop=target, previous=True)
        for argument in info.copies[0].given if info.targets else ():
            given = [copy.given.get(argument, (None,))[0] for copy in info.copies]
            if rest and any(g != given[0] for g in given) and all(v == given[c - 1] for c, v in enumerate(values) if c > 0):
                return CopyArgument(first, argument=argument, previous=True)
        if not rest or all(v == rest[0] for v in rest):
            return CopyArgument(first, rest[0] if rest else first)
        return None
