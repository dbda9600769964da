"""No import cycles in the extension package: the imports of every module of ml/, ops/,
addon/ and the root __init__.py (relative and absolute faceforge.* ones, at module level
or inside functions) are read statically and any cycle among them fails, named."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "faceforge"
PARTS = ("ml", "ops", "addon")


def module_files(root: Path = ROOT, parts=PARTS) -> dict[str, Path]:
    """{dotted module name: file} of the package's runtime modules."""
    files = {PACKAGE: root / "__init__.py"} if (root / "__init__.py").exists() else {}
    for part in parts:
        for path in sorted((root / part).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("").parts
            rel = rel[:-1] if rel[-1] == "__init__" else rel
            files[".".join((PACKAGE,) + rel)] = path
    return files


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that `name` (at `path`) imports anywhere in its code: for
    `from X import y`, X.y when that is a module, else X."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:      # `import faceforge.ml.x.Class`
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph(root: Path = ROOT, parts=PARTS) -> dict[str, set[str]]:
    files = module_files(root, parts)
    return {name: imported(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) through each strongly connected group of modules."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):                                    # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for group in groups:                             # a shortest way back to the start
        start = min(group)
        paths, seen = {start: [start]}, {start}
        frontier = [start]
        while frontier and start not in [w for v in frontier for w in graph[v]]:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & group - seen):
                    seen.add(w)
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
            frontier = nxt
        last = next(v for v in frontier if start in graph[v])
        out.append(paths[last] + [start])
    return out


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 30 and "faceforge.ml.lipsync.engine" in graph
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_walk_finds_relative_absolute_and_function_level_cycles(tmp_path):
    pkg = tmp_path / "ml"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import thing\n")
    (pkg / "c.py").write_text("import faceforge.ml.a\n")
    (pkg / "d.py").write_text("from . import a\n")
    graph = import_graph(tmp_path, ("ml",))
    assert graph["faceforge.ml.sub.b"] == {"faceforge.ml.c"}
    assert graph["faceforge.ml.d"] == {"faceforge.ml.a"}
    assert cycles(graph) == [["faceforge.ml.a", "faceforge.ml.sub.b", "faceforge.ml.c",
                              "faceforge.ml.a"]]
    (pkg / "c.py").write_text("")
    assert cycles(import_graph(tmp_path, ("ml",))) == []
