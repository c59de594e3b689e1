"""Checker rules for type hints: the static twin of :mod:`._schema`.

The script is not run, so names are resolved from its imports and top-level
definitions. Names imported from the script's own helper modules cannot be
seen into and are accepted; the build then checks them for real.
"""

import ast

_SCALARS = frozenset({"str", "int", "float", "bool"})
_LISTS = frozenset({"list", "typing.List"})
_DICTS = frozenset({"dict", "typing.Dict"})
_ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.StrEnum", "enum.Flag", "enum.IntFlag"})
# Output field types the SDK serialises (as ISO 8601 strings and numbers).
_SERIALISED = frozenset({"datetime.datetime", "datetime.date", "datetime.time", "decimal.Decimal"})
_WRAPPERS = frozenset({"typing.Annotated", "typing.Required", "typing.NotRequired"})
_SUPPORTED = (
    "arguments take str, int, float, bool, list[T], dict[str, T], Optional[T], "
    "Literal[...] or an Enum class"
)
_SUPPORTED_OUTPUT = (
    "output fields take str, int, float, bool, list[T], dict[str, T], Optional[T], "
    "Literal[...], an Enum, a TypedDict, a dataclass, datetime, date, time, Decimal or Any"
)
_KIND_NAMES = {"typeddict": "TypedDict", "dataclass": "dataclass"}
_RESULTS = {"gateway_tool.Result", "gateway_tool.content.Result"}
_RETURN = "a tool returns a JSON object: annotate the return as a TypedDict, a dataclass or dict"


