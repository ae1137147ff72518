"""Hypothesis strategies: random valid specs, and random mutations of the example specs.

`valid_specs()` draws a model built from the language's constructs (layers
with random legal arguments, pipelines, unrolled and scanned repeats, `map`,
residual connections, static conditionals, a model of the same file used as a
layer, extra methods, dropout) and computes, alongside the text, the shape its
forward must return for a concrete input. `mutated_specs()` draws broken (or
accidentally still valid) variants of the spec files in `tests/specs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from ._harness import SPECS

ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "silu")


@dataclass(frozen=True)
class Dim:
    """A size as the spec writes it (`expr`) and the integer it stands for (`value`)."""

    expr: str
    value: int


@dataclass(frozen=True)
class ValidSpec:
    """A generated spec and what running it must give.

    Attributes:
        text: the `.eqx` source.
        model: the class to build (its hyperparameters all have defaults).
        input_shape: the shape of the array passed to its forward.
        init_kwargs: the symbolic input sizes `__init__` takes as keyword arguments.
        bindings: the value of every hyperparameter and symbolic size, to evaluate
            the shapes the compiler infers.
        output_shape: the shape forward must return.
        relations: the model's `assert`s, as Python over the names of `bindings`.
        flags: the bool hyperparameters (each may take either value).
    """

    text: str
    model: str
    input_shape: tuple[int, ...]
    init_kwargs: dict[str, int]
    bindings: dict[str, int]
    output_shape: tuple[int, ...]
    relations: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expected:
    """Where the one error of a spec must be reported.

    Attributes:
        snippet: a piece of one line of the spec that occurs nowhere else.
        anchor: the part of `snippet` the error points at (its first occurrence).
        message: a piece of the error's message.
    """

    snippet: str
    anchor: str
    message: str

    def location(self, text: str) -> tuple[int, int]:
        """The (line, column), 1-based, of the anchor in `text`."""
        assert text.count(self.snippet) == 1, (self.snippet, text)
        offset = text.index(self.snippet) + self.snippet.index(self.anchor)
        line = text.count("\n", 0, offset) + 1
        return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


@dataclass
class _Builder:
    """Accumulates the pieces of one model while the strategy draws steps."""

    draw: object
    counter: int = 0
    hypers: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    bindings: dict[str, int] = field(default_factory=dict)
    seq: bool = False
    relations: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    expected: Expected | None = None
    divided: set[str] = field(default_factory=set)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def hyper(self, kind: str, default: str) -> str:
        name = self.fresh({"int": "h", "float": "p", "bool": "use", "fn": "act"}[kind])
        self.hypers.append(f"{name}: {kind} = {default}")
        if kind == "bool":
            self.flags.append(name)
        return name

    def int_hyper(self, value: int) -> Dim:
        """A new int hyperparameter with default `value`."""
        name = self.hyper("int", str(value))
        self.bindings[name] = value
        return Dim(name, value)

    def other_size(self, dim: Dim, broadcast: bool = False) -> Dim:
        """A size the checker cannot prove equal to `dim`, though its default may be the same.

        A new hyperparameter (with `dim`'s default or another), a literal (when
        `dim` is symbolic, its default value), or a size that differs for every
        value (`dim + 1`, `2 * dim`). With `broadcast`, never the literal 1,
        which broadcasts against any size.
        """
        style = self.draw(st.sampled_from(("same default", "hyper", "literal", "plus one", "double")))
        if style == "same default":
            return self.int_hyper(dim.value)
        if style == "hyper":
            return self.int_hyper(self.draw(st.integers(1, 6)))
        if style == "literal":
            if any(character.isalpha() for character in dim.expr):
                value = dim.value
            else:
                value = self.draw(st.integers(1, 6).filter(lambda v: v != dim.value))
            if not (broadcast and value == 1):
                return Dim(str(value), value)
            style = "plus one"
        if style == "plus one":
            return Dim(f"({dim.expr}) + 1", dim.value + 1)
        return Dim(f"2 * ({dim.expr})", 2 * dim.value)

    def expect(self, snippet: str, anchor: str, message: str) -> None:
        """Record where the one error of the spec must be reported (see `Expected`)."""
        assert self.expected is None, "one broken step per spec"
        self.expected = Expected(snippet, anchor, message)

    def size(self, low: int = 1, high: int = 6) -> Dim:
        """A new size: a literal, a new int hyperparameter, or a multiple of one."""
        value = self.draw(st.integers(low, high))
        style = self.draw(st.sampled_from(("literal", "hyper", "product")))
        if style == "literal":
            return Dim(str(value), value)
        name = self.hyper("int", str(value))
        self.bindings[name] = value
        if style == "product" and value * 2 <= 2 * high:
            return Dim(f"2 * {name}", 2 * value)
        return Dim(name, value)

    def apply(self, layer: str, value: str = "x") -> str:
        """A layer applied to one example, or mapped over the leading axis of a sequence."""
        return f"map({layer}, {value})" if self.seq else f"{layer}({value})"

    def shape(self, dim: Dim) -> str:
        return f"f32[T, {dim.expr}]" if self.seq else f"f32[{dim.expr}]"


def _activation(b: _Builder, cur: Dim) -> Dim:
    act = b.draw(st.sampled_from(ACTIVATIONS + ("hyper",)))
    if act == "hyper":
        act = b.hyper("fn", b.draw(st.sampled_from(ACTIVATIONS)))
    b.body.append(b.draw(st.sampled_from((f"x = {act}(x)", f"x = x -> {act}"))))
    return cur


def _linear(b: _Builder, cur: Dim) -> Dim:
    out = b.size()
    name = b.fresh("f")
    bias = b.draw(st.sampled_from(("", ", use_bias=False", ", use_bias=True")))
    b.fields.append(f"{name} = Linear(out_features={out.expr}{bias})")
    if b.seq:
        b.body.append(f"x = {b.apply(name)}")
    else:
        b.body.append(b.draw(st.sampled_from((f"x = {name}(x)", f"x = x -> {name}"))))
    return out


def _norm(b: _Builder, cur: Dim) -> Dim:
    name = b.fresh("f")
    layer = b.draw(st.sampled_from(("LayerNorm", "RMSNorm")))
    shape = b.draw(st.sampled_from(("", cur.expr)))
    b.fields.append(f"{name} = {layer}({shape})")
    b.body.append(f"x = {b.apply(name)}")
    return cur


def _dropout(b: _Builder, cur: Dim) -> Dim:
    name = b.fresh("f")
    rate = b.draw(st.sampled_from(("0.1", "0.5", "hyper", "")))
    if rate == "hyper":
        rate = b.hyper("float", "0.25")
    b.fields.append(f"{name} = Dropout({rate})")
    b.body.append(f"x = {name}(x)")
    return cur


def _residual(b: _Builder, cur: Dim) -> Dim:
    up, down = b.fresh("f"), b.fresh("f")
    hidden = b.size()
    act = b.draw(st.sampled_from(ACTIVATIONS))
    b.fields.append(f"{up} = Linear(out_features={hidden.expr})")
    b.fields.append(f"{down} = Linear(out_features={cur.expr})")
    if b.seq:
        b.body.append(f"x = x + {b.apply(down, f'{act}({b.apply(up)})')}")
    else:
        b.body.append(f"x = x + (x -> {up} -> {act} -> {down})")
    return cur


def _repeat(b: _Builder, cur: Dim) -> Dim:
    scan = b.draw(st.booleans())
    count = b.draw(st.sampled_from(("1", "2", "3", "hyper")))
    if count == "hyper":
        value = b.draw(st.integers(1, 3))
        count = b.hyper("int", str(value))
        b.bindings[count] = value
    out = cur if scan else b.size()
    name = b.fresh("f")
    b.fields.append(
        f"{name} = repeat {count}{' scan' if scan else ''}: Linear(out_features={out.expr})"
    )
    act = b.draw(st.sampled_from(ACTIVATIONS))
    b.body.append(f"for layer in {name}:\n    x = {act}({b.apply('layer')})")
    return out


def _conditional(b: _Builder, cur: Dim) -> Dim:
    flag = b.hyper("bool", b.draw(st.sampled_from(("True", "False"))))
    name = b.fresh("f")
    b.fields.append(f"if {flag}:\n    {name} = Linear(out_features={cur.expr})")
    b.body.append(f"if {flag}:\n    x = {b.apply(name)}")
    return cur


def _submodel(b: _Builder, cur: Dim) -> Dim:
    model, name = b.fresh("Sub"), b.fresh("f")
    out = b.size()
    default = b.draw(st.integers(1, 4))
    b.models.append(
        f"model {model}(width: int = {default}):\n"
        f"    input x: f32[D]\n"
        f"    lin = Linear(out_features=width)\n\n"
        f"    forward:\n"
        f"        return tanh(lin(x))\n"
    )
    b.fields.append(f"{name} = {model}({out.expr})")
    b.body.append(f"x = {b.apply(name)}")
    return out


def _method(b: _Builder, cur: Dim) -> Dim:
    method, name = b.fresh("step"), b.fresh("f")
    out = b.size()
    b.fields.append(f"{name} = Linear(out_features={out.expr})")
    b.methods.append(
        f"def {method}(y: {b.shape(cur)}) -> {b.shape(out)}:\n"
        f'    """A helper method."""\n'
        f"    return {b.apply(name, 'y')} -> sigmoid"
    )
    b.body.append(f"x = {method}(x)")
    return out


def _arithmetic(b: _Builder, cur: Dim) -> Dim:
    b.body.append(
        b.draw(
            st.sampled_from(
                (
                    "x = x * 2.0 + 1.0",
                    "x = x - mean(x)",
                    "x = sqrt(abs(x)) + exp(-x ** 2)",
                    "y = x\nx = y / (1.0 + sum(y * y))",
                    "x = maximum(x, 0.1 * x)",
                )
            )
        )
    )
    return cur


_VECTOR_STEPS = (
    _activation,
    _linear,
    _norm,
    _dropout,
    _residual,
    _repeat,
    _conditional,
    _submodel,
    _method,
    _arithmetic,
)


def _image_steps(b: _Builder, channels: Dim, size: int) -> tuple[Dim, int]:
    """Convolutions, pools and activations on `f32[channels, size, size]`; returns the final channels and size."""
    for _ in range(b.draw(st.integers(1, 3))):
        kind = b.draw(st.sampled_from(("conv", "pool", "act")))
        if kind == "act":
            b.body.append(f"x = {b.draw(st.sampled_from(ACTIVATIONS))}(x)")
            continue
        padding = b.draw(st.integers(0, 1)) if kind == "conv" else 0
        kernel = b.draw(st.integers(1, min(3, size + 2 * padding)))
        stride = b.draw(st.integers(1, 2))
        name = b.fresh("f")
        if kind == "conv":
            channels = b.size(1, 4)
            b.fields.append(
                f"{name} = Conv2d(out_channels={channels.expr}, kernel_size={kernel}, stride={stride}, padding={padding})"
            )
        else:
            pool = b.draw(st.sampled_from(("MaxPool2d", "AvgPool2d")))
            b.fields.append(f"{name} = {pool}(kernel_size={kernel}, stride={stride})")
        b.body.append(f"x = x -> {name}")
        size = (size + 2 * padding - kernel) // stride + 1
    return channels, size


def _indent(text: str, depth: int) -> str:
    return "\n".join(
        ("    " * depth + line) if line else "" for line in text.split("\n")
    )


@st.composite
def valid_specs(draw) -> ValidSpec:
    """A random valid spec with one model `Net` and what its forward must return."""
    return draw_net(draw)[0]


def draw_net(
    draw, steps: tuple = _VECTOR_STEPS, inject=None
) -> tuple[ValidSpec, _Builder]:
    """Draw a model `Net` from `steps` (each `(builder, size) -> size`), with `inject` placed among them.

    Returns the spec and the builder that drew it (whose `expected` says where
    the error of a broken `inject` step must be reported).
    """
    b = _Builder(draw)
    family = draw(st.sampled_from(("vector", "sequence", "image")))
    init_kwargs: dict[str, int] = {}
    seq_len = draw(st.integers(1, 4))
    if family == "image":
        channels = b.size(1, 3)
        size = draw(st.integers(3, 8))
        input_decl = f"f32[{channels.expr}, {size}, {size}]"
        input_shape: tuple[int, ...] = (channels.value, size, size)
        channels, size = _image_steps(b, channels, size)
        b.body.append(draw(st.sampled_from(("x = flatten(x)", "x = x -> flatten"))))
        cur = Dim(f"{channels.expr} * {size * size}", channels.value * size * size)
    else:
        b.seq = family == "sequence"
        if draw(st.booleans()):
            cur = Dim("N", draw(st.integers(1, 5)))
            init_kwargs["N"] = cur.value
        else:
            cur = b.size()
        input_decl = b.shape(cur)
        input_shape = (seq_len, cur.value) if b.seq else (cur.value,)
    if b.seq:
        b.bindings["T"] = seq_len
    chosen = draw(st.lists(st.sampled_from(steps), min_size=1, max_size=5))
    if inject is not None:
        chosen.insert(draw(st.integers(0, len(chosen))), inject)
    for step in chosen:
        cur = step(b, cur)
    output_shape = (seq_len, cur.value) if b.seq else (cur.value,)
    b.bindings.update(init_kwargs)
    declared = draw(st.booleans())
    lines = [f"model Net({', '.join(b.hypers)}):", '    """A generated model."""']
    lines += [f"    assert {relation}" for relation in b.relations]
    if declared:
        lines.append(f"    input x: {input_decl}")
    lines += [_indent(f, 1) for f in b.fields] + [""]
    lines += [_indent(m, 1) + "\n" for m in b.methods]
    lines.append("    forward:" if declared else f"    forward(x: {input_decl}):")
    lines += [_indent(s, 2) for s in b.body]
    lines.append("        return x")
    text = "\n\n".join(b.models + ["\n".join(lines) + "\n"])
    spec = ValidSpec(
        text,
        "Net",
        input_shape,
        init_kwargs,
        dict(b.bindings),
        output_shape,
        tuple(b.relations),
        tuple(b.flags),
    )
    return spec, b


# ---- mutations of the example specs ------------------------------------------------------

EXAMPLES = {
    path.name: path.read_text(encoding="utf-8") for path in sorted(SPECS.glob("*.eqx"))
}
_TOKEN = re.compile(r'"""[\s\S]*?"""|"[^"\n]*"|\w+|->|\*\*|//|[^\s\w]|\n[ \t]*')


def tokens(text: str) -> list[str]:
    """`text` cut into rough tokens (names, numbers, strings, operators, newlines with their indent); joined they give it back up to spaces."""
    out, position = [], 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            out.append(text[position : match.start()])
        out.append(match.group())
        position = match.end()
    out.append(text[position:])
    return out


_WEIRD = (
    "\x00",
    "\ufeff",
    "\u200b",
    "é",
    "λ",
    "ｘ",
    "𝑥",
    "\u2028",
    "\r",
    "\t",
    "\\",
    "'''",
    '"""',
    "\x1b[31m",
    "{{ x }}",
    "{% if 1 %}",
    "#",
    ":",
    "->",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "...",
    "@",
    "**",
    "\n    ",
    "\n",
)
_HUGE = (
    "9" * 400,
    "1e999",
    "1e-999",
    "0." + "0" * 300 + "1",
    "340282366920938463463374607431768211457",
    "1_000_000_000_000",
)


