"""What each kind of argument accepts, and how messages name it."""

from __future__ import annotations

from eqxdsl.compiler.library.functions import FnParam
from eqxdsl.compiler.library.layers import LayerArg, LayerInfo
from eqxdsl.compiler.values import Static, TupleValue, Value, is_array


def fits(value: Static, kind: str, length: int | None = None) -> bool:
    if kind == "float":
        return value.kind in ("float", "int")
    if kind == "ints":
        if value.kind == "ints":
            return length is None or value.value is None or len(value.value) == length
        return False
    return value.kind == kind


MISMATCH = object()


def table_value(value: Static, arg: LayerArg) -> object:
    """A checker value in the layer table's representation, or `MISMATCH`."""
    kind = arg.kind
    if value.kind == "none" and arg.default is None:
        return None
    if kind == "int":
        if value.kind == "int":
            return value.value
        if value.kind == "str" and value.value in arg.choices:
            return value.value
        return MISMATCH
    if kind == "float":
        if value.kind == "int":
            if not value.known:
                return value
            try:
                return float(value.value.value)
            except OverflowError:
                return MISMATCH
        return (value.value if value.known else value) if value.kind == "float" else MISMATCH
    if kind in ("bool", "str", "fn", "dtype"):
        if value.kind != kind:
            return MISMATCH
        return value.value if value.known else value
    if kind in ("ints", "shape"):
        if value.kind == "int":
            return value.value
        if value.kind == "ints":
            return tuple(value.value) if value.value is not None else value
        return MISMATCH
    if kind == "padding":
        if value.kind == "int":
            return value.value
        if value.kind == "ints":
            return tuple(value.value) if value.value is not None else value
        if value.kind == "str":
            return value.value if value.known else value
        if value.kind == "tuple" and value.value is not None:
            pairs = []
            for item in value.value:
                if item.kind != "ints" or item.value is None or len(item.value) != 2:
                    return MISMATCH
                pairs.append(tuple(item.value))
            return tuple(pairs)
        return MISMATCH
    if kind == "any":
        if value.kind == "int":
            return value.value
        return value.value if value.known else value
    return MISMATCH


def kind_words(kind: str) -> str:
    return {"int": "an int", "float": "a number", "bool": "True or False", "str": "a string", "fn": "an activation such as relu", "ints": "a tuple of ints"}.get(kind, kind)


def arg_kind_words(arg: LayerArg) -> str:
    words = {
        "int": "an int", "float": "a number", "bool": "True or False", "str": "a string", "fn": "an activation such as relu",
        "ints": "an int or a tuple of ints", "padding": "an int, a tuple of ints or (lo, hi) pairs, or 'SAME'/'VALID'",
        "shape": "an int or a tuple of ints", "dtype": "a dtype such as f32", "module": "a layer", "any": "a value",
    }[arg.kind]
    if arg.choices and arg.kind == "str":
        words += " (" + ", ".join(map(repr, arg.choices)) + ")"
    return words


def fits_param(value: Value, param: FnParam) -> bool:
    kind = param.kind
    if param.default is None and isinstance(value, Static) and value.kind == "none":
        return True
    if kind == "array":
        return is_array(value) or isinstance(value, Static) and value.kind in ("int", "float", "bool")
    if kind == "arrays":
        return isinstance(value, TupleValue) and all(is_array(v) for v in value.items)
    if kind == "axis":
        return isinstance(value, Static) and value.kind in ("int", "ints", "none")
    if kind == "int":
        return isinstance(value, Static) and value.kind == "int"
    if kind == "shape":
        return isinstance(value, Static) and value.kind in ("int", "ints")
    if kind == "widths":
        return isinstance(value, Static) and value.kind in ("int", "ints", "tuple")
    if kind == "float":
        return isinstance(value, Static) and value.kind in ("float", "int")
    if kind == "key":
        return isinstance(value, Static) and value.kind == "key"
    return isinstance(value, Static) and value.kind == kind


def param_words(param: FnParam) -> str:
    return {
        "array": "an array", "arrays": "a list of arrays such as [a, b]", "axis": "an int, a tuple of ints or None",
        "int": "an int", "shape": "an int or a tuple of ints", "float": "a number", "bool": "True or False",
        "widths": "an int, a (before, after) pair or one pair per axis",
        "str": "a string", "dtype": "a dtype such as f32", "key": "the method's key",
        "tuple": 'a tuple such as (None, "embed")',
    }[param.kind]


def with_defaults(layer, given: dict) -> dict:
    """The arguments a layer's rules see: the table's layers complete their own defaults."""
    if isinstance(layer, LayerInfo):
        return dict(given)
    full = {a.name: a.default for a in layer.args if not a.required}
    full.update(given)
    return full
