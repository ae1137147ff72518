"""How the server writes types and signatures: `f32[T, dim]`, `Linear(in_features: int (inferred), ...)`."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim
from eqxdsl.compiler.library.functions import REQUIRED as NO_DEFAULT
from eqxdsl.compiler.library.functions import Function
from eqxdsl.compiler.library.layers import LayerArg, LayerInfo
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import Static
from eqxdsl.lsp._tree import text_of


def value_text(values: list[object]) -> str:
    """The inferred type of an expression: `f32[T, dim]`, `int = 64`; several (one per stack copy) joined by `or`."""
    return " or ".join(_one_value(value) for value in values)


def _one_value(value: object) -> str:
    if isinstance(value, Static):
        return f"{value.kind} = {value}" if value.known and value.kind != "none" else value.kind
    return str(value)


def default_text(value: object) -> str:
    """A table default as a spec would write it: `1`, `(1, 1)`, `"ZEROS"`, `True`."""
    if isinstance(value, Dim):
        return str(value)
    if isinstance(value, tuple):
        inner = ", ".join(default_text(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def layer_argument_text(arg: LayerArg) -> str:
    """One constructor argument: `out_features: int`, `use_bias: bool = True`, `in_features: int (inferred)`."""
    text = f"{arg.name}: {arg.kind}"
    if not arg.required:
        text += f" = {default_text(arg.default)}"
    if arg.inferred:
        text += " (inferred)"
    return text


def layer_signature(layer: LayerInfo) -> str:
    """A table layer's constructor and call: `Linear(in_features: int (inferred), ...)` then `(x) -> ...`."""
    positional = [layer_argument_text(arg) for arg in layer.args if not arg.keyword_only]
    keyword = [layer_argument_text(arg) for arg in layer.args if arg.keyword_only]
    arguments = ", ".join(positional + (["*", *keyword] if keyword else []))
    inputs = list(layer.inputs) + [f"{name}=None" for name in layer.optional_inputs]
    traits = [trait for trait, present in (("takes a key", layer.stochastic), ("stateful", layer.stateful)) if present]
    call = f"called as layer({', '.join(inputs)})" + (f"; {', '.join(traits)}" if traits else "")
    return f"{layer.name}({arguments})\n{call}"


def function_signature(function: Function) -> str:
    """A function's parameters and what it does: `split(x: array, indices_or_sections: shape, axis: int = 0)`."""
    params = []
    for param in function.params:
        text = f"{param.name}: {param.kind}"
        if param.default is not NO_DEFAULT:
            text += f" = {default_text(param.default)}"
        params.append(text)
    signature = f"{function.name}({', '.join(params)})"
    return f"{signature}\n{function.doc}" if function.doc else signature


def model_signature(model: s.Model, lines: list[str]) -> str:
    """A model as a layer: `model MLP(in_size: int, out_size: int, width: int = 64)`, then its docstring."""
    params = ", ".join(text_of(lines, param.pos) for param in model.params)
    header = f"model {model.name}({params})"
    return f"{header}\n{model.docstring}" if model.docstring else header
