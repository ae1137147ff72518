"""Replacing a file whole: readers, and a user who presses Ctrl-C, see the old text or the new one.

`compile` and `fmt` both rewrite files in place. Each write goes to a temporary
file in the target's folder and is renamed over the target when complete. The
rename is atomic, but the steps around it are Python code: a SIGINT turned into
`KeyboardInterrupt` after the temporary file is created and before its name is
known to the code that removes it would leave that file behind. So SIGINT is
held while the file is created, and raised again as soon as its name is known;
the rest of the write stays interruptible, and an interrupted write removes
the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path


def replace_file(target: Path, text: str, *, newline: str = "\n") -> None:
    """Replace `target` (or create it) with `text`, atomically; its permissions are kept.

    `newline` is how line ends are written, as for `open`: `"\\n"` for generated
    modules, `""` to write `text`'s own line ends unchanged. Raises `OSError`;
    on any failure the temporary file is removed and `target` is untouched.
    """
    temporary = None
    try:
        with _sigint_held():
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            file = os.fdopen(handle, "w", encoding="utf-8", newline=newline)
        with file:
            file.write(text)
        os.chmod(temporary, _file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise


def _file_mode(target: Path) -> int:
    """The mode `target` has, or for a new file the mode `open` would give it."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold a SIGINT that arrives inside the block, and raise it again to its own handler after.

    Python lets only the main thread set handlers, and Python's handlers run
    only there; in another thread the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield  # a handler installed outside Python cannot be put back
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if arrived:
            signal.raise_signal(signal.SIGINT)
