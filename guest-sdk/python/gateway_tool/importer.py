"""``gateway tool import``: a plain operator script in, a tool folder out.

Run on the build machine's Python; the script is parsed, never run::

    python3 -m gateway_tool.importer path/to/script.py [--function NAME]

Prints one JSON object: ``{"name", "files": [[relative_path, text], ...],
"notes": [...]}``; the gateway writes the files. What it works out from the
script's syntax tree:

- the upstreams: literal ``http(s)://`` URLs and the literal start of
  f-strings and ``+`` concatenations (module-level constants followed), one
  ``[[http]]`` entry per origin, its base a ``[config]`` key (so the
  deployment and ``gateway tool test`` can point it elsewhere) and its path
  prefix the longest one every URL shares;
- the secrets: environment variables read with ``os.environ[...]``,
  ``os.environ.get``, ``os.getenv`` (directly or through a variable), mapped
  to ``[http.secret_headers]`` with the header the script builds from them;
- the tool: the function named with ``--function``, else the top-level
  function with the most parameters, decorated with ``@tool``, with a
  docstring skeleton if it has none and type hints guessed from defaults
  where it has none;
- methods beyond GET/HEAD, which need an admin's approval.

Whatever it could not decide goes into ``notes`` (and IMPORT-NOTES.md).
"""

import ast
import json
import re
import sys
import urllib.parse
from pathlib import Path

_TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_WRITES = {"post", "put", "patch", "delete"}
_REQUEST_FUNCS = {"get", "head", "options", "request"} | _WRITES
# Guessed from a default value when a parameter has no hint.
_DEFAULT_HINTS = {bool: "bool", int: "int", float: "float", str: "str"}
_SECRETISH = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|AUTH", re.I)


class ImportProblem(Exception):
    """The script cannot be imported at all (no function, syntax error)."""


def import_script(source, script_name, function=None):
    """The tool folder for ``source``: ``(name, {path: text}, notes)``."""
    try:
        tree = ast.parse(source, filename=script_name)
    except SyntaxError as err:
        raise ImportProblem(f"{script_name}:{err.lineno}: {err.msg}") from None
    notes = []
    func = _pick_function(tree, function, notes)
    name = func.name.lower()
    if not _TOOL_NAME.match(name):
        raise ImportProblem(f"{func.name} is not a tool name: use lowercase letters, digits and _")
    consts = _module_strings(tree)
    env = _EnvReads(tree)
    upstreams = _upstreams(tree, consts, notes)
    headers = _secret_headers(tree, env, consts, notes)
    methods = _methods(tree)
    script = _rewrite(source, tree, func, notes)
    files = {
        "tool.toml": _manifest(name, upstreams, headers, methods, env, notes),
        f"scripts/{name}.py": script,
        "SKILL.md": _skill(name, func),
        "fixtures/routes.toml": _ROUTES,
        "fixtures/tests.toml": _tests(upstreams, env),
    }
    _module_level_requests(tree, notes)
    files["IMPORT-NOTES.md"] = _notes_file(name, script_name, notes)
    return name, files, notes


def _pick_function(tree, wanted, notes):
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if wanted:
        for f in funcs:
            if f.name == wanted:
                return f
        raise ImportProblem(f"no top-level function {wanted!r} (found: {', '.join(f.name for f in funcs) or 'none'})")
    candidates = [f for f in funcs if f.name != "main" and not f.name.startswith("_")] or funcs
    if not candidates:
        raise ImportProblem("the script has no top-level function to turn into the tool")

    def arity(f):
        return len(f.args.args) + len(f.args.kwonlyargs)

    best = max(candidates, key=arity)
    ties = [f.name for f in candidates if arity(f) == arity(best) and f is not best]
    if ties:
        notes.append(f"chose {best.name} as the tool; {', '.join(ties)} take as many parameters "
                     "(re-run with --function NAME to pick another)")
    return best


def _module_strings(tree):
    """Module-level ``NAME = "literal"`` (and f-string/concatenation prefixes)."""
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            prefix = _literal_prefix(node.value, consts)
            if prefix is not None:
                consts[node.targets[0].id] = prefix
    return consts


