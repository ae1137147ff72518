"""The layer table: every class of `eqxdsl.runtime.nn` a spec can declare, one row each.

A row (`LayerInfo`) holds the layer's constructor arguments with their kinds,
its shape rule (`infer` fills in the sizes a spec leaves out from the first
call's inputs, `output` gives the result type), its array attributes and the
runtime class it becomes.
"""

from eqxdsl.compiler.library.layers._costs import COSTS, ITEMSIZE, Holdings, LayerCost, einsum_macs, matmul_macs
from eqxdsl.compiler.library.layers._row import (
    ARG_KINDS,
    REQUIRED,
    BoundLayer,
    LayerArg,
    LayerArgKind,
    LayerInfo,
    LayerShapeError,
    suggest,
)
from eqxdsl.compiler.library.layers._table import LAYERS, NOT_LAYERS

__all__ = [
    "ARG_KINDS",
    "COSTS",
    "ITEMSIZE",
    "Holdings",
    "LayerCost",
    "einsum_macs",
    "matmul_macs",
    "LAYERS",
    "NOT_LAYERS",
    "REQUIRED",
    "BoundLayer",
    "LayerArg",
    "LayerArgKind",
    "LayerInfo",
    "LayerShapeError",
    "suggest",
]
