"""Tools around the `.eqx` language: the compiler front end they share, and highlighting.

`frontend` is the one place that reaches into the compiler; `highlight` holds
the Pygments lexer (registered as the `eqx` lexer under `pygments.lexers`).
"""
