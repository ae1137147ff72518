"""`eqxdsl lsp` when a spec changes on disk: a save, or a watched file's change, re-checks every open document."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._client import ServerProcess
from .test_server import BLOCKS, NET

BROKEN_BLOCKS = BLOCKS.replace("out(h)", "out(h, h)")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "blocks.eqx").write_text(BLOCKS)
    (tmp_path / "net.eqx").write_text(NET)
    return tmp_path


@pytest.fixture
def server(workspace: Path):
    process = ServerProcess(workspace)
    try:
        process.request("initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
        process.notify("initialized", {})
        yield process
    finally:
        process.kill()


def _open_net(server: ServerProcess, workspace: Path) -> str:
    uri = (workspace / "net.eqx").as_uri()
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "eqx", "version": 1, "text": NET}})
    assert server.diagnostics(uri, version=1) == []
    return uri


def _import_error(diagnostics: list[dict]) -> str:
    (found,) = diagnostics
    assert found["message"].startswith("the imported spec 'blocks.eqx' has errors"), found
    return found["relatedInformation"][0]["message"]


def test_a_changed_watched_file_rechecks_the_documents_that_import_it(server, workspace):
    net = _open_net(server, workspace)
    (workspace / "blocks.eqx").write_text(BROKEN_BLOCKS)
    change = {"uri": (workspace / "blocks.eqx").as_uri(), "type": 2}
    server.notify("workspace/didChangeWatchedFiles", {"changes": [change]})
    assert _import_error(server.diagnostics(net)) == "Linear takes 1 input (x), got 2"
    (workspace / "blocks.eqx").write_text(BLOCKS)
    server.notify("workspace/didChangeWatchedFiles", {"changes": [change]})
    assert server.diagnostics(net) == []


def test_a_save_rechecks_every_open_document(server, workspace):
    net = _open_net(server, workspace)
    (workspace / "blocks.eqx").write_text(BROKEN_BLOCKS)
    server.notify("textDocument/didSave", {"textDocument": {"uri": net}})
    assert _import_error(server.diagnostics(net)) == "Linear takes 1 input (x), got 2"
