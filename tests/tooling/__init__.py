"""Tests of the tools around the language: formatter, highlighting, editors, notebook magic, pre-commit hooks."""
