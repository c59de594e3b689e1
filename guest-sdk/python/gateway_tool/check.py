"""Static checks of a tool script, before the slow component build.

The script is parsed, not run. ``gateway tool build`` runs these checks
inside the sandbox (a checker component built once with componentize-py;
see ``_checker_tool``), so the syntax and the standard library are the
sandbox's Python's. They also run on the build machine's Python (3.11 or
newer), which cannot parse syntax newer than itself::

    python3 -m gateway_tool.check scripts/my_tool.py

Prints a JSON list of ``{"file", "line", "column", "code", "message"}``
(line and column 1-based) and exits 1 if there is any, else prints ``[]`` and
exits 0. Codes:

``syntax``
    The script does not parse.
``no-tool`` / ``multiple-tools``
    A script has exactly one ``@tool`` function.
``missing-docstring``
    The tool function's docstring is the description agents read.
``missing-annotation``
    A tool argument or the return value has no type hint.
``unsupported-annotation``
    A type hint the schema generator cannot turn into JSON Schema.
``unsupported-parameter``
    ``*args``, ``**kwargs`` or positional-only arguments.
``forbidden-import``
    A module the sandbox cannot load: network, process or thread modules,
    modules missing from its Python, packages that are neither in the
    standard library nor pinned in the tool's requirements.txt (``requests``
    is allowed: the SDK's shim, with ``requests.exceptions``, ``.auth`` and
    ``.structures``), and relative imports.
"""

import ast
import dataclasses
import json
import sys
from pathlib import Path

from ._check_hints import HintChecker, Scope
from ._check_imports import SANDBOX_PYTHON, import_problems, is_local_module

_SANDBOX_VERSION = tuple(int(part) for part in SANDBOX_PYTHON.split("."))


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One problem, at a 1-based line and column."""

    file: str
    line: int
    column: int
    code: str
    message: str


def check_file(path):
    """Diagnostics for the script at ``path`` (its folder holds its helper modules)."""
    path = Path(path)
    return check_source(path.read_bytes(), str(path), path.resolve().parent)


def check_source(source, filename="<script>", script_dir=None):
    """Diagnostics for script text (str or bytes), sorted by position.

    ``script_dir`` is the script's folder, or the set of module names in it.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as err:
        message = err.msg or "invalid syntax"
        if sys.version_info[:2] < _SANDBOX_VERSION:
            message += (f" (checked with Python {sys.version_info[0]}.{sys.version_info[1]}; the "
                        f"sandbox runs {SANDBOX_PYTHON}: `gateway tool build` checks with its Python)")
        return [Diagnostic(filename, err.lineno or 1, err.offset or 1, "syntax", message)]
    except ValueError as err:  # e.g. a NUL byte
        return [Diagnostic(filename, 1, 1, "syntax", str(err))]
    found = []

    def report(node, code, message):
        found.append(Diagnostic(filename, node.lineno, node.col_offset + 1, code, message))

    for node, code, message in import_problems(tree, script_dir):
        report(node, code, message)
    scope = Scope(tree, lambda name: is_local_module(name, script_dir))
    tools = _tool_functions(tree, scope)
    if not tools:
        found.append(Diagnostic(filename, 1, 1, "no-tool", _NO_TOOL))
    for extra in tools[1:]:
        report(extra, "multiple-tools", f"a script has exactly one @tool function; {tools[0].name} "
               f"(line {tools[0].lineno}) already is it: drop @tool here or move it to its own tool")
    hints = HintChecker(scope)
    for func in tools:
        _check_function(func, hints, report)
    for node, message in hints.class_problems:
        report(node, "unsupported-annotation", message)
    return sorted(set(found), key=lambda d: (d.line, d.column, d.code, d.message))


_NO_TOOL = (
    "no @tool function: decorate the tool's function with @tool "
    "(from gateway_tool import tool)"
)


def _tool_functions(tree, scope):
    def is_tool(decorator):
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return scope.resolve(target) == "gateway_tool.tool"

    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return sorted((f for f in funcs if any(map(is_tool, f.decorator_list))), key=lambda f: f.lineno)


def _check_function(func, hints, report):
    doc = ast.get_docstring(func)
    if not (doc or "").strip():
        report(func, "missing-docstring", f"{func.name} needs a docstring: it is the description "
               "agents read (add an Args: section describing each argument)")
    a = func.args
    for arg in a.posonlyargs + ([a.vararg] if a.vararg else []) + ([a.kwarg] if a.kwarg else []):
        report(arg, "unsupported-parameter", f"{arg.arg}: tool arguments are named JSON properties; "
               "list each argument by name (no *args, **kwargs or positional-only arguments)")
    for arg in a.args + a.kwonlyargs:
        if arg.annotation is None:
            report(arg, "missing-annotation", f"argument {arg.arg} needs a type hint "
                   "(e.g. str, int, list[str]); it becomes the input schema")
            continue
        problem = hints.argument(arg.annotation)
        if problem:
            report(problem[0], "unsupported-annotation", f"argument {arg.arg}: {problem[1]}")
    if func.returns is None:
        report(func, "missing-annotation", f"{func.name} needs a return type hint: a TypedDict, "
               "a dataclass or dict (it becomes the output schema)")
    else:
        problem = hints.returns(func.returns)
        if problem:
            report(problem[0], "unsupported-annotation", f"return type: {problem[1]}")


def main(argv=None):
    """Command line entry: check one script, print JSON, exit 1 on any diagnostic."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python3 -m gateway_tool.check path/to/script.py", file=sys.stderr)
        return 2
    try:
        diagnostics = check_file(args[0])
    except OSError as err:
        print(f"cannot read {args[0]}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(json.dumps([dataclasses.asdict(d) for d in diagnostics], indent=2))
    return 1 if diagnostics else 0


if __name__ == "__main__":
    sys.exit(main())
