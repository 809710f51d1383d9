"""The layer order of docs/architecture.md, read from the imports (ast) of every module of panoptic_ros:

- an import points down the order or stays inside its own subpackage (peers on one level do not import each
  other), so no import cycle between subpackages can form;
- nothing below cli/ imports cli, and only cli/ and bench/ (whose benchmarks are command modules run by
  `panoptic bench`) use argparse;
- rclpy, ROS messages and rosbags are imported in ros/ only (cli/ may reach them inside a function);
- imports of panoptic_ros modules sit at the top of a module (cli/ may import inside run() for start-up speed).

KNOWN_* list what other sessions are still moving (runtime/, export/, bench/contention.py, bench/model.py,
bench/runtimes.py);
an entry that no longer occurs fails too, so the lists only shrink.
"""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "panoptic_ros"

# Ground first; a module may import from its own subpackage and from lower levels only.
LAYERS = (
    ("registry", "utils"),
    ("config",),
    ("data",),
    ("modeling",),
    ("panoptic",),
    ("export",),
    ("runtime",),
    ("pipeline",),
    ("tracking", "geometry", "visualization"),
    ("stream",),
    ("evaluation",),
    ("engine",),
    ("bench",),
    ("msg",),
    ("ros",),
    ("cli",),
)
ROS_MODULES = ("rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "builtin_interfaces",
               "rosidl_runtime_py", "rosbags", "launch", "launch_ros", "visualization_msgs", "rcl_interfaces",
               "lifecycle_msgs", "message_filters", "cv_bridge")
ARGPARSE_UNITS = ("cli", "bench")
LAZY_UNITS = ("cli",)

# (importing module, imported module): upward imports another session is still removing (none left: add an
# entry only with its owner's name and a date, and remove it in the same round)
KNOWN_UPWARD: set[tuple[str, str]] = set()
# modules outside cli/ and bench/ still using argparse (none left)
KNOWN_ARGPARSE: set[str] = set()
# modules outside cli/ still importing panoptic_ros modules inside functions (none left)
KNOWN_LAZY: set[str] = set()


class Import:
    """One import statement's target as a module path, where it is and whether it runs at module load."""

    def __init__(self, source: str, target: str, line: int, top: bool):
        self.source, self.target, self.line, self.top = source, target, line, top

    def __repr__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import in the file (module level and inside functions), relative ones resolved."""
    source = module_name(path, root)
    package = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(source, a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            found += [Import(source, t, node.lineno, id(node) in top) for t in targets]
    return found


def unit(module: str) -> str:
    """The subpackage (or top-level module) of panoptic_ros a module belongs to; '' for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def all_imports(root: Path = PKG) -> list[Import]:
    return [imp for path in sorted(root.rglob("*.py")) for imp in imports_of(path, root)]


def level_of(layers=LAYERS) -> dict[str, int]:
    return {name: i for i, names in enumerate(layers) for name in names}


def upward_imports(imports: list[Import], layers=LAYERS) -> list[Import]:
    """Imports of another panoptic_ros subpackage that is not on a lower level (peers included)."""
    level = level_of(layers)
    bad = []
    for imp in imports:
        if not imp.target.startswith("panoptic_ros.") or imp.target == "panoptic_ros":
            continue
        a, b = unit(imp.source), unit(imp.target)
        if a and b and a != b and level[b] >= level[a]:
            bad.append(imp)
    return bad


def cycles(imports: list[Import], skip: set = frozenset()) -> list[list[str]]:
    """Strongly connected groups (more than one subpackage) of the subpackage import graph (Tarjan)."""
    graph = defaultdict(set)
    for imp in imports:
        a, b = unit(imp.source), unit(imp.target) if imp.target.startswith("panoptic_ros.") else ""
        if a and b and a != b and (imp.source, imp.target) not in skip:
            graph[a].add(b)
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(list(graph)):
        if node not in index:
            visit(node)
    return groups


def ros_imports(imports: list[Import]) -> list[Import]:
    """ROS imports outside ros/ (cli/ may import them inside a function, e.g. `panoptic bag`)."""
    bad = []
    for imp in imports:
        where = unit(imp.source)
        ros = imp.target.split(".")[0] in ROS_MODULES or imp.target.startswith("panoptic_ros.msg")
        if ros and where not in ("ros", "msg") and not (where == "cli" and not imp.top):
            bad.append(imp)
    return bad


def argparse_users(imports: list[Import]) -> set[str]:
    return {imp.source for imp in imports if imp.target == "argparse" and unit(imp.source) not in ARGPARSE_UNITS}


