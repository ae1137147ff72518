"""How many times each call a method makes runs, per call of the method, read off the checked spec.

The checker records a call once for every time it checks the body holding it
(`checked.CallSite`). Walking the method's syntax tree gives each record its
enclosing loops and `map`s, and so the number of times it stands for: a
scanned stack's body runs once per layer, a loop over an array once per step,
a mapped call once per mapped element.
"""

from __future__ import annotations

import dataclasses

from ..compiler.check import CallSite, CheckedModel, LoopRef, MethodInfo
from ..compiler.dims import Dim
from ..compiler.parse import syntax as s
from ..compiler.parse.walk import iter_children

ONE = Dim.const(1)


@dataclasses.dataclass(frozen=True)
class WeightedCall:
    """One recorded call and how often it runs.

    Attributes:
        site: the call, as the checker recorded it.
        times: how many times it runs per call of its method.
        mapped: the sizes of the `map`s around it, outermost first (its output
            gains these axes in front).
    """

    site: CallSite
    times: Dim
    mapped: tuple[Dim, ...]


def weighted_calls(model: CheckedModel, method: MethodInfo) -> list[WeightedCall]:
    """Every call `method` makes, with how often it runs and under which `map`s."""
    records: dict[int, list[CallSite]] = {}
    for site in method.sites:
        records.setdefault(id(site.node), []).append(site)
    rest_checked = {site.target for site in method.sites if site.rest}
    found: list[WeightedCall] = []

    def weigh(index: int, count: int, frames: tuple) -> tuple[Dim, tuple[Dim, ...]]:
        times, mapped = ONE, []
        for kind, value in frames:
            if kind == "repeat":
                times = times * value
            elif kind == "rest":  # the first half of the records is the first copy's check
                times = times * (ONE if index < count // 2 else value - 1)
            elif kind == "map":
                maps = records.get(id(value), [])
                length = maps[min(index, len(maps) - 1)].bound["length"] if maps else ONE
                times, mapped = times * length, [*mapped, length]
        return times, tuple(mapped)

    def walk(node: s.Node, frames: tuple) -> None:
        sites = records.get(id(node), [])
        for index, site in enumerate(sites):
            if site.kind != "map":
                found.append(WeightedCall(site, *weigh(index, len(sites), frames)))
        if isinstance(node, s.For):
            walk(node.iter, frames)
            for stmt in node.body:
                walk(stmt, frames + _loop_frames(model.resolved.get(id(node)), rest_checked))
            return
        if isinstance(node, s.Call) and any(site.kind == "map" for site in sites) and node.args:
            walk(node.args[0], frames + (("map", node),))
            for child in [*node.args[1:], *node.keywords]:
                walk(child, frames)
            return
        for child in iter_children(node):
            walk(child, frames)

    for stmt in method.node.body:
        walk(stmt, ())
    return found


def _loop_frames(loop: object, rest_checked: set[str]) -> tuple:
    """The frame a loop adds around its body: how its checks map to its runs."""
    if not isinstance(loop, LoopRef) or loop.length is None:
        return ()  # walked copy by copy: each check is one run
    if loop.stack is not None and loop.stack in rest_checked:
        return (("rest", loop.length),)
    return (("repeat", loop.length),)