class Scope:
    """What the script's top-level names refer to."""

    def __init__(self, tree, local_module):
        self.aliases = {}  # name bound by an import -> dotted origin
        self.kinds = {}  # top-level name -> "enum", "typeddict", "dataclass", "class" or "alias"
        self.classes = {}  # name -> ClassDef
        self.alias_exprs = {}  # type alias name -> its expression
        self._local_module = local_module
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in tree.body:
            self._define(node)

    def _define(self, node):
        if isinstance(node, ast.ClassDef):
            self.classes[node.name] = node
            self.kinds[node.name] = self._class_kind(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self._define_value(node.targets[0].id, node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            if self.resolve(node.annotation) == "typing.TypeAlias":
                self._define_value(node.target.id, node.value)

    def _define_value(self, name, value):
        called = self.resolve(value.func) if isinstance(value, ast.Call) else None
        if called == "typing.TypedDict":
            self.kinds[name] = "typeddict"
        elif called in _ENUM_BASES:
            self.kinds[name] = "enum"
        elif called is None:
            self.kinds[name] = "alias"
            self.alias_exprs[name] = value

    def _class_kind(self, node):
        bases = [self.resolve(b) for b in node.bases]
        if any(b in _ENUM_BASES or self.kinds.get(b) == "enum" for b in bases):
            return "enum"
        if any(b == "typing.TypedDict" or self.kinds.get(b) == "typeddict" for b in bases):
            return "typeddict"
        for d in node.decorator_list:
            if self.resolve(d.func if isinstance(d, ast.Call) else d) == "dataclasses.dataclass":
                return "dataclass"
        return "class"

    def resolve(self, expr):
        """The dotted name ``expr`` refers to (``typing.List``, ``str``, ``Color``), or None."""
        if isinstance(expr, ast.Name):
            name = self.aliases.get(expr.id, expr.id)
        elif isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value)
            name = f"{base}.{expr.attr}" if base else None
        else:
            return None
        if name and name.startswith("typing_extensions."):
            name = "typing." + name[len("typing_extensions.") :]
        return name

    def kind(self, name):
        """The local kind of ``name``, ``"external"`` for a helper module's name, or None."""
        if name in self.kinds:
            return self.kinds[name]
        if "." in name and self._local_module(name.split(".")[0]):
            return "external"
        return None


class HintChecker:
    """Finds the hints the schema generator would reject."""

    def __init__(self, scope):
        self.scope = scope
        self._classes_done = set()
        self.class_problems = []  # (node, message) inside TypedDicts/dataclasses

    def argument(self, expr):
        """``(node, message)`` if ``expr`` cannot annotate an argument, else None."""
        return self._hint(expr, output=False, depth=0)

    def returns(self, expr):
        """``(node, message)`` if ``expr`` cannot be a tool's return type, else None."""
        target = _unquote(expr)
        if target is None:
            return expr, _RETURN
        if isinstance(target, ast.Subscript):
            if self.scope.resolve(target.value) in _RESULTS:
                # Result[T] (gateway_tool.content): the JSON is a T.
                return self._anchor(expr, self.returns(target.slice))
            if self.scope.resolve(target.value) in _DICTS:
                return self._anchor(expr, self._hint(target, output=True, depth=0))
            return expr, _RETURN
        name = self.scope.resolve(target)
        kind = self.scope.kind(name) if name else None
        if name in _DICTS or kind == "external":
            return None
        if kind in ("typeddict", "dataclass"):
            self._check_class(name)
            return None
        if kind == "alias":
            return self._anchor(expr, self.returns(self.scope.alias_exprs[name]))
        return expr, _RETURN

    def _hint(self, expr, output, depth):
        if depth > 20:  # an alias that refers to itself
            return expr, f"{ast.unparse(expr)} refers to itself"
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            inner = _unquote(expr)
            if inner is None:
                return expr, f"{expr.value!r} is not a valid type hint"
            return self._anchor(expr, self._hint(inner, output, depth + 1))
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            return self._union(expr, _or_members(expr), output, depth)
        if isinstance(expr, ast.Subscript):
            return self._generic(expr, output, depth)
        name = self.scope.resolve(expr)
        kind = self.scope.kind(name) if name else None
        if name in _SCALARS or name in _LISTS or name in _DICTS or kind in ("enum", "external"):
            return None
        if output and (name == "typing.Any" or name in _SERIALISED):
            return None
        if kind in ("typeddict", "dataclass"):
            if output:
                self._check_class(name)
                return None
            return expr, f"{name} (a {_KIND_NAMES[kind]}) can only be the return type; {_SUPPORTED}"
        if kind == "alias":
            return self._anchor(expr, self._hint(self.scope.alias_exprs[name], output, depth + 1))
        return expr, _unsupported(expr, output)

    def _generic(self, expr, output, depth):
        base = self.scope.resolve(expr.value)
        args = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
        if len(args) == 1 and (base in _LISTS or base == "typing.Optional"):
            return self._hint(args[0], output, depth + 1)
        if base in _DICTS and len(args) == 2:
            if self.scope.resolve(_unquote(args[0]) or args[0]) != "str":
                return args[0], "JSON object keys are strings; use dict[str, ...]"
            return self._hint(args[1], output, depth + 1)
        if base == "typing.Union":
            return self._union(expr, args, output, depth)
        if base == "typing.Literal":
            bad = next((a for a in args if not _is_literal_value(a)), None)
            return None if bad is None else (bad, "Literal values must be strings, numbers or booleans")
        if base in _WRAPPERS:
            return self._hint(args[0], output, depth + 1)
        return expr, _unsupported(expr, output)

    def _union(self, expr, members, output, depth):
        rest = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
        if len(rest) == 1 and len(members) == 2:
            return self._hint(rest[0], output, depth + 1)
        return expr, f"{ast.unparse(expr)}: a Union of several types is not supported; use one type or Optional[T]"

    def _check_class(self, name):
        if name in self._classes_done or name not in self.scope.classes:
            return
        self._classes_done.add(name)
        node = self.scope.classes[name]
        for base in node.bases:
            base_name = self.scope.resolve(base)
            if self.scope.kind(base_name or "") in ("typeddict", "dataclass"):
                self._check_class(base_name)
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if self._is_classvar(stmt.annotation):
                    continue
                problem = self._hint(stmt.annotation, output=True, depth=0)
                if problem:
                    self.class_problems.append(problem)

    def _is_classvar(self, expr):
        target = expr.value if isinstance(expr, ast.Subscript) else expr
        return self.scope.resolve(target) == "typing.ClassVar"

    @staticmethod
    def _anchor(expr, problem):
        # A problem inside a quoted hint or an alias is shown where it is used.
        return None if problem is None else (expr, problem[1])


def _unsupported(expr, output):
    return f"{ast.unparse(expr)} is not a supported type hint; {_SUPPORTED_OUTPUT if output else _SUPPORTED}"


def _unquote(expr):
    """The expression inside a string annotation, None if it does not parse; ``expr`` if not a string."""
    if not (isinstance(expr, ast.Constant) and isinstance(expr.value, str)):
        return expr
    try:
        return ast.parse(expr.value.strip(), mode="eval").body
    except SyntaxError:
        return None


def _or_members(expr):
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return _or_members(expr.left) + _or_members(expr.right)
    return [expr]


def _is_literal_value(expr):
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        expr = expr.operand
    return isinstance(expr, ast.Constant) and type(expr.value) in (str, int, float, bool)
