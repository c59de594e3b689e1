"""Checker rules for imports: what the tool sandbox's Python can load."""

import ast
import os
import pathlib
import sys

#: The CPython inside componentize-py 0.25.1, which runs the tool.
SANDBOX_PYTHON = "3.14"

# Modules that need sockets, processes, threads or native code: the sandbox
# has none of them, and HTTP goes through gateway_tool.http instead.
NETWORK_PROCESS = frozenset({
    "socket", "ssl", "subprocess", "multiprocessing", "threading", "_thread",
    "asyncio", "concurrent", "urllib.request", "http.client", "http.server",
    "socketserver", "xmlrpc", "ftplib", "smtplib", "poplib", "imaplib",
    "select", "selectors", "signal", "ctypes", "webbrowser",
})
# Standard modules missing from the sandbox's CPython: native parts it was
# built without, and modules removed from Python by 3.14.
UNAVAILABLE = frozenset({
    "bz2", "curses", "fcntl", "grp", "lzma", "mmap", "msvcrt", "nt", "pty",
    "pwd", "readline", "resource", "syslog", "termios", "tkinter", "tty",
    "turtle", "winreg", "winsound",
    "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt",
    "distutils", "imghdr", "imp", "lib2to3", "mailcap", "msilib", "nis",
    "nntplib", "ossaudiodev", "pipes", "smtpd", "sndhdr", "spwd", "sunau",
    "telnetlib", "uu", "xdrlib",
})
# Standard modules newer than the Python running the checker.
_NEWER_STDLIB = frozenset({"annotationlib", "compression"})
# Environment variable naming the folder of the tool's requirements.txt packages.
PACKAGES_ENV = "GATEWAY_TOOL_PACKAGES"
# Present in every tool component besides the standard library.
_ALWAYS = frozenset({"gateway_tool", "wit_world", "componentize_py_types", "requests"})
# The SDK's requests shim (gateway_tool._requests) has these modules only.
REQUESTS_MODULES = frozenset({"requests", "requests.exceptions", "requests.auth", "requests.structures"})


def imported_modules(tree):
    """``(node, module, inside_function)`` for every import, in source order.

    ``from a import b`` yields ``a`` and, when ``a.b`` is a module this
    checker knows about, ``a.b`` too.
    """
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child, alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                module = "." * child.level + (child.module or "")
                found.append((child, module, in_function))
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    if child.level == 0 and full in NETWORK_PROCESS:
                        found.append((child, full, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def import_problems(tree, script_dir):
    """``(node, code, message)`` for each import that will not work in the sandbox.

    Imports inside functions are fine: the sandbox gives each call a
    read-only view of the standard library, the script's folder and the
    tool's packages, so a lazy import loads as it does on a laptop.
    """
    problems = []
    for node, module, _in_function in imported_modules(tree):
        message = _module_problem(module, script_dir, node)
        if message:
            problems.append((node, "forbidden-import", message))
    return problems


def _packages_dir():
    """The tool's installed ``requirements.txt`` packages (set by ``gateway tool build``)."""
    path = os.environ.get(PACKAGES_ENV)
    return pathlib.Path(path) if path else None


def is_package(name):
    """Whether ``name`` is a top-level module of the tool's own packages."""
    packages = _packages_dir()
    if packages is None:
        return False
    return (packages / f"{name}.py").is_file() or (packages / name).is_dir()


def _module_problem(module, script_dir, node):
    if module.startswith("."):
        return (
            f"relative import ({ast.unparse(node)}): a tool script is not part of a package; "
            "import a helper file beside it by its name (import helpers)"
        )
    parts = module.split(".")
    top = parts[0]
    if any(".".join(parts[:i]) in NETWORK_PROCESS for i in range(1, len(parts) + 1)):
        return (
            f"{module} cannot work here: tools run in a sandbox without sockets, "
            "processes or threads; make HTTP requests with gateway_tool.http "
            "(from gateway_tool import http)"
        )
    if top == "requests" and module not in REQUESTS_MODULES:
        return (
            f"{module} is not part of the gateway's requests shim (it has "
            f"{', '.join(sorted(REQUESTS_MODULES))}); retries, adapters and pools are the "
            "gateway's business: drop this import"
        )
    if top in UNAVAILABLE:
        return f"{module} is not available in the tool sandbox (Python {SANDBOX_PYTHON} without it)"
    if top in sys.stdlib_module_names or top in _NEWER_STDLIB or top in _ALWAYS:
        return None
    if is_local_module(top, script_dir) or is_package(top):
        return None
    return (
        f"{module} is not available: the tool sandbox has the Python standard "
        "library, gateway_tool, the script's own folder and the pure-Python packages "
        "pinned in the tool's requirements.txt; use gateway_tool.http for HTTP"
    )


def is_local_module(name, script_dir):
    """Whether ``name`` is a module in the script's own folder (``name.py`` or a package).

    ``script_dir`` is the folder, or the set of module names in it (how the
    sandboxed checker, which cannot see the folder, is told), or None.
    """
    if script_dir is None:
        return False
    if isinstance(script_dir, (set, frozenset)):
        return name in script_dir
    return (script_dir / f"{name}.py").is_file() or (script_dir / name / "__init__.py").is_file()
