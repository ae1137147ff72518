"""The table of functions: each row its parameters, its shape rule and its Python."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from eqxdsl.compiler.library._function_row import FnParam, Function, FunctionArgs
from eqxdsl.compiler.library.functions._rules import (
    _PAD_PARAMS,
    _along_axis,
    _arange,
    _argreduce,
    _argsort,
    _array,
    _astype,
    _bernoulli,
    _binary,
    _causal_mask,
    _clip,
    _concatenate,
    _cumsum,
    _einsum,
    _expand_dims,
    _filled,
    _flatten,
    _floating,
    _logsumexp,
    _lower_bernoulli,
    _lower_causal_mask,
    _lower_pad,
    _lower_sample,
    _mean,
    _moveaxis,
    _numbers,
    _one_hot,
    _pad,
    _reduce,
    _reordered,
    _reshape,
    _rounded,
    _same,
    _sample,
    _shard,
    _sort,
    _split,
    _squeeze,
    _stack,
    _sum,
    _swapaxes,
    _take,
    _transpose,
    _where,
)
from eqxdsl.compiler.values import Value

_X = FnParam("x", "array")
_AXIS_ALL = FnParam("axis", "axis", None)
_AXIS_LAST = FnParam("axis", "axis", -1)
_AXIS_FIRST = FnParam("axis", "int", 0)
_KEEPDIMS = FnParam("keepdims", "bool", False, keyword=True)


def _activation(name: str, target: str, doc: str, rule: Callable[[FunctionArgs], Value] = _same) -> Function:
    return Function(name, (_X,), rule, target, activation=True, doc=doc)


def _elementwise(name: str, target: str, doc: str) -> Function:
    return Function(name, (_X,), _same, target, doc=doc)


def _elementwise_same(name: str, target: str, doc: str) -> Function:
    """An elementwise function that keeps the dtype (`floor` of an int array is that array)."""
    return Function(name, (_X,), _rounded, target, doc=doc)


_ALL = [
    _activation("relu", "jax.nn.relu", "max(x, 0)", _numbers),
    _activation("gelu", "jax.nn.gelu", "Gaussian error linear unit (tanh approximation)"),
    _activation("silu", "jax.nn.silu", "x * sigmoid(x)", _floating),
    _activation("sigmoid", "jax.nn.sigmoid", "1 / (1 + exp(-x))", _floating),
    _activation("tanh", "jnp.tanh", "hyperbolic tangent"),
    _activation("softplus", "jax.nn.softplus", "log(1 + exp(x))"),
    _activation("elu", "jax.nn.elu", "exponential linear unit"),
    _activation("leaky_relu", "jax.nn.leaky_relu", "max(x, 0.01 * x)"),
    Function("softmax", (_X, _AXIS_LAST), _along_axis, "jax.nn.softmax", activation=True, doc="softmax along `axis`"),
    Function("log_softmax", (_X, _AXIS_LAST), _along_axis, "jax.nn.log_softmax", activation=True, doc="log of softmax along `axis`"),
    _elementwise("exp", "jnp.exp", "e ** x"),
    _elementwise("log", "jnp.log", "natural logarithm"),
    _elementwise("sqrt", "jnp.sqrt", "square root"),
    Function("rsqrt", (_X,), _floating, "jax.lax.rsqrt", doc="1 / sqrt(x)"),
    Function("abs", (_X,), lambda a: _array(a["x"], "x"), "jnp.abs", doc="absolute value"),
    Function("square", (_X,), _numbers, "jnp.square", doc="x * x"),
    _elementwise("sin", "jnp.sin", "sine"),
    _elementwise("cos", "jnp.cos", "cosine"),
    Function("sum", (_X, _AXIS_ALL, _KEEPDIMS), _sum, "jnp.sum", method=True, doc="sum over `axis` (all axes by default)"),
    Function("mean", (_X, _AXIS_ALL, _KEEPDIMS), _mean, "jnp.mean", method=True, doc="mean over `axis`"),
    Function("var", (_X, _AXIS_ALL, _KEEPDIMS), _mean, "jnp.var", method=True, doc="variance over `axis`"),
    Function("std", (_X, _AXIS_ALL, _KEEPDIMS), _mean, "jnp.std", method=True, doc="standard deviation over `axis`"),
    Function("max", (_X, _AXIS_ALL, _KEEPDIMS), _reduce, "jnp.max", method=True, doc="maximum over `axis`"),
    Function("min", (_X, _AXIS_ALL, _KEEPDIMS), _reduce, "jnp.min", method=True, doc="minimum over `axis`"),
    Function("logsumexp", (_X, _AXIS_ALL, _KEEPDIMS), _logsumexp, "jax.nn.logsumexp", doc="log of the sum of exponentials over `axis`, computed stably"),
    Function("argmax", (_X, _AXIS_ALL), _argreduce, "jnp.argmax", method=True, doc="index of the maximum along `axis`"),
    Function("argmin", (_X, _AXIS_ALL), _argreduce, "jnp.argmin", method=True, doc="index of the minimum along `axis`"),
    Function("cumsum", (_X, _AXIS_ALL), _cumsum, "jnp.cumsum", method=True, doc="running sums along `axis` (of the flattened array by default)"),
    Function("sort", (_X, _AXIS_LAST, FnParam("descending", "bool", False, keyword=True)), _sort, "jnp.sort", method=True, doc="sorted along `axis`"),
    Function("argsort", (_X, _AXIS_LAST, FnParam("descending", "bool", False, keyword=True)), _argsort, "jnp.argsort", method=True, doc="the indices that sort along `axis`"),
    _elementwise_same("floor", "jnp.floor", "rounded down"),
    _elementwise_same("ceil", "jnp.ceil", "rounded up"),
    Function("round", (_X, FnParam("decimals", "int", 0)), _rounded, "jnp.round", method=True, doc="rounded to `decimals` places, halves to even"),
    Function("shard", (_X, FnParam("axes", "tuple")), _shard, "eqx.with_logical_constraint", doc="x, sharded by logical axis names under the rules of `eqx.logical_sharding` (unchanged without)"),
    Function("stop_gradient", (_X,), lambda a: _array(a["x"], "x"), "jax.lax.stop_gradient", doc="x, with no gradient flowing back through it"),
    Function("maximum", (_X, FnParam("y", "array")), _binary, "jnp.maximum", doc="elementwise maximum"),
    Function("minimum", (_X, FnParam("y", "array")), _binary, "jnp.minimum", doc="elementwise minimum"),
    Function("where", (FnParam("condition", "array"), _X, FnParam("y", "array")), _where, "jnp.where", doc="x where condition holds, else y"),
    Function("clip", (_X, FnParam("min", "float", None), FnParam("max", "float", None)), _clip, "jnp.clip", method=True, doc="x limited to [min, max]"),
    Function("concatenate", (FnParam("arrays", "arrays"), _AXIS_FIRST), _concatenate, "jnp.concatenate", doc="join arrays along an existing axis"),
    Function("stack", (FnParam("arrays", "arrays"), _AXIS_FIRST), _stack, "jnp.stack", doc="join arrays along a new axis"),
    Function("reshape", (_X, FnParam("shape", "shape")), _reshape, "jnp.reshape", method=True, doc="the same elements in a new shape (one size may be -1)"),
    Function("transpose", (_X, FnParam("axes", "shape", None)), _transpose, "jnp.transpose", method=True, doc="axes reversed, or permuted by `axes`"),
    Function("flatten", (_X,), _flatten, "jnp.ravel", activation=True, method=True, doc="all elements as one axis"),
    Function("roll", (_X, FnParam("shift", "int"), _AXIS_ALL), _reordered, "jnp.roll", doc="x shifted by `shift` along `axis` (of the flattened array by default), wrapping around"),
    Function("flip", (_X, _AXIS_ALL), _reordered, "jnp.flip", doc="x in reverse order along `axis` (all axes by default)"),
    Function("swapaxes", (_X, FnParam("axis1", "int"), FnParam("axis2", "int")), _swapaxes, "jnp.swapaxes", method=True, doc="x with two axes exchanged"),
    Function("moveaxis", (_X, FnParam("source", "shape"), FnParam("destination", "shape")), _moveaxis, "jnp.moveaxis", doc="x with the axes `source` moved to `destination`, the others in order"),
    Function("expand_dims", (_X, FnParam("axis", "shape")), _expand_dims, "jnp.expand_dims", doc="new axes of size 1 at `axis`"),
    Function("squeeze", (_X, _AXIS_ALL), _squeeze, "jnp.squeeze", method=True, doc="axes of size 1 removed (all of them by default)"),
    Function("take", (_X, FnParam("indices", "array"), FnParam("axis", "axis", None)), _take, "jnp.take", method=True, doc="the entries at `indices` along `axis` (of the flattened array by default)"),
    Function("pad", _PAD_PARAMS, _pad, "jnp.pad", lowering=_lower_pad, doc="padded with `pad_width` entries before and after each axis"),
    Function("astype", (_X, FnParam("dtype", "dtype")), _astype, "jnp.astype", method=True, doc="converted to `dtype`"),
    Function("one_hot", (_X, FnParam("num_classes", "int"), FnParam("dtype", "dtype", "f32", keyword=True), FnParam("axis", "int", -1, keyword=True)), _one_hot, "jax.nn.one_hot", doc="integer classes as one-hot vectors along a new `axis`"),
    Function("split", (_X, FnParam("indices_or_sections", "shape"), _AXIS_FIRST), _split, "jnp.split", doc="a tuple of equal parts (an int) or of the parts between indices"),
    Function("einsum", (FnParam("subscripts", "str"), FnParam("operands", "arrays")), _einsum, "jnp.einsum", doc="Einstein summation; the output indices must be named"),
    Function("zeros", (FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32")), _filled, "jnp.zeros", doc="an array of zeros"),
    Function("ones", (FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32")), _filled, "jnp.ones", doc="an array of ones"),
    Function("arange", (FnParam("start", "int"), FnParam("stop", "int", None), FnParam("step", "int", None), FnParam("dtype", "dtype", None)), _arange, "jnp.arange", doc="the integers from `start` (0 with one argument) up to `stop`, `step` apart"),
    Function("causal_mask", (FnParam("n", "int"),), _causal_mask, "jnp.tril", lowering=_lower_causal_mask, doc="bool[n, n], true on and below the diagonal"),
    Function("normal", (FnParam("key", "key"), FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32")), _sample, "jax.random.normal", lowering=_lower_sample("jax.random.normal"), stochastic=True, doc="standard normal samples"),
    Function("uniform", (FnParam("key", "key"), FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32"), FnParam("minval", "float", 0.0), FnParam("maxval", "float", 1.0)), _sample, "jax.random.uniform", lowering=_lower_sample("jax.random.uniform"), stochastic=True, doc="uniform samples in [minval, maxval)"),
    Function("bernoulli", (FnParam("key", "key"), FnParam("p", "float"), FnParam("shape", "shape")), _bernoulli, "jax.random.bernoulli", lowering=_lower_bernoulli, stochastic=True, doc="bool samples, true with probability p"),
]

#: Other names of functions, as jax.numpy and jax.nn spell them too.
_ALIASES = {"swish": "silu", "concat": "concatenate"}

#: Every function of the language by name (with its aliases).
FUNCTIONS: Mapping[str, Function] = {f.name: f for f in _ALL} | {alias: next(f for f in _ALL if f.name == name) for alias, name in _ALIASES.items()}

#: The functions that arrays also have as methods (`x.mean(0)`), by name.
METHODS: Mapping[str, Function] = {f.name: f for f in _ALL if f.method}

#: What other array libraries call some of these functions, for "did you mean" hints.
ELSEWHERE: Mapping[str, str] = {
    "cat": "concatenate", "view": "reshape", "permute": "transpose", "unsqueeze": "expand_dims",
    "clamp": "clip", "ravel": "flatten", "float": "astype", "amax": "max", "amin": "min",
    "gather": "take", "index_select": "take", "cast": "astype", "movedim": "moveaxis",
}

#: The functions that may be used as values (`fn` hyperparameters, `activation=`, pipeline steps).
ACTIVATIONS: Mapping[str, Function] = {name: f for name, f in FUNCTIONS.items() if f.activation}
