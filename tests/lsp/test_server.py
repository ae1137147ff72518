"""`eqxdsl lsp` end to end: a real server process, spoken to over stdio by a JSON-RPC client.

One server runs for the module, on a folder holding a spec (`net.eqx`) that
imports another (`blocks.eqx`). Every wait is bounded (`_client.WAIT_S`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._client import ServerProcess

BLOCKS = '''\
model MLP(in_size: int, out_size: int, width: int = 64):
    """Two Linear layers with a relu between."""
    input x: f32[in_size]
    hidden = Linear(out_features=width)
    out = Linear(out_features=out_size)

    forward:
        h = x -> hidden -> relu
        return out(h)
'''

NET = '''\
from "blocks.eqx" import MLP

model Net(dim: int = 16, classes: int = 4):
    input x: f32[T, dim]
    norm = LayerNorm(dim)
    head = MLP(dim, classes, width=32)

    def embed(x: f32[T, dim]) -> f32[T, dim]:
        return map(norm, x)

    forward:
        h = embed(x)
        return map(head, h)
'''


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("workspace")
    (folder / "blocks.eqx").write_text(BLOCKS)
    (folder / "net.eqx").write_text(NET)
    return folder


@pytest.fixture(scope="module")
def server(workspace):
    process = ServerProcess(workspace)
    try:
        result = process.request("initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
        process.notify("initialized", {})
        process.capabilities = result["capabilities"]
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def net(server, workspace) -> str:
    """The uri of `net.eqx`, opened in the server."""
    uri = (workspace / "net.eqx").as_uri()
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "eqx", "version": 1, "text": NET}})
    assert server.diagnostics(uri, version=1) == []
    return uri


def at(line: int, text: str, source: str = NET, occurrence: int = 0) -> dict:
    """The LSP position of the `occurrence`-th `text` on 1-based `line` of `source`."""
    row = source.splitlines()[line - 1]
    column = -1
    for _ in range(occurrence + 1):
        column = row.index(text, column + 1)
    return {"line": line - 1, "character": column}


def change(server: ServerProcess, uri: str, version: int, text: str) -> list[dict]:
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"text": text}]})
    return server.diagnostics(uri, version=version)


def test_it_announces_its_features(server):
    capabilities = server.capabilities
    for feature in ("hoverProvider", "definitionProvider", "completionProvider", "documentSymbolProvider",
                    "documentFormattingProvider"):
        assert capabilities.get(feature), feature


def test_diagnostics_appear_with_range_and_hint_and_clear_when_fixed(server, net):
    broken = NET.replace("map(head, h)", "map(head, h) @ x")
    (diagnostic,) = change(server, net, 2, broken)
    assert diagnostic["severity"] == 1
    assert diagnostic["source"] == "eqxdsl"
    assert diagnostic["message"].startswith("@: the last axis of the left operand f32[T, classes]")
    assert "\nhint: the compiler cannot prove classes == T" in diagnostic["message"]
    row = broken.splitlines()[12]
    assert diagnostic["range"] == {"start": {"line": 12, "character": row.index("map(head")},
                                   "end": {"line": 12, "character": len(row)}}
    assert change(server, net, 3, NET) == []


def test_a_syntax_error_is_reported_at_its_place(server, net):
    broken = NET.replace("norm = LayerNorm(dim)", "norm = LayerNorm(dim")
    (diagnostic,) = change(server, net, 4, broken)
    assert diagnostic["range"]["start"]["line"] in (4, 5)
    assert change(server, net, 5, NET) == []


def test_hover_shows_the_inferred_type_of_a_name(server, net):
    use = at(13, "h)")
    result = server.request("textDocument/hover", {"textDocument": {"uri": net}, "position": use})
    assert "h: f32[T, dim]" in result["contents"]["value"]
    assert result["range"] == {"start": use, "end": {"line": 12, "character": use["character"] + 1}}
    assigned = server.request("textDocument/hover", {"textDocument": {"uri": net}, "position": at(12, "h")})
    assert "h: f32[T, dim]" in assigned["contents"]["value"]


def test_hover_shows_the_type_of_an_expression_and_a_layer_signature(server, net):
    call = server.request("textDocument/hover", {"textDocument": {"uri": net}, "position": at(13, "(head")})
    assert "map(head, h): f32[T, classes]" in call["contents"]["value"]
    layer = server.request("textDocument/hover", {"textDocument": {"uri": net}, "position": at(5, "LayerNorm")})
    assert "LayerNorm(shape: shape (inferred), eps: float = 1e-05" in layer["contents"]["value"]
    field = server.request("textDocument/hover", {"textDocument": {"uri": net}, "position": at(13, "head")})
    value = field["contents"]["value"]
    assert "head = MLP(dim, classes, width=32)" in value
    assert "model MLP(in_size: int, out_size: int, width: int = 64)" in value


def test_definition_of_a_variable_a_field_and_a_method(server, net):
    def definition(position):
        return server.request("textDocument/definition", {"textDocument": {"uri": net}, "position": position})

    h = definition(at(13, "h)"))
    assert h == {"uri": net, "range": {"start": at(12, "h"), "end": {"line": 11, "character": at(12, "h")["character"] + 1}}}
    norm = definition(at(9, "norm"))
    assert norm["range"]["start"] == at(5, "norm")
    embed = definition(at(12, "embed"))
    assert embed["range"]["start"] == at(8, "embed")


def test_definition_crosses_into_an_imported_spec(server, net, workspace):
    for position in (at(6, "MLP"), at(1, "MLP")):
        found = server.request("textDocument/definition", {"textDocument": {"uri": net}, "position": position})
        assert found["uri"] == (workspace / "blocks.eqx").as_uri()
        assert found["range"] == {"start": at(1, "MLP", BLOCKS), "end": {"line": 0, "character": at(1, "MLP", BLOCKS)["character"] + 3}}


def test_completion_of_layers_functions_and_arguments(server, net):
    typing = NET.replace("    norm = LayerNorm(dim)\n", "    norm = LayerNorm(dim)\n    proj = Linear(out_\n")
    change(server, net, 6, typing)
    line = typing.splitlines().index("    proj = Linear(out_")
    inside = server.request("textDocument/completion", {"textDocument": {"uri": net},
                                                        "position": {"line": line, "character": len("    proj = Linear(out_")}})
    labels = {item["label"]: item for item in inside["items"]}
    assert {"out_features=", "use_bias=", "in_features="} <= set(labels)
    assert min(labels, key=lambda label: labels[label]["sortText"]).endswith("=")
    below_line = typing.splitlines().index("        h = embed(x)")
    below = {"line": below_line, "character": len("        h = embed(")}
    anywhere = server.request("textDocument/completion", {"textDocument": {"uri": net}, "position": below})
    names = {item["label"] for item in anywhere["items"]}
    assert {"Linear", "Conv2d", "MultiheadAttention", "relu", "softmax", "MLP", "norm", "head", "dim"} <= names
    assert not any(name.endswith("=") for name in names)
    assert change(server, net, 7, NET) == []


def test_document_symbols_outline_models_fields_and_methods(server, net):
    (model,) = server.request("textDocument/documentSymbol", {"textDocument": {"uri": net}})
    assert model["name"] == "Net"
    assert [child["name"] for child in model["children"]] == ["dim", "classes", "x", "norm", "head", "embed", "forward"]
    assert model["selectionRange"]["start"] == at(3, "Net")


def test_formatting_goes_through_fmt(server, net):
    messy = NET.replace("h = embed(x)", "h=embed( x )")
    change(server, net, 8, messy)
    edits = server.request("textDocument/formatting", {"textDocument": {"uri": net}, "options": {"tabSize": 4, "insertSpaces": True}})
    assert [edit["newText"] for edit in edits] == [NET]
    change(server, net, 9, NET)
    assert server.request("textDocument/formatting", {"textDocument": {"uri": net}, "options": {"tabSize": 4, "insertSpaces": True}}) == []


def test_an_unsaved_edit_of_an_imported_spec_reaches_its_importer(server, net, workspace):
    blocks = (workspace / "blocks.eqx").as_uri()
    server.notify("textDocument/didOpen", {"textDocument": {"uri": blocks, "languageId": "eqx", "version": 1, "text": BLOCKS}})
    assert server.diagnostics(blocks, version=1) == []
    server.notify("textDocument/didChange", {"textDocument": {"uri": blocks, "version": 2},
                                             "contentChanges": [{"text": BLOCKS.replace("out(h)", "out(h, h)")}]})
    assert server.diagnostics(blocks, version=2)
    at_import = server.diagnostics(net)[0]
    assert at_import["message"].startswith("the imported spec 'blocks.eqx' has errors")
    assert at_import["relatedInformation"][0]["location"]["uri"] == blocks
    assert at_import["range"]["start"] == {"line": 0, "character": 0}
    assert at_import["relatedInformation"][0]["message"] == "Linear takes 1 input (x), got 2"
    server.notify("textDocument/didClose", {"textDocument": {"uri": blocks}})
    assert server.diagnostics(blocks) == []
    assert server.diagnostics(net) == []  # back to the file on disk


def test_it_shuts_down_cleanly(workspace):
    process = ServerProcess(workspace)
    try:
        process.request("initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
        process.notify("initialized", {})
        assert process.shutdown() == 0
    finally:
        process.kill()