def _literal_prefix(node, consts):
    """The literal text an expression's value starts with, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.JoinedStr):
        text = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                text += part.value
            else:
                inner = _literal_prefix(part.value, consts)
                if inner is None:
                    return text
                text += inner
        return text
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _literal_prefix(node.left, consts)
        if left is None:
            return None
        right = _literal_prefix(node.right, consts)
        return left + (right or "")
    return None


class _EnvReads:
    """Environment variables the script reads, and the names bound to them."""

    def __init__(self, tree):
        self.vars = []
        self.names = {}
        for node in ast.walk(tree):
            var = env_var(node)
            if var and var not in self.vars:
                self.vars.append(var)
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                var = env_var(node.value)
                if var:
                    self.names[node.targets[0].id] = var

    def of(self, node):
        """The variable an expression reads, directly or through a name."""
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        return env_var(node)


def env_var(node):
    """``X`` for ``os.environ["X"]``, ``os.environ.get("X")``, ``os.getenv("X")``."""
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    if isinstance(node, ast.Call) and node.args:
        key = node.args[0]
        f = node.func
        getter = (isinstance(f, ast.Attribute) and f.attr == "get" and _is_environ(f.value)) or (
            isinstance(f, ast.Attribute) and f.attr == "getenv") or (isinstance(f, ast.Name) and f.id == "getenv")
        if getter and isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    return None


def _is_environ(node):
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _upstreams(tree, consts, notes):
    """``[(config_key, origin, path_prefix)]`` in first-seen order."""
    by_origin = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)):
            text = _literal_prefix(node, consts)
            if not text or not text.lower().startswith(("http://", "https://")):
                continue
            url = urllib.parse.urlsplit(text)
            if not url.hostname:
                continue
            origin = f"{url.scheme}://{url.netloc}"
            by_origin.setdefault(origin, []).append(url.path)
    if not by_origin:
        notes.append("found no literal http(s) URL: add an [[http]] entry for each API the tool calls")
    upstreams, keys = [], set()
    for origin, paths in by_origin.items():
        host = urllib.parse.urlsplit(origin).hostname
        labels = host.split(".")
        base = labels[-2] if len(labels) >= 2 else labels[0]
        key = re.sub(r"[^a-z0-9_]", "_", f"{base}_base".lower())
        while key in keys:
            key = f"{key}_2"
        keys.add(key)
        upstreams.append((key, origin, _common_dir(paths)))
    return upstreams


def _common_dir(paths):
    """The folder every path lies under (``/v1/`` for ``/v1/charges``, ``/v1``)."""
    split = [p.split("/")[1:] for p in paths if p.startswith("/")]
    if not split or len(split) != len(paths):
        return ""
    common = []
    for parts in zip(*[s[:-1] if len(s) > 1 else s for s in split]):
        if len(set(parts)) != 1 or not parts[0]:
            break
        common.append(parts[0])
    return "/" + "/".join(common) + "/" if common else ""


def _secret_headers(tree, env, consts, notes):
    """``{header_name: template}`` for headers built from environment variables."""
    found = {}

    def consider(key_node, value):
        if not (isinstance(key_node, ast.Constant) and isinstance(key_node.value, str)):
            return
        template = _template(value, env)
        if template is None:
            return
        header = key_node.value
        if header in found and found[header] != template:
            notes.append(f"{header} is built two ways ({found[header]!r}, {template!r}); kept the first")
            return
        found[header] = template

    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                consider(key, value)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            consider(node.targets[0].slice, node.value)
        elif isinstance(node, ast.keyword) and node.arg == "auth":
            used = [env.of(e) for e in ast.walk(node.value) if env.of(e)]
            if used:
                notes.append(
                    f"auth= sends {', '.join(dict.fromkeys(used))} as HTTP Basic credentials: the gateway "
                    "injects a header from a template, so bind Authorization = \"Basic ${VAR}\" with VAR "
                    "holding base64(user:password) on the gateway, and check tool.toml")
    return found


def _template(node, env):
    """``"Bearer ${VAR}"`` for a header value built from environment variables, else None."""
    var = env.of(node)
    if var:
        return f"${{{var}}}"
    if isinstance(node, ast.JoinedStr):
        parts, used = [], False
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(part.value)
            elif env.of(part.value) and part.format_spec is None:
                parts.append(f"${{{env.of(part.value)}}}")
                used = True
            else:
                return None
        return "".join(parts) if used else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left, env), _template(node.right, env)
        lit = lambda n: n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) else None  # noqa: E731
        if left is not None and (right is not None or lit(node.right) is not None):
            return left + (right if right is not None else lit(node.right))
        if right is not None and lit(node.left) is not None:
            return lit(node.left) + right
    return None


def _methods(tree):
    """Upper-case methods beyond GET/HEAD the script calls (``requests.post``, ``s.post``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in _WRITES and attr.upper() not in found:
                found.append(attr.upper())
            if attr == "request" and node.args and isinstance(node.args[0], ast.Constant):
                m = str(node.args[0].value).upper()
                if m not in ("GET", "HEAD") and m not in found:
                    found.append(m)
    return found


def _module_level_requests(tree, notes):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If)):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in _REQUEST_FUNCS \
                    and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "requests":
                notes.append(f"line {sub.lineno}: a request at module level runs while the tool is built, "
                             "where HTTP is not available: move it into a function")


