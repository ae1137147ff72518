"""`eqxdsl graph`: the dataflow of a spec's model as DOT, SVG, PNG and Mermaid."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from eqxdsl.cli import main
from eqxdsl.graph import Graph, GraphError, check_with_types, spec_graph, to_dot, to_mermaid, write_graph
from eqxdsl.graph._dot import quote

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECS = sorted(EXAMPLES.glob("*.eqx"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

RESIDUAL = """\
model Residual(dim: int = 8):
    input x: f32[T, dim]
    ln = LayerNorm(dim)
    proj = Linear(dim, dim)
    forward:
        h = map(proj, map(ln, x))
        return x + h
"""

CONCATENATION = """\
model Cat(a: int = 4, b: int = 6):
    input x: f32[a]
    proj = Linear(a, b)
    forward:
        return concatenate([x, proj(x)])
"""

REPEAT = """\
model Deep(dim: int = 8, n: int = 3):
    input x: f32[dim]
    layers = repeat n scan: Linear(dim, dim)
    forward:
        for layer in layers:
            x = layer(x)
        return x
"""

NESTED = """\
model Inner(width: int):
    input x: f32[width]
    lin = Linear(width, width)
    forward:
        return relu(lin(x))

model Outer(dim: int = 8):
    input x: f32[dim]
    inner = Inner(2 * dim)
    up = Linear(dim, 2 * dim)
    head = Linear(2 * dim, 3)
    forward:
        return head(inner(up(x)))
