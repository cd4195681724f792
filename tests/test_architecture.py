"""The import architecture (docs/architecture.md), checked on the source with ``ast``.

Every import in ``pointad/`` and ``viz/`` counts, including the ones inside functions (a lazy
import hides a cycle from Python, not from this test). A *unit* is a package directly under
``pointad/`` (``pointad.io``), a module directly under it (``pointad.runner``), the root
``pointad`` (its ``__init__``) or ``viz``. The tests assert: no import cycle between units; no
import of a higher layer, nor of a unit of the same layer that :data:`SAME_LAYER` does not list;
no private name (``_x``) or private module (``pointad.x._mod``) imported from another unit; the
tables here equal the ones in docs/architecture.md; every path the README's Layout table names
exists and every package is listed there and in docs/architecture.md.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pointad", "viz")
DOC = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"

# The layers, lowest first: a unit may import the units of lower layers only, and the units of
# its own layer that SAME_LAYER lists for it. Keep in step with docs/architecture.md (checked).
LAYERS = {
    "foundation": ["pointad", "pointad.errors", "pointad.reductions", "pointad.validation",
                   "pointad.device", "pointad.params", "pointad.registry", "pointad.jit",
                   "pointad.parallel"],
    "base": ["pointad.ops", "pointad.io", "pointad.noise", "pointad.geometry"],
    "middle": ["pointad.synthesis", "pointad.features", "pointad.render", "pointad.metrics",
               "pointad.datasets", "pointad.backbones", "pointad.models2d", "pointad.models3d",
               "pointad.samples",
               "pointad.synthbench", "pointad.signals"],
    "detectors": ["pointad.detectors"],
    "runner": ["pointad.runner"],
    "viz": ["viz"],
    "cli": ["pointad.cli", "pointad.__main__"],
}
SAME_LAYER = {
    "pointad.reductions": ["pointad.errors", "pointad.jit"],
    "pointad.validation": ["pointad.errors", "pointad.reductions"],
    "pointad.device": ["pointad.errors"],
    "pointad.params": ["pointad.errors"],
    "pointad.registry": ["pointad.errors"],
    "pointad.parallel": ["pointad.errors"],
    "pointad.geometry": ["pointad.ops"],
    "pointad.render": ["pointad.features"],
    "pointad.models3d": ["pointad.features"],
    "pointad.synthbench": ["pointad.synthesis"],
    "pointad.__main__": ["pointad.cli"],
}
RANK = {unit: i for i, units in enumerate(LAYERS.values()) for unit in units}
LAYER_OF = {unit: layer for layer, units in LAYERS.items() for unit in units}


# ----------------------------------------------------------------------------- reading imports


@dataclass(frozen=True)
class Import:
    path: str     # file, relative to the repository root
    line: int
    source: str   # the import statement as written
    unit: str     # unit of the importing file
    module: str   # absolute module the statement reads from
    target: str   # unit of that module
    name: str | None = None  # the imported name, for "from module import name"

    def where(self) -> str:
        return f"{self.path}:{self.line}: `{self.source}`"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The unit a module belongs to: ``viz``, ``pointad`` or ``pointad.<top>``."""
    parts = module.split(".")
    if parts[0] != "pointad":
        return parts[0]
    return ".".join(parts[:2])