def _rewrite(source, tree, func, notes):
    """The script with ``@tool``, a docstring skeleton and guessed hints."""
    lines = source.splitlines(keepends=True)
    start = (func.decorator_list[0].lineno if func.decorator_list else func.lineno) - 1
    body_line = func.body[0].lineno - 1
    if body_line < func.lineno:
        raise ImportProblem(f"line {func.lineno}: put the body of {func.name} on its own lines")
    indent = re.match(r"[ \t]*", lines[func.lineno - 1]).group(0)
    body_indent = re.match(r"[ \t]*", lines[body_line]).group(0) or indent + "    "
    doc = []
    if ast.get_docstring(func) is None:
        args = [a.arg for a in func.args.args + func.args.kwonlyargs]
        doc = [f'{body_indent}"""TODO: one line saying what {func.name} returns, for agents.\n']
        if args:
            doc += ["\n", f"{body_indent}Args:\n"]
            doc += [f"{body_indent}    {a}: TODO.\n" for a in args]
        doc.append(f'{body_indent}"""\n')
        notes.append(f"{func.name} had no docstring: fill in the skeleton (agents read it)")
    signature = _signature(func, notes)
    head = lines[func.lineno - 1:body_line] if signature is None else [f"{indent}{signature}\n"]
    decorators = lines[start:func.lineno - 1]
    lines[start:body_line] = [f"{indent}@tool\n"] + decorators + head + doc
    header = "from gateway_tool import tool  # added by gateway tool import\n"
    return _insert_import("".join(lines), tree, header)


