"""The package's shape: imports only run down the layers, no import cycle, internal imports at
the top of modules, and the light entry points load no TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gan_lab"
# Lower layers never import higher ones: data / models / latent -> training / convert / runtime
# -> metrics / editing / bench -> widgets / grid / cli. Layer 0 is the foundation everything may use.
LAYERS = [
    {"errors", "paths", "images", "modelfolder", "backends", "quiet", "repro", "flops", "cluster", "distribute"},
    {"data", "models", "latent", "recipe", "pose_plan"},
    {"training", "convert", "runtime", "client"},
    {"metrics", "editing", "bench", "plots", "style_space", "translator"},
    {"widgets", "identity_grid", "cli", "commands", "notebooks", "__main__", "release", "bench_panel",
     "serve", "scale", "judging"},
]


def module_name(path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    if top == "__init__":
        return 0
    return next(i for i, names in enumerate(LAYERS) if top in names)


def imports(path):
    """(gan_lab module imported, line, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text())
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("gan_lab."):
                yield _existing(name), node.lineno, id(node) in nested


def _existing(name) -> str:
    """`gan_lab.data.mnist` for `from gan_lab.data import mnist`, `gan_lab.paths` for `from gan_lab.paths import x`."""
    while name.count(".") > 1 or name != "gan_lab":
        rel = Path(*name.split("."))
        if (PACKAGE.parent / rel).with_suffix(".py").exists() or (PACKAGE.parent / rel / "__init__.py").exists():
            return name
        name = name.rsplit(".", 1)[0]
    return name


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {m: {(i, line, inner) for i, line, inner in imports(p)} for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        assert layer(module) is not None, module


def test_imports_only_run_down_the_layers():
    upward = [f"{m} (layer {layer(m)}) imports {i} (layer {layer(i)}), line {line}"
              for m, edges in GRAPH.items() for i, line, _ in edges if layer(i) > layer(m)]
    assert not upward, "\n".join(upward)


def test_internal_imports_sit_at_the_top_of_modules():
    inner = [f"{m}:{line} imports {i} inside a function" for m, edges in GRAPH.items() for i, line, nested in edges
             if nested]
    assert not inner, "\n".join(inner)


def test_no_import_cycle():
    edges = {m: {i for i, _, _ in e if i in MODULES and i != m} for m, e in GRAPH.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in edges[m]:
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for module in MODULES:
        if module not in state:
            visit(module)


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from gan_lab.widgets import LatentExplorer\n")
    assert list(imports(bad)) == [("gan_lab.widgets", 2, True)]


@pytest.mark.subprocess
@pytest.mark.parametrize("code", ["import gan_lab, gan_lab.latent, gan_lab.recipe", "import gan_lab.cli",
                                  "import gan_lab.runtime, gan_lab.runtime.style, gan_lab.modelfolder, gan_lab.backends",
                                  "import gan_lab.scale, gan_lab.pose_plan, gan_lab.runtime.classifier"])
def test_light_entry_points_load_no_tensorflow(code):
    check = f"{code}; import sys; heavy = sorted({{'tensorflow', 'keras', 'openvino', 'onnxruntime'}} & set(sys.modules)); " \
            "print(heavy); assert not heavy"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
