"""The package's layers, read from the code: serving never imports training or the metrics
(the image has neither), the serving model imports nothing above it, the metrics nothing of
training, training's networks none of its stages, and no module imports another's private
names; and no import circle."""

from __future__ import annotations

import ast

from tests.conftest import REPO

PACKAGE = REPO / "functions" / "caption"

# Who may not import whom: a module under the first prefix imports nothing under the second.
FORBIDDEN = [
    ("caption.model", "caption.train"), ("caption.model", "caption.metrics"),
    ("caption.model", "caption.api"), ("caption.model", "caption.service"),
    ("caption.metrics", "caption.train"),
    ("caption.train.networks", "caption.train.stages"),
    ("caption.train.networks", "caption.train.export"),
    ("caption.train.export", "caption.train.stages"),
]
SERVING_ONLY = ("caption.train", "caption.metrics")  # not in the image


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"))
    return out


def imports(tree: ast.Module, top_level_only: bool = False) -> list[tuple[str, str]]:
    """(module, name) for every `from caption... import name`, and (module, "") for
    `import caption...`; top_level_only: those that run when the module is imported."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("caption"):
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names if alias.name.startswith("caption")]
    return out


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_no_module_imports_upward_or_into_what_the_image_lacks():
    found = modules()
    wrong = []
    for name, tree in found.items():
        for target, _ in imports(tree):
            if any(under(name, low) and under(target, high) for low, high in FORBIDDEN):
                wrong.append(f"{name} imports {target}")
            serving = not any(under(name, prefix) for prefix in SERVING_ONLY)
            if serving and any(under(target, prefix) for prefix in SERVING_ONLY):
                wrong.append(f"{name} (serving) imports {target}")
    assert not wrong, wrong


def test_what_serving_never_imports_is_left_out_of_the_image():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for prefix in SERVING_ONLY:
        assert f"functions/{prefix.replace('.', '/')}/" in ignored, prefix


def test_no_module_imports_another_modules_private_names():
    found = modules()
    wrong = [f"{name} imports {target}.{imported}" for name, tree in found.items()
             for target, imported in imports(tree) if imported.startswith("_")]
    assert not wrong, wrong


def test_no_import_circle():
    found = modules()
    graph = {name: {target if target in found else target.rsplit(".", 1)[0]
                    for target, _ in imports(tree, top_level_only=True)} & set(found)
             for name, tree in found.items()}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if target == name or under(name, target):
                continue  # a package's own __init__ is imported on the way in
            if state.get(target) == "open":
                return [*path, name, target]
            if target not in state and (circle := visit(target, [*path, name])):
                return circle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            circle = visit(name, [])
            assert circle is None, " -> ".join(circle)


def test_no_test_or_tool_reaches_into_a_private_attribute():
    """Tests and tools use public seams: no `thing._name` but on `self` or `cls`, where the
    thing is ours (a third party's private attributes are its business: they are not read
    here either)."""
    wrong = []
    for folder in ("tests", "infra", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                        and not node.attr.startswith("__")
                        and not (isinstance(node.value, ast.Name)
                                 and node.value.id in ("self", "cls"))):
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}")
    assert not wrong, wrong
