"""Writing a graph to a file: DOT and Mermaid as text, SVG and PNG through Graphviz's `dot` program."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ._dot import to_dot
from ._graph import Graph
from ._mermaid import to_mermaid

#: Each format and the file name endings that ask for it.
FORMATS = {
    "dot": (".dot", ".gv"),
    "svg": (".svg",),
    "png": (".png",),
    "mermaid": (".mmd", ".mermaid"),
    "markdown": (".md",),
}
#: How long `dot` may take to lay out a graph, in seconds.
RENDER_TIMEOUT = 120
_PNG_DPI = 144
_INSTALL_HINT = "install Graphviz (apt-get install graphviz, or brew install graphviz on macOS)"


class RenderError(Exception):
    """A picture that cannot be written: an unknown format, or Graphviz failing."""


class GraphvizMissing(RenderError):
    """SVG or PNG asked for, and Graphviz's `dot` program is not on PATH."""


def format_for(path: str | os.PathLike, format: str | None = None) -> str:
    """The format to write `path` in: `format` when given, else the one its name ends with."""
    if format is not None:
        if format not in FORMATS:
            raise RenderError(f"unknown graph format {format!r}; expected one of {', '.join(FORMATS)}")
        return format
    suffix = Path(path).suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    endings = ", ".join(ending for suffixes in FORMATS.values() for ending in suffixes)
    raise RenderError(f"cannot tell the graph format from the name {os.fspath(path)!r}: name it {endings}, or pass --format")


def render(dot: str, format: str) -> bytes:
    """Lay out DOT text with Graphviz's `dot` program.

    Args:
        dot: the graph, as DOT text.
        format: `"svg"` or `"png"`.

    Returns:
        The picture's bytes.

    Raises:
        GraphvizMissing: `dot` is not on PATH.
        RenderError: `dot` failed or took longer than `RENDER_TIMEOUT` seconds.
    """
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(f"writing {format.upper()} needs Graphviz's `dot` program, which is not on PATH: {_INSTALL_HINT}; or write .dot or .mmd instead")
    command = [program, f"-T{format}"] + ([f"-Gdpi={_PNG_DPI}"] if format == "png" else [])
    try:
        done = subprocess.run(command, input=dot.encode(), capture_output=True, timeout=RENDER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz's `dot` took longer than {RENDER_TIMEOUT} s to lay out the graph") from None
    except OSError as error:
        raise RenderError(f"cannot run Graphviz's `dot` ({program}): {error.strerror or error}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise RenderError(f"Graphviz's `dot` failed: {message}")
    return done.stdout


def graph_bytes(graph: Graph, format: str, direction: str = "TB", links_from: str | None = None) -> bytes:
    """`graph` in `format` (one of `FORMATS`), links to the specs relative to the folder `links_from`."""
    if format == "mermaid":
        return to_mermaid(graph, direction, links_from).encode()
    if format == "markdown":
        return f"```mermaid\n{to_mermaid(graph, direction, links_from)}```\n".encode()
    dot = to_dot(graph, direction, links_from)
    return dot.encode() if format == "dot" else render(dot, format)


def write_graph(graph: Graph, path: str | os.PathLike, format: str | None = None, direction: str = "TB") -> str:
    """Write `graph` to `path` in `format` (default: the one its name asks for); returns the format.

    Links to the specs are relative to the file's folder, so they work where it is kept.

    Raises:
        RenderError: an unknown format, or Graphviz missing or failing (nothing is written then).
        OSError: the file cannot be written.
    """
    path = Path(path)
    format = format_for(path, format)
    data = graph_bytes(graph, format, direction, os.fspath(path.parent) or ".")
    path.write_bytes(data)
    return format