"""


def _graph(tmp_path: Path, source: str, depth: int | None = None) -> Graph:
    spec = tmp_path / "spec.eqx"
    spec.write_text(source)
    return spec_graph(check_with_types(spec), depth=depth)


def _node(graph: Graph, label: str) -> str:
    (found,) = [node.id for node in graph.nodes if node.label == label]
    return found


def _edges(graph: Graph) -> dict[tuple[str, str], tuple[str, bool]]:
    names = {node.id: node.label for node in graph.nodes}
    return {(names[edge.source], names[edge.target]): (edge.label, edge.skip) for edge in graph.edges}


@pytest.mark.parametrize("spec", SPECS, ids=[spec.stem for spec in SPECS])
def test_every_example_has_a_connected_graph(spec: Path) -> None:
    graph = spec_graph(check_with_types(spec))
    ids = {node.id for node in graph.nodes}
    clusters = {cluster.id for cluster in graph.clusters}
    assert [node.kind for node in graph.nodes].count("input") >= 1
    assert "output" in {node.kind for node in graph.nodes}
    assert all(edge.source in ids and edge.target in ids for edge in graph.edges)
    assert all(node.cluster is None or node.cluster in clusters for node in graph.nodes)
    assert all(node.location is not None and node.location.line >= 1 for node in graph.nodes)
    # Every node but an input takes something in, and every node but an output gives something out,
    # except a function of sizes only (a mask) and a value the last loop step leaves unused.
    targets = {edge.target for edge in graph.edges}
    assert all(node.id in targets for node in graph.nodes if node.kind in ("layer", "op", "output"))


def test_a_residual_connection_is_a_skip_edge(tmp_path: Path) -> None:
    graph = _graph(tmp_path, RESIDUAL)
    assert [(node.kind, node.label, node.detail) for node in graph.nodes] == [
        ("input", "x", "f32[T×dim]"),
        ("layer", "ln", "LayerNorm · map"),
        ("layer", "proj", "Linear · map"),
        ("op", "+", ""),
        ("output", "output", "f32[T×dim]"),
    ]
    assert _edges(graph) == {
        ("x", "ln"): ("f32[T×dim]", False),
        ("ln", "proj"): ("f32[T×dim]", False),
        ("x", "+"): ("f32[T×dim]", True),
        ("proj", "+"): ("f32[T×dim]", False),
        ("+", "output"): ("f32[T×dim]", False),
    }
    assert graph.clusters == ()


def test_a_concatenation_joins_its_inputs(tmp_path: Path) -> None:
    graph = _graph(tmp_path, CONCATENATION)
    assert _edges(graph) == {
        ("x", "proj"): ("f32[a]", False),
        ("x", "concatenate"): ("f32[a]", True),
        ("proj", "concatenate"): ("f32[b]", False),
        ("concatenate", "output"): ("f32[(a + b)]", False),
    }
    assert graph.nodes[_node_index(graph, "concatenate")].kind == "function"


def _node_index(graph: Graph, label: str) -> int:
    return [node.label for node in graph.nodes].index(label)


def test_a_repeated_layer_is_one_node_marked_with_its_count(tmp_path: Path) -> None:
    graph = _graph(tmp_path, REPEAT)
    (layers,) = [node for node in graph.nodes if node.kind == "layer"]
    assert (layers.label, layers.detail, layers.repeat) == ("layers", "Linear", "n")
    assert graph.clusters == ()
    assert '"layers  ×n\\nLinear"' in to_dot(graph)
    assert '"layers  ×n<br/>Linear"' in to_mermaid(graph)


def test_a_loop_over_a_tuple_of_any_length_is_marked_with_the_defaults_length() -> None:
    graph = spec_graph(check_with_types(EXAMPLES / "wavenet.eqx"))
    loop = next(cluster for cluster in graph.clusters if cluster.label == "for layer in layers")
    assert loop.repeat == "10"  # len(dilations) at its default of ten dilations


def test_a_loop_of_several_calls_is_a_cluster_marked_with_its_count() -> None:
    graph = spec_graph(check_with_types(EXAMPLES / "mlp.eqx"))
    (loop,) = graph.clusters
    assert (loop.label, loop.repeat) == ("for layer in hidden", "depth")
    nodes, _ = graph.children(loop.id)
    # The activation hyperparameter `act` is drawn as the function it defaults to.
    assert [(node.label, node.detail) for node in nodes] == [("hidden", "Linear"), ("relu", "act")]


def test_a_nested_model_is_a_cluster_in_its_callers_sizes(tmp_path: Path) -> None:
    graph = _graph(tmp_path, NESTED)
    (inner,) = graph.clusters
    assert inner.label == "inner: Inner"
    assert inner.location is not None and inner.location.line == 9
    nodes, clusters = graph.children(inner.id)
    assert [node.label for node in nodes] == ["lin", "relu"] and clusters == []
    assert graph.nodes[_node_index(graph, "head")].cluster is None
    assert _edges(graph) == {
        ("x", "up"): ("f32[dim]", False),
        ("up", "lin"): ("f32[2·dim]", False),  # Inner's `width`, as Outer gave it
        ("lin", "relu"): ("f32[2·dim]", False),
        ("relu", "head"): ("f32[2·dim]", False),
        ("head", "output"): ("f32[3]", False),
    }
    lin = graph.nodes[_node_index(graph, "lin")]
    assert lin.location is not None and (Path(lin.location.path).name, lin.location.line) == ("spec.eqx", 3)


def test_depth_draws_deeper_models_as_single_nodes(tmp_path: Path) -> None:
    graph = _graph(tmp_path, NESTED, depth=0)
    assert graph.clusters == ()
    assert [(node.label, node.detail) for node in graph.nodes if node.kind == "layer"] == [
        ("up", "Linear"), ("inner", "Inner"), ("head", "Linear"),
    ]


def test_the_gpt_graph() -> None:
    graph = spec_graph(check_with_types(EXAMPLES / "gpt.eqx"))
    clusters = {cluster.label: cluster for cluster in graph.clusters}
    assert clusters["blocks: Block"].repeat == "depth"
    assert clusters["mlp: MLP · map"].parent == clusters["blocks: Block"].id
    edges = _edges(graph)
    assert edges[("hidden", "gelu")] == ("f32[4·dim]", False)  # the MLP's `act`, as the Block sets it
    assert edges[("ln2", "hidden")] == ("f32[dim]", False)  # what the first of its copies sees
    assert edges[("causal_mask", "attn")] == ("mask: bool[T×T]", False)
    assert edges[("embed.weight", "@")] == ("f32[dim×vocab]", False)
    skips = [edge for edge in graph.edges if edge.skip]
    assert len(skips) == 2 and all(graph.nodes[int(edge.target[1:])].label == "+" for edge in skips)


def test_dot_quotes_labels() -> None:
    assert quote('say "hi"\\n\nnext') == '"say \\"hi\\"\\\\n\\nnext"'


def test_dot_links_each_node_to_its_spec_line(tmp_path: Path) -> None:
    graph = _graph(tmp_path, RESIDUAL)
    dot = to_dot(graph, links_from=str(tmp_path / "docs"))
    assert re.search(r'n1 \[label="ln\\nLayerNorm · map".*tooltip=".*spec\.eqx:3: ln = LayerNorm\(dim\)", URL="\.\./spec\.eqx#L3"\]', dot)
    assert 'n0 -> n3 [label=" f32[T×dim]", style=dashed' in dot


@needs_dot
@pytest.mark.parametrize("spec", SPECS, ids=[spec.stem for spec in SPECS])
def test_graphviz_lays_out_every_example(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{spec.stem}.svg"
    write_graph(spec_graph(check_with_types(spec)), out)
    svg = ElementTree.parse(out).getroot()
    anchors = list(svg.iter("{http://www.w3.org/2000/svg}a"))
    links = [anchor.get("{http://www.w3.org/1999/xlink}href") for anchor in anchors]
    # One link per node and cluster; the graph's own tooltip is an anchor without one.
    graph = spec_graph(check_with_types(spec))
    assert sum(link is not None for link in links) == len(graph.nodes) + len(graph.clusters)
    assert all(re.search(r"\.eqx#L\d+$", link) for link in links if link is not None)


@needs_dot
def test_png(tmp_path: Path) -> None:
    out = tmp_path / "gpt.png"
    assert main(["graph", str(EXAMPLES / "gpt.eqx"), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_svg_without_graphviz_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "gpt.png"
    assert main(["graph", str(EXAMPLES / "gpt.eqx"), "-o", str(out)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"{out}: error: writing PNG needs Graphviz's `dot` program, which is not on PATH")
    assert "apt-get install graphviz" in error and "brew install graphviz" in error and "Traceback" not in error
    assert not out.exists()


def test_mermaid(tmp_path: Path) -> None:
    graph = spec_graph(check_with_types(EXAMPLES / "gpt.eqx"))
    lines = to_mermaid(graph, "LR").splitlines()
    assert lines[0] == "flowchart LR"
    assert sum(line.strip().startswith("subgraph ") for line in lines) == len(graph.clusters) == 3
    assert sum(line.strip() == "end" for line in lines) == 3
    arrows = [line for line in lines if re.match(r"\s+n\d+ -", line)]
    assert len(arrows) == len(graph.edges) and sum("-.->" in line for line in arrows) == 2
    assert '    n5(["causal_mask"])' in lines  # inside the Block's cluster
    assert '  n5 -->|"mask: bool[T×T]"| n6' in lines
    assert sum(line.startswith("  click ") for line in lines) == len(graph.nodes)
    out = tmp_path / "gpt.md"
    assert main(["graph", str(EXAMPLES / "gpt.eqx"), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("```mermaid\nflowchart TB\n") and text.endswith("\n```\n")
    # Links are relative to the document's folder, so they lead to the spec from where it is kept.
    (first,) = re.findall(r'click n0 href "([^"#]+)#L35"', text)
    assert (out.parent / first).resolve() == (EXAMPLES / "gpt.eqx").resolve()


def test_set_sizes_show_as_numbers_and_unknown_ones_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    typed = check_with_types(EXAMPLES / "gpt.eqx")
    symbolic = {edge.label for edge in spec_graph(typed).edges}
    assert "f32[T×dim]" in symbolic
    numeric = {edge.label for edge in spec_graph(typed, sizes={"dim": 128, "T": 16}).edges}
    assert "f32[16×128]" in numeric and "f32[T×dim]" not in numeric
    wavenet = check_with_types(EXAMPLES / "wavenet.eqx")
    with pytest.raises(GraphError, match="dilations takes 10 value"):
        spec_graph(wavenet, sizes={"dilations": (1, 2)})
    assert main(["graph", str(EXAMPLES / "gpt.eqx"), "-o", "-", "--set", "width=3"]) == 1
    assert "GPT has no size 'width'; its sizes: vocab, ctx, dim, heads, depth, T" in capsys.readouterr().err
    assert main(["graph", str(EXAMPLES / "gpt.eqx"), "-o", "-", "--set", "dim=big"]) == 2
    assert "--set takes NAME=INTEGER" in capsys.readouterr().err


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = EXAMPLES / "gpt.eqx"
    assert main(["graph", str(spec), "Nope", "-o", str(tmp_path / "g.dot")]) == 1
    assert capsys.readouterr().err == f"{spec}: error: gpt.eqx has no model 'Nope'; its models: Block, GPT\n"
    assert main(["graph", str(spec), "-o", str(tmp_path / "g.txt")]) == 2
    assert "cannot tell the graph format from the name" in capsys.readouterr().err
    assert main(["graph", str(spec), "-o", "-", "--format", "svg"]) == 2
    assert "-o - writes text formats only" in capsys.readouterr().err
    methods_only = tmp_path / "methods.eqx"
    methods_only.write_text("model M(n: int = 2):\n    lin = Linear(n, n)\n    def enc(x: f32[n]) -> f32[n]:\n        return lin(x)\n")
    assert main(["graph", str(methods_only), "-o", str(tmp_path / "g.dot")]) == 1
    assert capsys.readouterr().err == f"{methods_only}: error: M has no forward method, so it has no dataflow to draw\n"
    broken = tmp_path / "broken.eqx"
    broken.write_text("model M():\n    input x: f32[4]\n    forward:\n        return nope(x)\n")
    assert main(["graph", str(broken), "-o", str(tmp_path / "g.dot")]) == 1
    assert f"{broken}:4:" in capsys.readouterr().err


def test_dot_to_standard_output_without_jax(tmp_path: Path) -> None:
    script = (
        "import sys; from eqxdsl.cli import main; code = main(sys.argv[1:]); "
        "assert 'jax' not in sys.modules, 'jax was imported'; sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "graph", str(EXAMPLES / "gpt.eqx"), "-o", "-"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('digraph "GPT" {') and done.stdout.endswith("}\n")
