"""The .eqx compiler: parse, check, lower, render, write (see docs/compiler.md)."""
