"""The `%%eqx` cell magic: write a spec in a notebook cell, use its models in the next.

    %load_ext eqxdsl

    %%eqx
    model MLP(in_size: int, out_size: int, width: int = 64):
        input x: f32[in_size]
        hidden = Linear(out_features=width)
        out = Linear(out_features=out_size)

        forward:
            return x -> hidden -> relu -> out

    model = MLP(4, 2, key=jax.random.key(0))   # in a later cell

`%%eqx NAME` names the spec (diagnostics read `NAME.eqx:line:col`; default
`cell`); `--folder DIR` is where the specs it imports are found (default: the
notebook's folder). The models of the cell become names of the notebook, and
`NAME` itself names the generated module. A spec with errors shows them as the
compiler prints them, with the source line and a caret, and no traceback.
"""

from __future__ import annotations

from IPython.core import magic_arguments
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, magics_class

from eqxdsl.tooling.frontend import CompileError, parse_spec
from eqxdsl.tooling.loading import load_source

__all__ = ["EqxMagics", "SpecError", "load_ipython_extension"]


class SpecError(Exception):
    """A cell's spec has errors; IPython shows the diagnostics instead of a traceback."""

    def __init__(self, error: CompileError):
        super().__init__(str(error))
        self.diagnostics = error.diagnostics

    def _render_traceback_(self) -> list[str]:
        # IPython's hook for exceptions that know how to show themselves.
        return str(self).splitlines()


@magics_class
class EqxMagics(Magics):
    """The `%%eqx` cell magic."""

    @magic_arguments.magic_arguments()
    @magic_arguments.argument("name", nargs="?", default="cell", help="the spec's name (default: cell)")
    @magic_arguments.argument("--folder", default=None, help="where imported specs are found (default: the current folder)")
    @cell_magic
    def eqx(self, line: str, cell: str) -> None:
        """Compile the cell as a `.eqx` spec and define its models in the notebook."""
        arguments = magic_arguments.parse_argstring(self.eqx, line)
        try:
            module = load_source(cell, arguments.name, folder=arguments.folder)
        except CompileError as error:
            raise SpecError(error) from None
        names = [model.name for model in parse_spec(cell, f"{arguments.name}.eqx").models]
        self.shell.user_ns.update({name: getattr(module, name) for name in names})
        self.shell.user_ns[arguments.name] = module


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register `%%eqx` with an IPython shell (what `%load_ext eqxdsl` calls)."""
    ipython.register_magics(EqxMagics)
