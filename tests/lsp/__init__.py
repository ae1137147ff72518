"""Tests of the language server `eqxdsl lsp`, end to end over stdio, and of the analysis it runs."""