@st.composite
def _token_edit(draw, text: str) -> str:
    parts = tokens(text)
    for _ in range(draw(st.integers(1, 4))):
        if len(parts) < 2:
            break
        i = draw(st.integers(0, len(parts) - 1))
        j = draw(st.integers(0, len(parts) - 1))
        op = draw(st.sampled_from(("delete", "duplicate", "swap", "replace", "insert")))
        if op == "delete":
            del parts[i]
        elif op == "duplicate":
            parts.insert(i, parts[i])
        elif op == "swap":
            parts[i], parts[j] = parts[j], parts[i]
        elif op == "replace":
            parts[i] = parts[j]
        else:
            parts.insert(i, draw(st.sampled_from(_WEIRD + _HUGE)))
    return "".join(parts)


@st.composite
def _byte_edit(draw, text: str) -> str:
    data = bytearray(text.encode("utf-8"))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data)))
        data[position:position] = draw(st.binary(min_size=1, max_size=4))
    return data.decode(
        "utf-8", errors=draw(st.sampled_from(("replace", "ignore", "surrogateescape")))
    )


@st.composite
def _name_edit(draw, text: str) -> str:
    """Replace every occurrence of one name by a very long, unicode, keyword or reserved name."""
    names = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", text)))
    old = draw(st.sampled_from(names))
    new = draw(
        st.sampled_from(
            (
                "x" * 10_000,
                "ñame",
                "名前",
                "ｘ",
                "_" * 3,
                "__class__",
                "self",
                "key",
                "jax",
                "lambda",
                "None",
                "True",
                "eval",
                "state",
                "inference",
            )
        )
        | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
    )
    return re.sub(rf"\b{re.escape(old)}\b", new, text)