def _signature(func, notes):
    """A new ``def`` line when hints are missing, else None (the original is kept)."""
    a = func.args
    missing = [x for x in a.args + a.kwonlyargs if x.annotation is None] or func.returns is None
    if not missing:
        return None
    defaults = dict(zip([x.arg for x in a.args][len(a.args) - len(a.defaults):], a.defaults))
    defaults.update({x.arg: d for x, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
    for arg in a.args + a.kwonlyargs:
        if arg.annotation is not None:
            continue
        default = defaults.get(arg.arg)
        hint = None
        if isinstance(default, ast.Constant):
            hint = _DEFAULT_HINTS.get(type(default.value))
            if default.value is None:
                hint = "Optional[str]"
        arg.annotation = ast.Name(hint or "str")
        how = f"from its default {ast.unparse(default)}" if hint else "as a guess"
        notes.append(f"{func.name}({arg.arg}): no type hint; wrote {hint or 'str'} {how}: check it")
    if func.returns is None:
        func.returns = ast.Name("dict")
        notes.append(f"{func.name}: no return type; wrote dict (a TypedDict documents the output better)")
    copy = ast.FunctionDef(func.name, func.args, [ast.Pass()], [], func.returns, None, type_params=[]) \
        if sys.version_info >= (3, 12) else ast.FunctionDef(func.name, func.args, [ast.Pass()], [], func.returns, None)
    return ast.unparse(ast.fix_missing_locations(copy)).splitlines()[0]


def _insert_import(text, tree, line):
    """``line`` after the module docstring and ``__future__`` imports."""
    lines = text.splitlines(keepends=True)
    at = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if is_doc and node is tree.body[0] or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            at = node.end_lineno
            continue
        break
    needs_optional = "Optional[str]" in text and not re.search(r"\bimport\b.*\bOptional\b", text)
    extra = "from typing import Optional  # added by gateway tool import\n" if needs_optional else ""
    return "".join(lines[:at]) + ("\n" if at else "") + extra + line + "".join(lines[at:]).lstrip("\n")


def _toml_str(text):
    return json.dumps(text)


def _manifest(name, upstreams, headers, methods, env, notes):
    out = [f"name = {_toml_str(name)}", 'version = "0.1.0"', ""]
    if upstreams:
        out.append("[config]")
        out.append("# The APIs' bases: a deployment (or `gateway tool test`) may point them elsewhere;")
        out.append("# URLs the script writes literally follow (docs/python-tools.md).")
        out += [f"{key} = {_toml_str(origin)}" for key, origin, _ in upstreams]
        out.append("")
    bound = set()
    for i, (key, origin, prefix) in enumerate(upstreams):
        out.append("[[http]]")
        out.append(f"url = {_toml_str('${config.' + key + '}' + prefix.rstrip('/'))}")
        out.append('methods = ["GET", "HEAD"]')
        if methods:
            out.append(f"# The script also sends {', '.join(methods)}: an admin who agrees adds them here")
            out.append(f"# with approved_by = \"<their email>\" (methods = [\"GET\", \"HEAD\", {', '.join(map(_toml_str, methods))}]).")
        if headers and (i == 0 or _owns(origin, headers)):
            if i > 0 or len(upstreams) > 1:
                notes.append(f"the secret headers are attached to {origin}: check each goes only to its API")
            out.append("")
            out.append("[http.secret_headers]")
            for header, template in headers.items():
                out.append(f"{_toml_str(header)} = {_toml_str(template)}")
                bound.update(re.findall(r"\$\{(\w+)\}", template))
            headers = {}
        out.append("")
    if methods:
        notes.append(f"the script sends {', '.join(methods)}: tool.toml allows GET and HEAD only until "
                     "an admin approves more (see the comment in tool.toml)")
    for var in env.vars:
        if var in bound:
            continue
        if _SECRETISH.search(var):
            notes.append(f"{var} is read but not seen in a header: if it is a credential, add it to "
                         "[http.secret_headers] with the header the API expects")
        else:
            notes.append(f"{var} is read from the environment, which is empty in the sandbox: "
                         "move it to tool.toml [config] and read it with gateway_tool.config")
    return "\n".join(out).rstrip("\n") + "\n"


def _owns(origin, headers):
    host = urllib.parse.urlsplit(origin).hostname or ""
    return any(label.upper() in " ".join(headers.values()) for label in host.split(".")[:-1] if len(label) > 3)


def _skill(name, func):
    doc = (ast.get_docstring(func) or "").strip().splitlines()
    summary = doc[0] if doc else f"TODO: what {name} answers, in one line"
    return (
        f"---\nname: {name}\ndescription: {json.dumps(summary)}\n---\n\n# {name}\n\n"
        "## When to use it\n\nTODO: the questions this tool answers, and when another tool fits better.\n\n"
        "## How to read the output\n\nTODO: what each field means in this business.\n"
    )


_ROUTES = """\
# Recorded upstream answers for `gateway tool test` (docs/python-tools.md):
# [[route]]
# path = "/v1/items"
# file = "items.json"
"""


def _tests(upstreams, env):
    keys = ", ".join(_toml_str(k) for k, _, _ in upstreams)
    out = [f"upstream_config = [{keys}]", ""]
    if env.vars:
        out.append("[secrets]")
        out += [f"{v} = \"test-{v.lower()}\"" for v in env.vars]
        out.append("")
    out += ["# [[case]]", "# name = \"...\"", "# input = { ... }", "# [case.expect]", "# field = 1"]
    return "\n".join(out) + "\n"


def _notes_file(name, script_name, notes):
    body = "\n".join(f"- {n}" for n in notes) or "- nothing: every host, secret and hint was found"
    return (f"# Importing {script_name} as {name}\n\nWhat `gateway tool import` could not decide "
            f"(check each, then delete this file):\n\n{body}\n")


def main(argv=None):
    """Command line entry: import one script, print JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    function = None
    if "--function" in args:
        i = args.index("--function")
        if i + 1 >= len(args):
            print("--function needs a name", file=sys.stderr)
            return 2
        function = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print("usage: python3 -m gateway_tool.importer script.py [--function NAME]", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        print(f"cannot read {path}: {err}", file=sys.stderr)
        return 2
    try:
        name, files, notes = import_script(source, path.name, function)
    except ImportProblem as err:
        print(json.dumps({"error": str(err)}))
        return 1
    print(json.dumps({"name": name, "files": sorted(files.items()), "notes": notes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
