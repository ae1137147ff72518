"""Dataflow pictures of models, drawn from their checked specs (`eqxdsl graph`).

`check_with_types` checks a spec noting every expression's value; `spec_graph`
turns one of its models into a `Graph` (layers and functions as nodes, arrays
as edges labelled with their shapes, nested models and loops as clusters);
`to_dot` and `to_mermaid` write it as Graphviz DOT or Mermaid text, and
`write_graph` writes it to a file in the format its name asks for (SVG and
PNG through Graphviz's `dot`). Nothing here imports jax.
"""

from ._build import GraphError, spec_graph
from ._dot import to_dot
from ._graph import Cluster, Edge, Graph, Location, Node, mark_skips
from ._mermaid import to_mermaid
from ._render import FORMATS, GraphvizMissing, RenderError, format_for, graph_bytes, render, write_graph
from ._types import TypedSpec, check_with_types

__all__ = [
    "FORMATS",
    "Cluster",
    "Edge",
    "Graph",
    "GraphError",
    "GraphvizMissing",
    "Location",
    "Node",
    "RenderError",
    "TypedSpec",
    "check_with_types",
    "format_for",
    "graph_bytes",
    "mark_skips",
    "render",
    "spec_graph",
    "to_dot",
    "to_mermaid",
    "write_graph",
]
