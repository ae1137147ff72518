"""`to_dot`: a `Graph` as Graphviz DOT text, each node and cluster linked to its spec line."""

from __future__ import annotations

import os

from ._graph import Cluster, Graph, Location, Node

#: How each kind of node is drawn.
_NODE_STYLES = {
    "input": 'shape=box, style="rounded,filled,bold", fillcolor="#d9f2e3", color="#2f7d4f"',
    "output": 'shape=box, style="rounded,filled,bold", fillcolor="#fbe3d6", color="#b4532a"',
    "layer": 'shape=box, style="rounded,filled", fillcolor="#dde9f7", color="#3a6aa3"',
    "function": 'shape=box, style="rounded,filled", fillcolor="#fcf1d2", color="#a97c1c"',
    "op": 'shape=circle, style=filled, fillcolor="#eeeeee", color="#777777", fontsize=12, width=0.3, margin=0.02',
    "param": 'shape=cylinder, style=filled, fillcolor="#ebe4f6", color="#6a4c9c"',
}


def quote(text: str) -> str:
    """`text` as a DOT quoted string: backslashes and quotes escaped, line breaks as `\\n`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def node_text(node: Node) -> str:
    """What a node says: its name (with `×n` when repeated), then its detail on a second line."""
    first = node.label if node.repeat is None else f"{node.label}  ×{node.repeat}"
    return first if not node.detail else f"{first}\n{node.detail}"


def cluster_text(cluster: Cluster) -> str:
    return cluster.label if cluster.repeat is None else f"{cluster.label}  ×{cluster.repeat}"


def link(location: Location, links_from: str | None) -> str:
    """The spec line as a link: the spec's path (relative to `links_from`, a folder, when given) and `#L<line>`."""
    path = location.path if links_from is None else os.path.relpath(location.path, links_from)
    return f"{path.replace(os.sep, '/')}#L{location.line}"


def _linked(location: Location | None, links_from: str | None) -> str:
    if location is None:
        return ""
    tooltip = f"{location}: {location.text}" if location.text else str(location)
    return f", tooltip={quote(tooltip)}, URL={quote(link(location, links_from))}"


def to_dot(graph: Graph, direction: str = "TB", links_from: str | None = None) -> str:
    """Write `graph` as DOT.

    Args:
        graph: the dataflow.
        direction: Graphviz's `rankdir`: `TB` (top to bottom) or `LR` (left to right).
        links_from: the folder the picture will live in, so that links to the
            specs are relative to it; None: the specs' paths as they are.

    Returns:
        The DOT text; skip connections are drawn dashed and in another colour.
    """
    lines = [
        f"digraph {quote(graph.title)} {{",
        f'  graph [rankdir={direction}, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.3,'
        f' labeljust=l, tooltip={quote(graph.title)}];',
        '  node [fontname="Helvetica", fontsize=10, margin="0.12,0.04", height=0.3];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555", fontcolor="#444444", arrowsize=0.6];',
    ]

    def write(cluster: str | None, indent: str) -> None:
        nodes, clusters = graph.children(cluster)
        for node in nodes:
            lines.append(
                f"{indent}{node.id} [label={quote(node_text(node))}, {_NODE_STYLES[node.kind]}"
                f"{_linked(node.location, links_from)}];"
            )
        for inner in clusters:
            style = '"rounded,filled,bold"' if inner.repeat is not None else '"rounded,dashed"'
            lines.append(f"{indent}subgraph {inner.id} {{")
            lines.append(
                f'{indent}  graph [label={quote(cluster_text(inner))}, style={style}, color="#8a8a8a",'
                f' fillcolor="#f6f8fb"{_linked(inner.location, links_from)}];'
            )
            write(inner.id, indent + "  ")
            lines.append(f"{indent}}}")

    write(None, "  ")
    for edge in graph.edges:
        attributes = [f"label={quote(' ' + edge.label)}"] if edge.label else []
        if edge.skip:
            attributes.append('style=dashed, color="#c2561a"')
        lines.append(f"  {edge.source} -> {edge.target}" + (f" [{', '.join(attributes)}]" if attributes else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"
