"""The import picture of app/: each module's layer, the imports that run upward, and import circles.

    python -m tools.import_picture [ROOT]     # ROOT holds app/ (default: this repository)

Layers are the ones docs/architecture.md names, lowest first; a module may import its own layer and
the ones below, and a feature folder the features before it in FEATURE_ORDER. An *upward* import breaks
either rule (a model importing a service, a service importing a router, the audit log importing notices,
crypto importing a feature). A *circle* is a set of modules that import each
other, directly or not (a strongly connected component of more than one module). Every import counts,
module-level or inside a function. tests/test_architecture.py holds the limits.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# (layer, name, pattern): the first pattern matching a module's dotted name gives its layer.
LAYERS: list[tuple[int, str, str]] = [
    (0, "foundation", r"app\.(config|errors|logging|unicode_policy|params)"),
    (0, "foundation", r"app\.crypto\.(keyring|envelope|ed25519|tls|columns)"),
    (0, "foundation", r"app\.audit\.merkle|app\.search\.normalise|app\.legislation\.stemming"),
    (1, "database", r"app\.db"),
    (2, "models", r"app\.\w+\.models|app\.auth\.principal"),
    (3, "kernel", r"app\.runtime|app\.audit\.(record|canonical|checkpoint)|app\.auth\.(tokens|passwords)"),
    (3, "kernel", r"app\.search\.blind_index"),
    (4, "policy and schemas", r"app\.policy|app(\.\w+)*\.schemas"),
    (5, "use cases", r"app\.\w+\.(service|indexer)"),
    (6, "jobs", r"app\.audit\.(sequencer|verify)|app\.crypto\.rotation|app\.keys(\.\w+)?"),
    (6, "jobs", r"app\.\w+\.(tasks|mailer)"),
    (7, "http", r"app\.(api|openapi|middleware|serving|ratelimit|health|resilience)|app\.\w+\.router"),
    (7, "http", r"app\.web(\.\w+)*"),
    # The whole schema, for migrations and tests: imports every feature's models (no app module imports it).
    (7, "http", r"app\.models"),
    (8, "application", r"app\.(main|features)"),
    (9, "command line", r"app\.cli(\.\w+)*|app\.\w+\.cli"),
    # Anything else in a feature folder (a state machine, a helper of its service) counts as a use case.
    (5, "use cases", r"app\.\w+\.\w+"),
]
# Feature folders, lowest first: a feature may import the ones before it, not the ones after (the audit
# log is below every feature, since every feature records; the portal and the CLI sit on top of all).
FEATURE_ORDER = ("crypto", "audit", "parties", "users", "reference", "auth", "notices", "search",
                 "notifications", "requests", "legislation", "directory", "enquiries", "keys", "web",
                 "cli")
# Shared by every feature, so part of no feature: who the caller is, how a password is hashed.
KERNEL = ("app.auth.principal", "app.auth.passwords")
FEATURES = tuple(f for f in FEATURE_ORDER if f not in ("crypto", "cli"))


def feature_of(module: str) -> str | None:
    if module in KERNEL:
        return None
    parts = module.split(".")
    if len(parts) > 2 and parts[1] in FEATURE_ORDER:
        return parts[1]
    if len(parts) == 2 and parts[1] == "cli":
        return "cli"
    return None


def is_upward(a: str, b: str, layers: dict[str, int]) -> bool:
    """Into a higher layer, or into a feature later in FEATURE_ORDER."""
    if layers[b] > layers[a]:
        return True
    fa, fb = feature_of(a), feature_of(b)
    return fa is not None and fb is not None and FEATURE_ORDER.index(fb) > FEATURE_ORDER.index(fa)


def layer_of(module: str) -> int:
    for level, _, pattern in LAYERS:
        if re.fullmatch(pattern, module):
            return level
    raise LookupError(f"{module}: no layer in tools/import_picture.py LAYERS (add one)")


def modules_under(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((root / "app").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {t for t in targets if t in known and t != module}


@dataclass
class Picture:
    layers: dict[str, int]
    edges: dict[str, set[str]]
    upward: list[tuple[str, str]] = field(default_factory=list)
    circles: list[list[str]] = field(default_factory=list)

    @property
    def crypto_to_features(self) -> list[tuple[str, str]]:
        feature = re.compile(rf"app\.({'|'.join(FEATURES)})(\.|$)")
        return sorted((a, b) for a, targets in self.edges.items() if a.startswith("app.crypto")
                      for b in targets if feature.match(b))


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def picture(root: Path) -> Picture:
    modules = modules_under(root)
    known = set(modules)
    edges = {m: _imports(p, m, known) for m, p in modules.items()}
    # A package whose __init__ imports nothing is a folder, not a module of the picture.
    folders = {m for m, p in modules.items() if p.name == "__init__.py" and not edges[m]}
    edges = {m: targets - folders for m, targets in edges.items() if m not in folders}
    layers = {m: layer_of(m) for m in edges}
    result = Picture(layers=layers, edges=edges)
    result.upward = sorted((a, b) for a, targets in edges.items() for b in targets
                           if is_upward(a, b, layers))
    result.circles = _circles(edges)
    return result


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    p = picture(root)
    used = sorted(set(p.layers.values()))
    print(f"{len(p.layers)} modules on {len(used)} layers, {sum(map(len, p.edges.values()))} imports")
    print(f"upward imports: {len(p.upward)}")
    for a, b in p.upward:
        print(f"  {a} (layer {p.layers[a]}, {feature_of(a) or '-'}) -> {b} (layer {p.layers[b]}, "
              f"{feature_of(b) or '-'})")
    print(f"import circles: {len(p.circles)}")
    for circle in p.circles:
        print("  " + " <-> ".join(circle))
    print(f"app.crypto importing features: {len(p.crypto_to_features)}")
    for a, b in p.crypto_to_features:
        print(f"  {a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
