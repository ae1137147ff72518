"""The dataflow graph of a model, as plain data that the writers lay out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class Location:
    """A line of a spec.

    Attributes:
        path: the spec's path, as the command line or its importer named it.
        line: the 1-based line number.
        text: that line of the spec, stripped.
    """

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclasses.dataclass(frozen=True)
class Node:
    """One step of the dataflow.

    Attributes:
        id: unique in the graph.
        kind: "input", "output", "layer", "function", "op" (an operator such as `+` or `@`)
            or "param" (a parameter or buffer read directly).
        label: the name (`attn`, `relu`, `+`).
        detail: a second line: the layer's class, a parameter's type; may be empty.
        location: the spec line it comes from (a layer's definition, a call, an operator).
        cluster: the id of the innermost cluster holding it; None at the top.
        repeat: for a layer applied as a stack, how many times (`depth`); None otherwise.
    """

    id: str
    kind: str
    label: str
    detail: str = ""
    location: Location | None = None
    cluster: str | None = None
    repeat: str | None = None


@dataclasses.dataclass(frozen=True)
class Edge:
    """An array flowing from one node to another.

    Attributes:
        source: the producing node's id.
        target: the consuming node's id.
        label: the array's type as it arrives (`f32[T×dim]`), or `mask: bool[T×T]` for a keyword input.
        skip: whether the target is also reached from the source through other nodes
            (a residual connection, or an input to a concatenation that bypasses layers).
    """

    source: str
    target: str
    label: str = ""
    skip: bool = False


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A box around the nodes of a nested model, a method, or a loop body.

    Attributes:
        id: unique in the graph.
        label: what it is (`blocks: Block`, `for layer in hidden`).
        parent: the id of the cluster around it; None at the top.
        location: the spec line it comes from.
        repeat: how many times it runs (`depth`), for a stack or loop; None otherwise.
    """

    id: str
    label: str
    parent: str | None = None
    location: Location | None = None
    repeat: str | None = None


@dataclasses.dataclass(frozen=True)
class Graph:
    """A model's dataflow: nodes, the edges between them, and the clusters grouping them.

    Attributes:
        title: the model's name.
        nodes: in the order the model computes them.
        edges: in the order they were found.
        clusters: outer clusters before the clusters inside them.
    """

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...]

    def children(self, cluster: str | None) -> tuple[list[Node], list[Cluster]]:
        """The nodes and clusters directly inside `cluster` (None: the top level)."""
        return [node for node in self.nodes if node.cluster == cluster], [c for c in self.clusters if c.parent == cluster]


def mark_skips(edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """`edges` with `skip` set on each edge whose target its source also reaches through other nodes."""
    edges = tuple(edges)
    successors: dict[str, list[str]] = {}
    for edge in edges:
        successors.setdefault(edge.source, []).append(edge.target)

    def bypassed(edge: Edge) -> bool:
        seen: set[str] = set()
        frontier = [node for node in successors.get(edge.source, ()) if node != edge.target]
        while frontier:
            node = frontier.pop()
            if node == edge.target:
                return True
            if node not in seen:
                seen.add(node)
                frontier.extend(successors.get(node, ()))
        return False

    return tuple(dataclasses.replace(edge, skip=bypassed(edge)) for edge in edges)