def _is_module(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def source_files() -> list[Path]:
    return sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py"))


def read_imports(path: Path) -> list[Import]:
    """Every import of a ``pointad``/``viz`` module in ``path``, at any depth of the file."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    rel, unit, out = str(path.relative_to(ROOT)), unit_of(module), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in SOURCES:
                    out.append(Import(rel, node.lineno, ast.get_source_segment(text, node) or "",
                                      unit, alias.name, unit_of(alias.name)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            if src.split(".")[0] not in SOURCES:
                continue
            stmt = " ".join((ast.get_source_segment(text, node) or "").split())
            for alias in node.names:
                # "from pointad.cli import generate" imports the module pointad.cli.generate
                full = f"{src}.{alias.name}"
                mod = full if _is_module(full) else src
                out.append(Import(rel, node.lineno, stmt, unit, mod, unit_of(mod),
                                  None if mod == full else alias.name))
    return out


def all_imports() -> list[Import]:
    return [imp for path in source_files() for imp in read_imports(path)]


def units_in_tree() -> dict[str, str]:
    """unit -> a file that defines it, for every unit under pointad/ and viz/."""
    out = {}
    for path in source_files():
        out.setdefault(unit_of(_module_name(path)), str(path.relative_to(ROOT)))
    return out


def cross_unit(imports):
    return [imp for imp in imports if imp.target != imp.unit]


# ----------------------------------------------------------------------------- the checks


def test_every_unit_has_a_layer():
    missing = [f"{unit} ({path})" for unit, path in units_in_tree().items() if unit not in RANK]
    assert not missing, ("in no layer; add them to LAYERS in tests/test_architecture.py and to "
                         "docs/architecture.md: " + ", ".join(missing))


def test_layer_table_is_consistent():
    assert len(RANK) == sum(len(u) for u in LAYERS.values()), "a unit is in two layers"
    for unit, allowed in SAME_LAYER.items():
        assert unit in RANK, f"SAME_LAYER names {unit}, which is in no layer"
        for other in allowed:
            assert LAYER_OF.get(other) == LAYER_OF[unit], \
                f"SAME_LAYER: {unit} -> {other} is not within one layer"
    cycle = _find_cycle({u: set(a) for u, a in SAME_LAYER.items()})
    assert not cycle, "SAME_LAYER allows a cycle: " + " -> ".join(cycle)


def test_no_upward_or_unlisted_imports():
    problems = []
    for imp in cross_unit(all_imports()):
        if imp.unit not in RANK or imp.target not in RANK:
            continue  # reported by test_every_unit_has_a_layer
        a, b = RANK[imp.unit], RANK[imp.target]
        if b > a:
            problems.append(f"{imp.where()}: {imp.unit} ({LAYER_OF[imp.unit]}) imports "
                            f"{imp.target} ({LAYER_OF[imp.target]}), a higher layer")
        elif b == a and imp.target not in SAME_LAYER.get(imp.unit, ()):
            problems.append(f"{imp.where()}: {imp.unit} imports {imp.target}, of its own layer "
                            f"({LAYER_OF[imp.unit]}), which SAME_LAYER does not allow")
    assert not problems, "imports against the layers (docs/architecture.md):\n" + \
        "\n".join(problems)


def _find_cycle(graph: dict) -> list:
    """One cycle of ``graph`` (node -> successors) as [a, b, ..., a], or []."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_no_import_cycles_between_units():
    edges: dict = {}
    for imp in cross_unit(all_imports()):
        edges.setdefault((imp.unit, imp.target), []).append(imp)
    graph: dict = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    cycles, seen = [], set()
    while True:
        cycle = _find_cycle(graph)
        if not cycle:
            break
        key = frozenset(cycle)
        if key not in seen:
            seen.add(key)
            lines = []
            for a, b in zip(cycle, cycle[1:]):
                where = list(dict.fromkeys(imp.where() for imp in edges[(a, b)]))
                lines += [f"  {w}" for w in where[:4]]
                if len(where) > 4:
                    lines.append(f"  ... and {len(where) - 4} more imports of {b} in {a}")
            cycles.append("cycle " + " -> ".join(cycle) + ":\n" + "\n".join(lines))
        graph[cycle[0]].discard(cycle[1])  # break it and look for another
    assert not cycles, "import cycles between packages:\n" + "\n".join(cycles)


def test_no_private_names_across_units():
    problems = []
    for imp in cross_unit(all_imports()):
        private_module = [p for p in imp.module.split(".")[1:] if _private(p)]
        if private_module:
            problems.append(f"{imp.where()}: {imp.unit} imports the private module {imp.module} "
                            f"of {imp.target}")
        elif imp.name and _private(imp.name):
            problems.append(f"{imp.where()}: {imp.unit} imports the private name {imp.name} "
                            f"from {imp.module}")
    assert not problems, ("private names used outside their package (make them public or "
                          "move them):\n" + "\n".join(problems))


# ----------------------------------------------------------------------------- the documents


def _table_after(text: str, heading: str) -> list[list[str]]:
    """The rows (cells split on '|') of the first markdown table after ``heading``."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    assert start is not None, f"no heading {heading!r}"
    rows, inside = [], False
    for line in lines[start + 1:]:
        if line.startswith("|"):
            inside = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif inside:
            break
    return rows[1:]  # without the header


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_docs_tables_match_the_test():
    text = DOC.read_text(encoding="utf-8")
    layers = {row[0].strip("* "): _ticked(row[1]) for row in _table_after(text, "## Layers")}
    assert list(layers) == list(LAYERS), "docs/architecture.md layers differ from LAYERS"
    for name, units in LAYERS.items():
        assert sorted(layers[name]) == sorted(units), \
            f"layer {name}: docs/architecture.md lists {layers[name]}, the test {units}"
    same = {_ticked(row[0])[0]: sorted(_ticked(row[1]))
            for row in _table_after(text, "## Imports within a layer")}
    assert same == {k: sorted(v) for k, v in SAME_LAYER.items()}, \
        "docs/architecture.md 'Imports within a layer' differs from SAME_LAYER"


def _packages() -> list[str]:
    return sorted(str(p.parent.relative_to(ROOT)) for top in SOURCES
                  for p in (ROOT / top).rglob("__init__.py"))


def test_every_package_is_in_docs_architecture():
    text = DOC.read_text(encoding="utf-8")
    missing = [p for p in _packages() if f"`{p.replace('/', '.')}`" not in text]
    assert not missing, f"packages not in docs/architecture.md: {', '.join(missing)}"


def _layout_rows():
    return [(_ticked(row[0]), _ticked(row[1]) if len(row) > 1 else [])
            for row in _table_after(README.read_text(encoding="utf-8"), "## Layout")]


def test_readme_layout_paths_exist():
    """Every path of the README's Layout table exists: the first column's paths, and the file
    names in the second column (relative to the row's folder)."""
    missing = []
    for paths, described in _layout_rows():
        assert paths, "a README Layout row names no path"
        for p in paths:
            if not (ROOT / p).exists():
                missing.append(p)
        folders = [ROOT / p for p in paths if p.endswith("/")]
        for name in described:
            if not re.fullmatch(r"[\w./-]+\.(py|sh|md)|[\w.-]+/", name):
                continue  # not a file name (`raw`, `torchvision:<arch>`, ...)
            if folders and not any((f / name).exists() for f in folders):
                missing.append(f"{name} (in {', '.join(paths)})")
    assert not missing, "README Layout names paths that do not exist: " + ", ".join(missing)


def test_readme_layout_lists_every_package_and_module():
    named = {p.rstrip("/") for paths, _ in _layout_rows() for p in paths}
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pointad").glob("*.py")
                     if not p.name.startswith("__"))
    wanted = [p for p in _packages() if p != "pointad"] + modules
    missing = [p for p in wanted if p not in named]
    assert not missing, f"README Layout does not list: {', '.join(missing)}"