@st.composite
def _number_edit(draw, text: str) -> str:
    numbers = list(re.finditer(r"\b\d+(\.\d*)?\b", text))
    if not numbers:
        return text
    match = draw(st.sampled_from(numbers))
    new = draw(
        st.sampled_from(_HUGE + ("0", "-1", "00", "1.5", "1e3", "0x10", "1__0", "1_"))
    )
    return text[: match.start()] + new + text[match.end() :]


@st.composite
def _nesting(draw, text: str) -> str:
    """A deeply nested expression, or a deeply nested block, placed in a forward."""
    depth = draw(st.sampled_from((50, 200, 1000, 5000)))
    kind = draw(
        st.sampled_from(("parens", "calls", "unary", "arith", "pipe", "blocks"))
    )
    if kind == "parens":
        expr = "(" * depth + "x" + ")" * depth
    elif kind == "calls":
        expr = "relu(" * depth + "x" + ")" * depth
    elif kind == "unary":
        expr = "-" * depth + "x"
    elif kind == "arith":
        expr = " + ".join(["x"] * depth)
    elif kind == "pipe":
        expr = "x" + " -> relu" * depth
    else:
        block = (
            "\n".join("        " + "    " * i + "if x:" for i in range(depth))
            + "\n"
            + "        "
            + "    " * depth
            + "x = x"
        )
        return text.replace("    forward:\n", "    forward:\n" + block + "\n", 1)
    return text.replace("        return ", f"        x = {expr}\n        return ", 1)


