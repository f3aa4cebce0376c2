"""The dependency rule of README's Layout section: every signgen import points down the layers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "signgen"
LAYERS = [
    {"errors", "limits", "base", "video", "geometry", "config"},
    {"pose"},
    {"synth", "data", "eval"},
    {"models"},
    {"rendering"},
    {"train", "prep"},
    {"api"},
    {"cli", "app", "__main__"},
]
LEVEL = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _imports(path: Path) -> set[str]:
    """The signgen units (first name below `signgen`) that a module imports, lazily or not."""
    rel = path.relative_to(ROOT.parent).with_suffix("")
    package = list(rel.parts if rel.name == "__init__" else rel.parts[:-1])
    if rel.name == "__init__":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            names = [target + [a.name] for a in node.names] if len(target) == 1 else [target]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        found |= {n[1] for n in names if len(n) > 1 and n[0] == "signgen"}
    return found


def test_every_import_points_down_the_layers():
    upward = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        unit = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.stem != "__init__" else None
        if unit is None:  # the package root re-exports the API lazily
            continue
        for other in _imports(path) - {unit}:
            if LEVEL[other] > LEVEL[unit]:
                upward.append(f"{rel} imports signgen.{other}")
    assert not upward, upward


def test_the_pose_layer_needs_no_torch():
    def modules(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        return [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []

    users = [str(p.relative_to(ROOT)) for layer in ("pose", "base") for p in (ROOT / layer).rglob("*.py")
             if any(m.split(".")[0] == "torch" for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                    for m in modules(n))]
    assert not users, users
