"""Initialisers of `param` and `buffer` definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from eqxdsl.compiler.library.functions import REQUIRED as FN_REQUIRED


@dataclass(frozen=True)
class Initialiser:
    """A parameter initialiser: its arguments (name, default) and whether it reads fan-in/fan-out."""

    params: tuple[tuple[str, object], ...]
    fan: bool = False


#: Initialisers of `param` and `buffer` definitions.
INITIALISERS: Mapping[str, Initialiser] = {
    "zeros": Initialiser(()),
    "ones": Initialiser(()),
    "constant": Initialiser((("value", FN_REQUIRED),)),
    "normal": Initialiser((("stddev", 1.0), ("mean", 0.0))),
    "truncated_normal": Initialiser((("stddev", 1.0), ("lower", -2.0), ("upper", 2.0))),
    "uniform": Initialiser((("minval", 0.0), ("maxval", 1.0))),
    "glorot_uniform": Initialiser((), fan=True),
    "glorot_normal": Initialiser((), fan=True),
    "xavier_uniform": Initialiser((), fan=True),
    "xavier_normal": Initialiser((), fan=True),
    "he_uniform": Initialiser((), fan=True),
    "he_normal": Initialiser((), fan=True),
    "kaiming_uniform": Initialiser((), fan=True),
    "kaiming_normal": Initialiser((), fan=True),
}
