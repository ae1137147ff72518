"""The call sites of a method body that take a key, found by walking its syntax."""

from __future__ import annotations

from collections.abc import Iterator

from eqxdsl.compiler.check.checked import CallRef
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_children


def key_sites(body, resolved) -> Iterator[tuple[int, str]]:
    """Stochastic calls in source order: (id of the call node, base name for its key)."""
    for node in walk_nodes(body):
        ref = resolved.get(id(node))
        if isinstance(ref, CallRef) and ref.stochastic:
            if ref.kind == "map":
                continue
            base = ref.target if ref.kind != "submethod" else f"{ref.target}_{ref.method}"
            yield id(node), base


def walk_nodes(obj: s.Node | tuple) -> Iterator[s.Node]:
    """Every node under `obj` in the order it runs: pre-order, but a call after its arguments."""
    if isinstance(obj, tuple):
        for item in obj:
            yield from walk_nodes(item)
    elif isinstance(obj, s.Node):
        if isinstance(obj, s.Pipeline):
            # Steps run after their source, left to right.
            yield from walk_nodes(obj.source)
            for step in obj.steps:
                yield step
                if isinstance(step, s.Call):
                    yield from walk_nodes(step.args)
                    yield from walk_nodes(step.keywords)
            return
        if isinstance(obj, s.Call):
            # Arguments run before the call itself.
            yield from walk_nodes(obj.args)
            yield from walk_nodes(obj.keywords)
            yield obj
            return
        yield obj
        for child in iter_children(obj):
            yield from walk_nodes(child)
