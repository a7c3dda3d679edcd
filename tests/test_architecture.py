"""Imports go one way (docs/architecture.md): a module may import its own layer or lower ones,
never a higher one, the CLI is imported by nobody, and there are no import cycles. Every
``import`` statement counts, also the ones inside functions (a lazy import is still a
dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_SRC = ROOT / "device_runtime" / "src"

#: Bottom to top. A module belongs to the layer of the longest matching prefix; the packages of
#: one layer may not import each other (they are siblings: export and HIL).
LAYERS: list[tuple[str, ...]] = [
    ("semqam_node",),
    ("semqam",),
    ("channel_sim",),
    ("metrics",),
    ("trainer.data",),
    ("trainer",),
    ("edge",),
    ("evaluation",),
    ("firmware_export", "hil"),
    ("cli",),
]
PACKAGES = ("semqam_node", "semqam", "channel_sim", "metrics", "trainer", "edge", "evaluation",
            "firmware_export", "hil", "cli")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        base = NODE_SRC if pkg == "semqam_node" else ROOT
        for path in sorted((base / pkg).rglob("*.py")):
            if "build" in path.relative_to(base).parts:
                continue
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def _layer(module: str) -> int | None:
    best, best_len = None, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def _package(module: str) -> str:
    for prefixes in LAYERS:
        for p in sorted(prefixes, key=len, reverse=True):
            if module == p or module.startswith(p + "."):
                return p
    return module


MODULES = _modules()
GRAPH = {m: {i for i in _imports(m, p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_every_package_was_found():
    for pkg in PACKAGES:
        assert any(m == pkg or m.startswith(pkg + ".") for m in MODULES), pkg
    assert len(MODULES) > 60


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    own = _layer(module)
    bad = []
    for target in sorted(GRAPH[module]):
        layer = _layer(target)
        if layer > own:
            bad.append(f"{target} (layer {LAYERS[layer]})")
        elif layer == own and _package(target) != _package(module):
            bad.append(f"{target} (sibling package {_package(target)})")
    assert not bad, f"{module} (layer {LAYERS[own]}) imports a higher layer: {', '.join(bad)}"


def test_no_import_cycles():
    """Tarjan's strongly connected components over every import edge between modules."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package importing its own submodules (re-exports) is not a cycle
            real = [c for c in comp if not any(o != c and o.startswith(c + ".") for o in comp)]
            if len(real) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rule is live: a channel_sim module importing the trainer would be flagged."""
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from trainer.svqvae.run import load_run\n")
    targets = {t for t in _imports("channel_sim.fake", fake) if t in MODULES}
    assert "trainer.svqvae.run" in targets
    assert _layer("trainer.svqvae.run") > _layer("channel_sim.fake")


def test_the_receiver_side_and_the_cli_start_without_tensorflow():
    """The edge decoder, the HIL loop and the command line import no TensorFlow: `semqam hil`
    on a host without a trained run starts fast and its errors are one line (TensorFlow's
    start-up chatter goes to stderr)."""
    import subprocess
    import sys

    code = ("import sys, cli.main, edge.decoder, hil.session, hil.runner, hil.profile; "
            "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
