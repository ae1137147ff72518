"""`eqxdsl --version` prints the installed package's version."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

from eqxdsl import cli


def run_version(capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_version_is_the_installed_metadata(capsys):
    version = importlib.metadata.version("eqxdsl")
    assert re.fullmatch(r"\d+\.\d+.*", version)
    assert run_version(capsys) == f"eqxdsl {version}\n"


def test_version_without_installed_metadata_says_so(capsys, monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert run_version(capsys) == "eqxdsl (version unknown: the package is not installed)\n"
