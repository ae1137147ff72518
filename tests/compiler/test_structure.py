"""The package's structure: no import cycle anywhere in eqxdsl, no stage reaching into another's privates."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "eqxdsl"
COMPILER = PACKAGE / "compiler"
STAGES = ("parse", "check", "lower", "render", "library")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, imported names, whether only for type checking) of each import in the file at `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for node in ast.walk(block)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names], id(node) in typing_only))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, [], id(node) in typing_only) for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the eqxdsl modules it imports when run (imports for type checking left out)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names, typing_only in _imports(path):
            if typing_only or not module.startswith("eqxdsl"):
                continue
            targets = {f"{module}.{item}" for item in names if f"{module}.{item}" in modules} or {module}
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_eqxdsl():
    # Imports inside functions count too: they run, later, and a cycle among them is still a tangle.
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_a_private_name_of_another_stage():
    offences = []
    for path in COMPILER.rglob("*.py"):
        own = path.relative_to(COMPILER).parts[0]
        for module, names, _ in _imports(path):
            if not module.startswith("eqxdsl.compiler."):
                continue
            stage = module.split(".")[2]
            if stage == own or stage not in STAGES:
                continue
            private = [n for n in names if n.startswith("_")] + [p for p in module.split(".")[3:] if p.startswith("_")]
            if private:
                offences.append(f"{path.relative_to(COMPILER)} imports {private} from {module}")
    assert offences == []


#: Size limits that keep each module readable in one sitting (lines, including docstrings).
#: A function is measured from its `def` line to its last line, decorators left out.
MAX_FILE_LINES = 800
MAX_CLASS_LINES = 500
MAX_FUNCTION_LINES = 80


def _oversized() -> list[str]:
    offences = []
    for path in sorted(COMPILER.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(COMPILER)
        if text.count("\n") > MAX_FILE_LINES:
            offences.append(f"{name}: {text.count(chr(10))} lines (at most {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                offences.append(f"{name}:{node.lineno} class {node.name}: {node.end_lineno - node.lineno + 1} lines (at most {MAX_CLASS_LINES})")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                offences.append(f"{name}:{node.lineno} function {node.name}: {node.end_lineno - node.lineno + 1} lines (at most {MAX_FUNCTION_LINES})")
    return offences


def test_no_compiler_file_class_or_function_is_oversized():
    assert _oversized() == []


def test_the_size_check_sees_an_oversized_class(tmp_path, monkeypatch):
    module = tmp_path / "compiler" / "big.py"
    module.parent.mkdir()
    module.write_text("class Big:\n" + "    x = 1\n" * MAX_CLASS_LINES, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "COMPILER", module.parent)
    assert _oversized() == [f"big.py:1 class Big: {MAX_CLASS_LINES + 1} lines (at most {MAX_CLASS_LINES})"]


def test_the_size_check_sees_an_oversized_function_and_leaves_decorators_out(tmp_path, monkeypatch):
    module = tmp_path / "compiler" / "long.py"
    module.parent.mkdir()
    line = "    x = 1\n"
    # `fits` is exactly as long as the limit allows, as its decorator is not counted; a method counts too.
    module.write_text(
        "def long():\n" + line * MAX_FUNCTION_LINES
        + "@staticmethod\ndef fits():\n" + line * (MAX_FUNCTION_LINES - 1)
        + "class Holder:\n    async def waits(self):\n" + ("    " + line) * MAX_FUNCTION_LINES,
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "COMPILER", module.parent)
    waits = (MAX_FUNCTION_LINES + 1) + (MAX_FUNCTION_LINES + 1) + 2
    assert _oversized() == [
        f"long.py:1 function long: {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})",
        f"long.py:{waits} function waits: {MAX_FUNCTION_LINES + 1} lines (at most {MAX_FUNCTION_LINES})",
    ]