def whole_file(kind: str) -> str:
    if kind == "empty":
        return ""
    if kind == "blank":
        return "\n\n   \n\t\n"
    if kind == "comment":
        return "# only a comment"
    if kind == "megabyte_comment":
        return "#" + "c" * 1_000_000 + "\n" + EXAMPLES["mlp.eqx"]
    if kind == "megabyte_docstring":
        return EXAMPLES["mlp.eqx"].replace(
            '"""`depth`', '"""' + "d\\'\"{{ }}\n" * 125_000 + "`depth`", 1
        )
    if kind == "megabyte_name":
        return EXAMPLES["mlp.eqx"].replace("width", "w" * 1_000_000)
    if kind == "megabyte":
        return EXAMPLES["mlp.eqx"] * (1_000_000 // len(EXAMPLES["mlp.eqx"]) + 1)
    if kind == "megabyte_line":
        return "model M():\n    forward:\n        return " + "1 + " * 250_000 + "1\n"
    if kind == "bom":
        return "\ufeff" + EXAMPLES["mlp.eqx"]
    if kind == "crlf":
        return EXAMPLES["mlp.eqx"].replace("\n", "\r\n")
    if kind == "cr":
        return EXAMPLES["mlp.eqx"].replace("\n", "\r")
    if kind == "tabs":
        return EXAMPLES["mlp.eqx"].replace("    ", "\t")
    if kind == "mixed_indent":
        return EXAMPLES["mlp.eqx"].replace("        return", "\t    return")
    if kind == "unterminated":
        return EXAMPLES["mlp.eqx"].replace('head."""', "head.")
    if kind == "nul":
        return "\x00" * 100
    raise ValueError(kind)


WHOLE_FILE_CASES = (
    "empty",
    "blank",
    "comment",
    "bom",
    "crlf",
    "cr",
    "tabs",
    "mixed_indent",
    "unterminated",
    "nul",
    "megabyte_comment",
    "megabyte_docstring",
    "megabyte_name",
)
#: Files of 1 MB that take the parser tens of seconds: for the long run only.
SLOW_FILE_CASES = ("megabyte", "megabyte_line")


@st.composite
def mutated_specs(draw, slow_files: bool = False) -> tuple[str, str]:
    """`(example name, mutated text)`: an example spec with random edits, or a pathological whole file.

    `slow_files` adds the 1 MB files that take the parser tens of seconds (for the long run).
    """
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    text = EXAMPLES[name]
    kind = draw(
        st.sampled_from(
            (
                "tokens",
                "tokens",
                "tokens",
                "bytes",
                "names",
                "numbers",
                "nesting",
                "file",
            )
        )
    )
    if kind == "file":
        cases = WHOLE_FILE_CASES + (SLOW_FILE_CASES if slow_files else ())
        return name, whole_file(draw(st.sampled_from(cases)))
    edit = {
        "tokens": _token_edit,
        "bytes": _byte_edit,
        "names": _name_edit,
        "numbers": _number_edit,
        "nesting": _nesting,
    }[kind]
    return name, draw(edit(text))
