"""A Pygments lexer for `.eqx` specs: Sphinx, MkDocs, Jupyter and `pygmentize` highlight them with it.

It is registered under the `pygments.lexers` entry point (alias `eqx`,
filenames `*.eqx`), so after installing eqxdsl

    pygmentize -l eqx examples/gpt.eqx

and ```` ```eqx ```` code blocks in Markdown work. It needs Pygments only, and
nothing of the compiler: a documentation build does not import lark or jax.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

__all__ = ["EqxLexer", "LAYERS", "FUNCTIONS", "INITIALISERS", "DTYPES"]

#: The classes of `eqxdsl.runtime.nn` a spec may use as layers.
LAYERS = (
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d", "AdaptivePool", "AvgPool1d", "AvgPool2d", "AvgPool3d", "BatchNorm", "Conv", "Conv1d",
    "Conv2d", "Conv3d", "ConvTranspose", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Dropout",
    "Embedding", "GRUCell", "GroupNorm", "Identity", "LSTMCell", "LayerNorm", "Linear", "MLP", "MaxPool1d",
    "MaxPool2d", "MaxPool3d", "MultiheadAttention", "PReLU", "Pool", "RMSNorm", "RotaryPositionalEmbedding",
    "SpectralNorm", "WeightNorm",
)
#: The functions a method may call (docs/language.md, "Functions"), `map` included: the
#: compiler's table, written out so that highlighting imports no compiler (a test holds the two equal).
FUNCTIONS = (
    "abs", "arange", "argmax", "argmin", "argsort", "astype", "bernoulli", "causal_mask", "ceil", "clip",
    "concat", "concatenate", "cos", "cumsum", "einsum", "elu", "exp", "expand_dims", "flatten", "flip", "floor",
    "gelu", "leaky_relu", "log", "log_softmax", "logsumexp", "map", "max", "maximum", "mean", "min", "minimum",
    "moveaxis", "normal", "one_hot", "ones", "pad", "relu", "reshape", "roll", "round", "rsqrt", "shard",
    "sigmoid", "silu", "sin", "softmax", "softplus", "sort", "split", "sqrt", "square", "squeeze", "stack",
    "std", "stop_gradient", "sum", "swapaxes", "swish", "take", "tanh", "transpose", "uniform", "var", "where",
    "zeros",
)
#: The initialisers of `param` and `buffer` definitions.
INITIALISERS = (
    "constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform",
    "truncated_normal", "xavier_normal", "xavier_uniform",
)
#: The dtypes of tensor types such as `f32[T, dim]`.
DTYPES = ("bf16", "bool", "c64", "f16", "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u32")
#: The types of hyperparameters (`width: int = 64`, `sizes: tuple[int, ...]`).
_HYPER_TYPES = ("int", "float", "bool", "str", "fn", "tuple")
_KEYWORDS = (
    "model", "forward", "input", "param", "buffer", "frozen", "repeat", "scan", "axes", "assert", "if", "elif",
    "else", "for", "return", "pass", "from", "import", "as",
)
# The grammar's STRING terminal.
_STRING = r'"""(?:[^"\\]|\\.|"(?!""))*"""' r"|'''(?:[^'\\]|\\.|'(?!''))*'''" r'|"(?:[^"\\\n]|\\.)*"' r"|'(?:[^'\\\n]|\\.)*'"


class EqxLexer(RegexLexer):
    """Tokens of the `.eqx` language: keywords, layers, functions, dtypes and shapes, numbers, strings, docstrings."""

    name = "eqx"
    aliases = ["eqx", "eqxdsl"]
    filenames = ["*.eqx"]
    mimetypes = ["text/x-eqx"]
    url = "https://github.com/eqxdsl/eqxdsl"

    tokens = {
        "root": [
            # A string alone on its line can only be a model's or a method's docstring.
            (rf"^([ \t]*)({_STRING})(?=[ \t]*(?:#[^\n]*)?$)", bygroups(Whitespace, String.Doc)),
            (r"\n", Whitespace),
            (r"[ \t\f]+", Whitespace),
            (r"\\\n", Text),
            (r"#[^\n]*", Comment.Single),
            (r"(model)([ \t]+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(def)([ \t]+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (r"(from)([ \t]+)([A-Za-z_][\w.]*)", bygroups(Keyword.Namespace, Whitespace, Name.Namespace)),
            (words(("from", "import", "as"), suffix=r"\b"), Keyword.Namespace),
            (words(("True", "False", "None"), suffix=r"\b"), Keyword.Constant),
            (words(("and", "or", "not", "in"), suffix=r"\b"), Operator.Word),
            (words(_KEYWORDS, suffix=r"\b"), Keyword),
            (words(DTYPES, prefix=r"\b", suffix=r"(?=[ \t]*\[)"), Keyword.Type),
            (words(_HYPER_TYPES, prefix=r"\b", suffix=r"\b"), Keyword.Type),
            (words(LAYERS, prefix=r"\b", suffix=r"\b"), Name.Class),
            (words(FUNCTIONS + INITIALISERS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            include("literals"),
            (r"(\.)([A-Za-z_]\w*)", bygroups(Punctuation, Name.Attribute)),
            (r"[A-Za-z_]\w*", Name),
            (r"->", Operator),
            (r"\.\.\.", Punctuation),
            (r"\*\*|//|[=!<>]=|[-+*/@]=|[-+*/%@<>=~&|]", Operator),
            (r"[()\[\],:.]", Punctuation),
        ],
        "literals": [
            (_STRING, String),
            (r"(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?|[0-9][0-9_]*[eE][+-]?[0-9]+", Number.Float),
            (r"0|[1-9][0-9_]*", Number.Integer),
        ],
    }
