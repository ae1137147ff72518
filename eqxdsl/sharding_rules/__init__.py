"""Logical axis names, rules and their checks, in pure Python (no jax).

Arrays name their axes with logical names (`"embed"`, `"heads"`); a rules table
maps the names to the axes of a device mesh. This package holds everything about
them that needs no devices: parsing rules, joining nested annotations, resolving
names to mesh axes and every problem that can be found on shapes alone. The
runtime (`eqxdsl.runtime`: `check_sharding`, `make_sharded`, ...) uses it on a
model's real shapes and mesh; the compiler uses it on a spec's sizes
(`eqxdsl check SPEC --mesh data=4,model=2 --rules rules.json`).
"""

from ._join import Annotation, JoinedAxes, Path, join_annotations, path_name
from ._problems import KINDS, ShardingError, ShardingProblem, raise_problems
from ._rules import (
    LogicalAxes,
    MeshAxes,
    Rules,
    RuleTable,
    Shape,
    format_mesh_axes,
    parse_rules,
    resolve_axes,
    resolve_sharding,
    unused_rules,
)

__all__ = [
    "Annotation",
    "JoinedAxes",
    "KINDS",
    "LogicalAxes",
    "MeshAxes",
    "Path",
    "RuleTable",
    "Rules",
    "Shape",
    "ShardingError",
    "ShardingProblem",
    "format_mesh_axes",
    "join_annotations",
    "parse_rules",
    "path_name",
    "raise_problems",
    "resolve_axes",
    "resolve_sharding",
    "unused_rules",
]
