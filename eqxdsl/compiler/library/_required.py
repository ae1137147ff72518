"""`REQUIRED`: the default of an argument that has none, in every table (layers, functions, initialisers)."""

from __future__ import annotations


class _Required:
    """The type of `REQUIRED`; one instance, so `default is REQUIRED` tells a missing default."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
