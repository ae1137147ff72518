"""`to_mermaid`: a `Graph` as a Mermaid flowchart, which GitHub renders in Markdown."""

from __future__ import annotations

from ._dot import cluster_text, link, node_text
from ._graph import Graph

#: Each kind of node's shape, as the brackets around its text.
_SHAPES = {
    "input": ('[/"', '"/]'),
    "output": ('[\\"', '"\\]'),
    "layer": ('("', '")'),
    "function": ('(["', '"])'),
    "op": ('(("', '"))'),
    "param": ('[("', '")]'),
}
_CLASSES = {
    "input": "fill:#d9f2e3,stroke:#2f7d4f",
    "output": "fill:#fbe3d6,stroke:#b4532a",
    "layer": "fill:#dde9f7,stroke:#3a6aa3",
    "function": "fill:#fcf1d2,stroke:#a97c1c",
    "op": "fill:#eeeeee,stroke:#777777",
    "param": "fill:#ebe4f6,stroke:#6a4c9c",
}


def text(value: str) -> str:
    """`value` for inside a quoted Mermaid label: entity codes for `#`, quotes and angle brackets; `<br/>` for line breaks."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        value = value.replace(char, code)
    return value.replace("\n", "<br/>")


def to_mermaid(graph: Graph, direction: str = "TB", links_from: str | None = None) -> str:
    """Write `graph` as a Mermaid flowchart.

    Args:
        graph: the dataflow.
        direction: `TB` (top to bottom) or `LR` (left to right).
        links_from: the folder the document will live in, for relative links to the specs.

    Returns:
        The flowchart text (without a Markdown fence); skip connections are dotted.
    """
    lines = [f"flowchart {direction}"]

    def write(cluster: str | None, indent: str) -> None:
        nodes, clusters = graph.children(cluster)
        for node in nodes:
            opening, closing = _SHAPES[node.kind]
            lines.append(f"{indent}{node.id}{opening}{text(node_text(node))}{closing}")
        for inner in clusters:
            lines.append(f'{indent}subgraph {inner.id} ["{text(cluster_text(inner))}"]')
            lines.append(f"{indent}  direction {direction}")
            write(inner.id, indent + "  ")
            lines.append(f"{indent}end")

    write(None, "  ")
    for edge in graph.edges:
        arrow = "-.->" if edge.skip else "-->"
        label = f'|"{text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {edge.source} {arrow}{label} {edge.target}")
    for node in graph.nodes:
        if node.location is not None:
            # A click line's strings are not labels: no entity codes there, and no quotes inside them.
            tooltip = f"{node.location}: {node.location.text}".replace('"', "'")
            url = link(node.location, links_from).replace('"', "%22")
            lines.append(f'  click {node.id} href "{url}" "{tooltip}"')
    for kind, style in _CLASSES.items():
        members = [node.id for node in graph.nodes if node.kind == kind]
        if members:
            lines.append(f"  classDef {kind} {style}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"
