"""Every environment variable ftproxy reads or sets is named once, in ftproxy/environment.py.

An `ast` scan of ftproxy/ finds each access to the environment (`os.environ[...]`, `.get`,
`.pop`, `.setdefault`, `in os.environ`, `os.getenv`, and the same on a parameter typed
`Mapping[str, str]`, the environment handed in for tests) and requires its key to be a constant
imported from ftproxy.environment; a string that spells one of ours (FTPROXY_…, AICORE_…, or any
indexed name) anywhere else in the code is refused too. docs/configuration.md lists every one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ftproxy import environment

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ftproxy"
INDEX = PACKAGE / "environment.py"
# The simulator is a stand-alone test double of SAP AI Core: it reads no variable of ftproxy's.
SKIPPED = (PACKAGE / "simulator",)
# Files another change owns that still name a variable themselves; each must still break the rule
# (strict xfail), so the entry goes as soon as the file uses the index.
# Reads whose name is data, not code: `${NAME}` in a routing YAML's command, expanded from the
# instance's own environment as systemd and Kubernetes do.
DYNAMIC = {("ftproxy/deploy/model.py", "m.group(1)")}
OURS = re.compile(r"^(FTPROXY|AICORE)_[A-Z0-9_]+$")
NAMES = {v.name for v in environment.VARIABLES}
_ACCESSORS = {"get", "pop", "setdefault"}


def _sources() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p != INDEX and not any(p.is_relative_to(s) for s in SKIPPED)
    )


def _index_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names imported from ftproxy.environment, and the aliases the module itself has for it."""
    names, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "ftproxy.environment":
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "ftproxy":
            modules |= {a.asname or a.name for a in node.names if a.name == "environment"}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "ftproxy.environment"}
    return names, modules


def _environment_params(tree: ast.Module) -> set[str]:
    """Parameters that are an environment (`env`/`environ: Mapping[str, str]`), e.g. config_env's."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in (*node.args.args, *node.args.kwonlyargs):
                typed = arg.annotation is not None and "Mapping[str, str]" in ast.unparse(arg.annotation)
                if typed and arg.arg in ("env", "environ"):
                    found.add(arg.arg)
    return found


def _is_environ(node: ast.expr, params: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id in params


def _keys(tree: ast.Module) -> list[tuple[int, ast.expr]]:
    """(line, key expression) of every access to the environment in one module."""
    params = _environment_params(tree)
    keys: list[tuple[int, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_environ(node.value, params):
            keys.append((node.lineno, node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            getenv = func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"
            if getenv or (func.attr in _ACCESSORS and _is_environ(func.value, params)):
                keys.append((node.lineno, node.args[0]))
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and _is_environ(node.comparators[0], params)
        ):
            keys.append((node.lineno, node.left))
    return keys


def _strings(tree: ast.Module) -> list[tuple[int, str]]:
    """String constants in code that spell a variable (docstrings and f-string text excluded:
    they only mention one)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and (OURS.match(node.value) or node.value in NAMES)
    ]


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names, modules = _index_names(tree)
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
    found = []
    for line, key in _keys(tree):
        if isinstance(key, ast.Name) and key.id in names:
            continue
        if isinstance(key, ast.Attribute) and isinstance(key.value, ast.Name) and key.value.id in modules:
            continue
        if isinstance(key, ast.Name) and key.id in {"key", "name"} and _iterates_index(tree, key.id):
            continue
        if (str(where), ast.unparse(key)) in DYNAMIC:
            continue
        found.append(
            f"{where}:{line}: reads the environment with {ast.unparse(key)}, not a name from the index"
        )
    for line, text in _strings(tree):
        found.append(f"{where}:{line}: {text!r} spelled out: import it from ftproxy.environment")
    return found


def _iterates_index(tree: ast.Module, variable: str) -> bool:
    """`for name in (A, B)` / a comprehension over index names: the loop variable is one of them."""
    names, _ = _index_names(tree)
    for node in ast.walk(tree):
        target, source = None, None
        if isinstance(node, ast.For | ast.comprehension):
            target, source = node.target, node.iter
        if isinstance(target, ast.Name) and target.id == variable and source is not None:
            elements = [e.value if isinstance(e, ast.Starred) else e for e in getattr(source, "elts", [])]
            if elements and all(_from_index(e, names, tree) for e in elements):
                return True
    return False


def _from_index(node: ast.expr, names: set[str], tree: ast.Module) -> bool:
    """An index name, or a module-level tuple/dict of index names (config_env's `_SEPARATE`)."""
    if isinstance(node, ast.Name) and node.id in names:
        return True
    if isinstance(node, ast.Name):
        for statement in tree.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == node.id for t in statement.targets
            ):
                value = statement.value
                elements = value.keys if isinstance(value, ast.Dict) else getattr(value, "elts", [])
                return bool(elements) and all(isinstance(e, ast.Name) and e.id in names for e in elements)
    return False


def test_every_module_reads_the_environment_through_the_index() -> None:
    found = [v for p in _sources() for v in violations(p)]
    assert not found, "\n".join(found)


def test_the_scan_sees_each_way_of_reading(tmp_path: Path) -> None:
    """Not a no-op: a literal, a local constant, getenv, `in`, a Mapping parameter are each caught."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\nfrom collections.abc import Mapping\nfrom ftproxy.environment import FTPROXY_CONFIG\n"
        "LOCAL = 'SOMETHING'\n"
        "a = os.environ.get('HOME')\nb = os.environ[LOCAL]\nc = os.getenv('X')\nd = 'Y' in os.environ\n"
        "def f(env: Mapping[str, str]) -> str | None:\n    return env.get('Z')\n"
        "e = os.environ.get(FTPROXY_CONFIG)\nf2 = {'FTPROXY_NEW': 1}\n"
    )
    found = violations(probe)
    assert {int(v.split(":")[1]) for v in found} == {5, 6, 7, 8, 10, 12}, found


def test_the_index_names_each_variable_once_by_its_own_name() -> None:
    constants = {
        name: value
        for name, value in vars(environment).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }
    assert all(name == value for name, value in constants.items())
    listed = [v.name for v in environment.VARIABLES]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(constants.values())
    assert all(v.read_by and v.why for v in environment.VARIABLES)


def test_the_configuration_doc_lists_every_variable() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    assert environment.markdown_table() in doc, "run `python -m ftproxy.environment` and paste the table"
