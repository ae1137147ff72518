"""The `--mesh` option: mesh axis names and sizes, `data=4,model=2`."""

from __future__ import annotations

__all__ = ["parse_mesh"]


def parse_mesh(text: str) -> dict[str, int]:
    """Mesh axis sizes from `NAME=SIZE,NAME=SIZE`, in order (major to minor).

    Raises:
        ValueError: a malformed entry, a size below 1 or a name given twice; the
            message says which.
    """
    sizes: dict[str, int] = {}
    for item in text.split(","):
        name, equals, size = (part.strip() for part in item.partition("="))
        if not equals or not name.isidentifier() or not size.isdigit():
            raise ValueError(f"--mesh takes NAME=SIZE,... such as data=4,model=2; got {item.strip()!r}")
        if int(size) < 1:
            raise ValueError(f"mesh axis {name!r} must have a size of at least 1, got {size}")
        if name in sizes:
            raise ValueError(f"mesh axis {name!r} is given twice")
        sizes[name] = int(size)
    return sizes