def namespace_parameters(root: Path = PKG) -> list[str]:
    """Functions outside cli/ and bench/ with a parameter annotated as an argparse Namespace."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        if unit(module) in ARGPARSE_UNITS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs:
                    if arg.annotation is not None and "Namespace" in ast.unparse(arg.annotation):
                        bad.append(f"{module}.{node.name}({arg.arg})")
    return bad


def lazy_users(imports: list[Import]) -> set[str]:
    return {imp.source for imp in imports if not imp.top and imp.target.startswith("panoptic_ros")
            and unit(imp.source) not in LAZY_UNITS}


# ------------------------------------------------------------------------------------------------- the rules
@pytest.fixture(scope="module")
def imports():
    return all_imports()


def test_every_subpackage_has_a_level():
    units = {unit(module_name(p, PKG)) for p in PKG.rglob("*.py")} - {""}
    missing = units - set(level_of())
    assert not missing, f"place {sorted(missing)} in LAYERS here and in docs/architecture.md"
    documented = (ROOT / "docs" / "architecture.md").read_text()
    assert all(f"`{name}`" in documented for names in LAYERS for name in names)


def test_imports_point_down_the_layers(imports):
    bad = [imp for imp in upward_imports(imports) if (imp.source, imp.target) not in KNOWN_UPWARD]
    assert not bad, "imports pointing up (or to a peer on the same level):\n" + "\n".join(map(repr, bad))
    stale = KNOWN_UPWARD - {(imp.source, imp.target) for imp in upward_imports(imports)}
    assert not stale, f"fixed, remove from KNOWN_UPWARD: {sorted(stale)}"


def test_no_import_cycle_between_subpackages(imports):
    assert cycles(imports, skip=KNOWN_UPWARD) == []


def test_rclpy_ros_messages_and_rosbags_only_in_ros(imports):
    bad = ros_imports(imports)
    assert not bad, "ROS imports outside panoptic_ros/ros:\n" + "\n".join(map(repr, bad))


def test_argparse_only_in_the_command_layers(imports):
    users = argparse_users(imports)
    assert users <= KNOWN_ARGPARSE, f"argparse outside cli/ and bench/: {sorted(users - KNOWN_ARGPARSE)}"
    assert not KNOWN_ARGPARSE - users, f"fixed, remove from KNOWN_ARGPARSE: {sorted(KNOWN_ARGPARSE - users)}"
    assert namespace_parameters() == []


def test_package_imports_sit_at_module_level(imports):
    users = lazy_users(imports)
    assert users <= KNOWN_LAZY, ("panoptic_ros imports inside functions (move them to the top; a cycle they "
                                 f"dodged means a layer is wrong): {sorted(users - KNOWN_LAZY)}")
    assert not KNOWN_LAZY - users, f"fixed, remove from KNOWN_LAZY: {sorted(KNOWN_LAZY - users)}"


# ----------------------------------------------------------------------------------- the checks can fail
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "panoptic_ros"
    for rel, text in {"__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for folder in {(root / rel).parent for rel in files}:
        (folder / "__init__.py").touch()
    return root


def test_the_checks_catch_violations(tmp_path):
    root = _package(tmp_path, {
        "modeling/model.py": "def predict():\n    from ..pipeline.pipeline import run\n",   # up, lazy
        "pipeline/pipeline.py": "from panoptic_ros.modeling.model import predict\nimport rclpy\n",
        "engine/loop.py": "import argparse\n\ndef run(args: argparse.Namespace):\n    pass\n",
        "cli/main.py": "def run():\n    import rclpy\n",
    })
    found = all_imports(root)
    up = ["panoptic_ros.modeling.model:2 -> panoptic_ros.pipeline.pipeline"]
    assert [repr(i) for i in upward_imports(found)] == up
    assert cycles(found) == [["modeling", "pipeline"]]
    assert [repr(i) for i in ros_imports(found)] == ["panoptic_ros.pipeline.pipeline:2 -> rclpy"]
    assert argparse_users(found) == {"panoptic_ros.engine.loop"}
    assert namespace_parameters(root) == ["panoptic_ros.engine.loop.run(args)"]
    assert lazy_users(found) == {"panoptic_ros.modeling.model"}
    peers = _package(tmp_path / "peers", {"tracking/a.py": "from panoptic_ros.geometry import b\n",
                                          "geometry/b.py": ""})
    assert len(upward_imports(all_imports(peers))) == 1
