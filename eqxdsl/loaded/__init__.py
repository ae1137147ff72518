"""The modules `eqxdsl.load` makes from specs, importable by name in any process.

`eqxdsl.load("/models/gpt.eqx")` registers its module as
`eqxdsl.loaded.eqxdsl._2fmodels.gpt`: the target, the spec's folder encoded as
one name, and the spec's module name. Importing this package installs the
finder that compiles the spec again when such a name is imported, so a model
pickled in one process unpickles in another (while the spec is still where it
was; if it changed, the classes come from its current text).
"""

from eqxdsl.compiler.loader import install_finder

install_finder()
