"""The library: everything a spec can name, as tables with one row per thing.

- `layers`: the classes of `eqxdsl.runtime.nn`, one file per family, each row
  with its arguments (and their kinds), its shape rule, its attributes and the
  class it becomes.
- `functions`: the functions and activations a method may call (and the array
  methods that spell some of them, `x.mean(0)`).
- `initialisers`: the initialisers of `param` and `buffer` definitions.

The check stage reads the rows to check a spec, the lower stage to write the
Python each one becomes; tests hold every row against the runtime.
"""
