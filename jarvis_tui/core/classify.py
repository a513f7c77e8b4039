"""Query classification and the code / maths / reasoning detector behind it.

One detector answers "does this query contain code?", "is it maths?" and "does it ask
for reasoning?" for everything here: :func:`classify_query` (the trace store's class
index, the miner, the policies), :func:`~jarvis_tui.learning.router.build_routing_context`
and the routers. The classes and their order are OpenJarvis's (``code``, then ``math``,
then ``short`` under 50 characters, ``long`` over 500, else ``general``).

Differences from the reference, on purpose: OpenJarvis's ``classify_query`` looks for
ten keywords (``def``, ``class``, ``import``, ``solve``, ``compute``...), so
``for i in range(10): print(i)``, ``SELECT name FROM users``, a traceback, "Find the
derivative of sin(x)" or ``3*(4+5)`` are "short"/"general" there, while "my yoga class
is at six" is code. Here each signal is a *probe* for something a user would recognise
— a loop header, a SQL statement, a call, an equation, a maths word used as maths
("integral of", not "an integral part of") — see the tables below.

How it stays fast (``classify_query`` runs as an SQL function over every trace once):
every probe has *keys* that each of its matches contains — a whole word (``def``,
``select``, ``probability``), a punctuation character (``(``, ``=``, `````), or, for
a few, a substring. The lower-cased query is split into its words and its punctuation
with ``bytes.translate`` / ``split`` / set intersection (all in C); only probes whose
key is there run, a single word probe (``python``) is decided by the intersection
alone, and each regex starts with a literal so that ``re`` scans for it instead of
trying every position. A plain English query runs no regex at all. Regexes run on the
text with its ASCII letters lower-cased (and are written in lower case) unless the probe
is case-sensitive (``SELECT ... FROM``, ``class Foo:``); everything is ``re.ASCII``. A
property test checks this fast path against running every probe.
"""

from __future__ import annotations

import functools
import re
import string
from typing import NamedTuple

QUERY_CLASSES: tuple[str, ...] = ("code", "math", "short", "long", "general")

CLASSIFIER_VERSION = 2
"""Bumped whenever :func:`classify_query` can answer differently for the same text
(1: the reference's two regexes; 2: this detector). A store that caches classes can
compare it with the version it classified with."""

SHORT_QUERY_CHARS = 50
LONG_QUERY_CHARS = 500

_KIND_BIT = {"code": 1, "math": 2, "reasoning": 4}
_WORD = string.ascii_letters + string.digits + "_"
"""``\\w`` under ``re.ASCII``."""
_WORD_RE = re.compile(r"[a-z0-9_]+")


class _LazyRegex:
    """A pattern compiled on its first search: compiling all ~400 probes costs 0.15 s
    (more under load), and a process that classifies nothing (the UI's first frame)
    should not pay it. ``pattern`` and ``flags`` read as on ``re.Pattern``."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = re.ASCII) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        rx = self._compiled
        if rx is None:
            rx = self._compiled = re.compile(self.pattern, self.flags)
        return rx

    def search(self, text: str) -> re.Match[str] | None:
        return (self._compiled or self.compiled()).search(text)


class _Probe(NamedTuple):
    kind: str  # "code" | "math" | "reasoning"
    name: str
    keys: tuple[str, ...]  # every match contains one: a whole word, a punctuation
    # character, or (written "~text", or anything else) a substring
    regex: _LazyRegex | None  # None: the key word itself, standing alone, is the match
    on_query: bool  # the regex runs on the query as typed (case-sensitive), not lower-cased
    also: tuple[str, ...]  # every match also contains all of these substrings


def _rx(
    kind: str,
    name: str,
    keys: str | tuple[str, ...],
    pattern: str,
    *,
    on_query: bool = False,
    also: tuple[str, ...] = (),
) -> _Probe:
    if isinstance(keys, str):
        keys = (keys,)
    return _Probe(kind, name, keys, _LazyRegex(pattern), on_query, also)


def _kw(word: str) -> str:
    """*word* as a whole word, written so the regex starts with the literal."""
    w = re.escape(word)
    return rf"{w}(?<!\w{w})(?!\w)"


def _words(kind: str, name: str, words: tuple[str, ...]) -> list[_Probe]:
    """Whole words or phrases (single spaces). A phrase is keyed on its longest word."""
    probes = []
    for w in words:
        if _WORD_RE.fullmatch(w):
            probes.append(_Probe(kind, name, (w,), None, False, ()))
        else:
            key = max(_WORD_RE.findall(w), key=len)
            probes.append(_rx(kind, name, key, rf"{re.escape(w)}(?<!\w{re.escape(w)})(?!\w)"))
    return probes


# --------------------------------------------------------------------------- code
# Each probe is something a programmer types: a token sequence, not a topic word.
_SHELL_TOOLS = (
    "sudo", "apt-get", "apt", "brew", "pip", "pip3", "npm", "npx", "yarn", "pnpm", "conda",
    "cargo", "docker", "kubectl", "git", "cmake", "gcc", "clang", "rustc", "javac", "ssh",
    "scp", "curl", "wget", "systemctl", "pytest", "python", "python3", "node",
)  # fmt: skip
_SHELL_VERBS = (
    r"-{1,2}[a-z]|install|uninstall|run|build|commit|push|pull|clone|checkout|rebase|merge"
    r"|add|apply|exec|init|compose|test|config|start|stop|status|logs|ps|diff|log|reset"
    r"|stash|fetch|restart|enable|remote|branch"
)
_FLAG_TOOLS = ("ls", "rm", "tar", "mkdir", "chmod", "chown", "cp", "mv", "grep", "find")
_LANGUAGES = (
    "python", "javascript", "typescript", "kotlin", "haskell", "golang", "php", "perl",
    "powershell", "bash script", "shell script", "sql", "mysql", "postgresql", "sqlite3",
    "regex", "regexp", "numpy", "scipy", "matplotlib", "pytorch", "tensorflow", "django",
    "fastapi", "jquery", "reactjs", "node.js", "nodejs", "dockerfile", "makefile", "jupyter",
    "html", "css", "json", "yaml", "graphql", "webpack", "gradle", "cuda", "objective-c",
    "elixir", "erlang", "clojure", "fortran", "cobol", "matlab", "lua", "assembly language",
    "visual basic", "vba",
)  # fmt: skip
_CODE_TOPICS = (
    "compiler", "compile error", "compilation error", "syntax error", "unit test",
    "unit tests", "time complexity", "big-o", "linked list", "binary tree",
    "binary search tree", "hashmap", "hash map", "hashtable", "dataframe",
    "regular expression", "pull request", "merge conflict", "merge conflicts",
    "segmentation fault", "segfault", "core dumped", "stack trace", "stacktrace",
    "null pointer", "nullpointerexception", "npm err", "panicked at", "recursion",
    "recursive function", "source code", "codebase", "refactor", "refactoring",
    "undefined is not a function", "command not found", "stack overflow error",
    "create table", "create index", "create view", "create database", "create schema",
    "alter table", "drop table", "drop index", "drop database",
)  # fmt: skip
_FILE_EXTS = (
    "py", "js", "ts", "tsx", "jsx", "java", "cpp", "hpp", "rs", "rb", "php", "sh", "ipynb",
    "toml", "yaml", "yml", "sql", "kt", "swift", "cs", "csproj", "go", "mjs", "vue",
)  # fmt: skip
_CALL_WORDS = (
    "print", "printf", "println", "puts", "len", "range", "eval", "exec", "malloc", "free",
    "sizeof", "typeof", "isinstance", "enumerate", "zip", "open", "fetch", "require",
    "settimeout", "map", "filter",
)  # fmt: skip
_C_TYPES = ("void", "int", "char", "float", "double", "bool")
_OPERATORS = ("===", "!==", "==", "!=", "+=", "-=", "*=", "/=", "%=", "&&", "||")


def _op_probe(op: str) -> _Probe:
    e = re.escape(op)
    key = "=" if "=" in op else op[0]
    return _rx("code", "operator", key, rf"{e}(?:(?<=[\w)\]]{e})|(?<=[\w)\]] {e}))\s*[\w\"'(\[{{-]")


_CODE: list[_Probe] = [
    _rx("code", "backticks", "`", r"`(?:``|[^`\n]+`)"),
    _rx("code", "def", "def", _kw("def") + r" +[a-z_]\w*\s*\("),
    _rx(
        "code",
        "class",
        "class",
        _kw("class") + r" +[A-Z_]\w*\s*(?:[(:{<]|extends\b|implements\b)",
        on_query=True,
    ),
    _rx(
        "code",
        "import line",
        "import",
        r"import(?:(?<![\s\S]import)|(?<=\nimport)) +[\w.{*]",
        on_query=True,
    ),
    _rx("code", "from import", "import", _kw("from") + r" +[\w.]+ +import +[\w*({]", on_query=True),
    _rx("code", "import as", "import", _kw("import") + r" +[\w.]+ +as +\w"),
    _rx("code", "import dotted", "import", _kw("import") + r" +[a-z_]\w*[._]\w"),
    _rx(
        "code",
        "import js",
        "import",
        _kw("import") + r" +(?:\{|\* +as\b|\w+ *, *\{|\w+ +from +['\"])",
    ),
    _rx("code", "function", "function", _kw("function") + r"\s*\*?\s*[\w$]*\s*\("),
    *(
        _rx(
            "code",
            "write a function",
            verb,
            _kw(verb) + r" +(?:me +)?(?:a|an|the|some) +(?:[\w+#.-]+ +){0,3}?"
            r"(?:function|method|program|regex|regular expression|unit test|sql query)s?\b",
        )
        for verb in ("write", "implement", "code", "define")
    ),
    *(
        _rx(
            "code",
            "const/var",
            kw,
            _kw(kw) + r" +[A-Za-z_$][\w$]*\s*(?::[^=\n]{1,100})?=(?!=)",
            on_query=True,
        )
        for kw in ("const", "var")
    ),
    _rx(
        "code",
        "let",
        "let",
        _kw("let") + r" +(?:mut +)?(?:[A-Za-z_$][\w$]+\s*(?::[^=\n]{1,100})?=(?!=)"
        r"|[A-Za-z_$]\s*(?::[^=\n]{1,100})?=[^;\n]{0,200};)",
        on_query=True,
    ),
    _rx(
        "code",
        "for in",
        "for",
        _kw("for") + r" +(?:(?:[a-z_]|\w+ *, *\w+) +in +[^\n:]{1,80}:"
        r"|\w+ +in +[\w.]*[(\[._][^\n:]{0,80}:"
        r"|\w+ +in +\w+ *: *(?:print|return|yield|if|\w+ *[.(=\[+]))",
        also=(" in ", ":"),
    ),
    _rx("code", "for (;;)", "for", _kw("for") + r" ?\([^)\n]{0,200};[^)\n]{0,200};"),
    _rx("code", "while", "while", _kw("while") + r"(?:\(| \(| true *:| 1 *:| not +\w+ *:)"),
    _rx("code", "if (", "if", _kw("if") + r" ?\([^\n]{0,200}\) *(?:\{|return\b|[a-z_]\w* *[=(;])"),
    _rx(
        "code",
        "SELECT FROM",
        "select",
        _kw("SELECT") + r"[^;]{0,200}?\bFROM\b",
        on_query=True,
        also=("from",),
    ),
    _rx("code", "select *", "select", _kw("select") + r" +(?:\*|distinct\b|count *\(|top +\d)"),
    _rx(
        "code",
        "select a, b from",
        "select",
        _kw("select") + r" +[\w.]+(?: *, *[\w.]+)+ +from +\w",
        also=(" from ",),
    ),
    _rx(
        "code",
        "select from where",
        "select",
        _kw("select") + r"[^\n]{1,120}?\bfrom +[\w.]+ +(?:where|join|inner|left|group +by"
        r"|order +by|limit)\b",
        also=("from ",),
    ),
    _rx(
        "code", "insert into", "insert", _kw("insert") + r" into +[\w.]+ *(?:\(|values\b|select\b)"
    ),
    _rx(
        "code", "delete from", "delete", r"(?m)" + _kw("delete") + r" from +[\w.]+ *(?:where\b|;|$)"
    ),
    _rx(
        "code",
        "update set",
        "update",
        _kw("update") + r" +[\w.]+ +set +\w+ *=",
        also=(" set ", "="),
    ),
    _rx("code", "traceback", "traceback", _kw("traceback") + r" \(most recent call last\)"),
    _rx("code", "file line", '", line', r'File "[^"\n]{1,300}", line \d+', on_query=True),
    _rx("code", "XxxError", "~error", r"Error(?<=[A-Za-z]Error)(?!\w)", on_query=True),
    _rx("code", "XxxError", "~exception", r"Exception(?<=[A-Za-z]Exception)(?!\w)", on_query=True),
    *(
        _rx("code", "stack frame", ext, rf"\.{ext}:\d+\)")
        for ext in ("java", "kt", "scala", "js", "ts", "py", "go", "rs")
    ),
    *_words("code", "topic", _CODE_TOPICS),
    *_words("code", "language", _LANGUAGES),
    _rx("code", "language", "+", _kw("c++")),
    _rx("code", "language", "#", _kw("c#")),
    *(_op_probe(op) for op in _OPERATORS),
    *(_rx("code", "stream", w, _kw(w) + r"\s*(?:<<|>>)") for w in ("cout", "cin", "cerr")),
    _rx("code", "++", "+", r"\+\+(?<=\w\+\+)(?=[\s;)\]]|\Z)"),
    _rx("code", "--", "-", r"--(?<=\w--)(?=[\s;)\]]|\Z)"),
    _rx("code", "::", ":", r"::(?<=\w::)[a-z_<]"),
    _rx("code", "->", ">", r"->(?:(?<=\w->)\w|(?:(?<=\)->)|(?<=\) ->))\s*[\w\[])"),
    _rx("code", "=>", ">", r"=>(?:(?<=\)=>)|(?<=\) =>)|(?:(?<=\w=>)|(?<=\w =>))\s*[{(])"),
    _rx("code", "body", "{", r"\{(?:(?<=\)\{)|(?<=\) \{)|\s*\}|\s*\"[\w-]+\"\s*:)"),
    _rx("code", "call;", ";", r"\((?<=\w\()[^()\n]{0,200}\)\s*;", also=("(",)),
    _rx("code", "statement;", ";", r"(?m)=[^;\n=]{0,200};[ \t]*(?:$|//)", also=("=",)),
    *(
        _rx(
            "code",
            "modifier",
            m,
            _kw(m)
            + r" +(?:static +)?(?:void|int|string|bool|boolean|fun|final|class|async|func)\b",
        )
        for m in ("public", "private", "protected", "static")
    ),
    *(
        _rx(
            "code",
            "c declaration",
            t,
            _kw(t) + r"(?: +\*?| *\* *)\*?[a-z_]\w*\s*(?:=[^=]|\[\d*\]|;"
            r"|\((?:\s*\)|\s*(?:void|int|char|const|float|double)\b))",
            on_query=True,
        )
        for t in _C_TYPES
    ),
    _rx("code", "#include", "#", r"#include\s*[<\"]"),
    _rx("code", "shebang", "#", r"#!\s*/"),
    _rx("code", "System.out", "system", _kw("system") + r"\.(?:out|err)\.print"),
    _rx("code", "method call", "(", r"\.(?<=\w\.)[a-z_]\w*\(", also=(".",)),
    _rx("code", "snake_call", "_", r"_(?<=[a-z0-9]_)\w*\(", also=("(",)),
    _rx("code", "empty/str call", "(", r"\((?<=\w\()(?:\s*\)|\s*[\"'])"),
    *(_rx("code", "builtin call", w, _kw(w) + r"\(") for w in _CALL_WORDS),
    _rx("code", "builtin call", "console", _kw("console") + r"\.log\("),
    _rx("code", "html close", "<", r"</[a-z][\w-]*\s*>"),
    _rx("code", "html attr", "<", r"<[a-z][\w-]*\s+[\w-]+\s*=\s*[\"']", also=("=",)),
    _rx(
        "code",
        "html tag",
        "<",
        r"<(?:div|span|html|body|head|script|style|ul|ol|li|table|tr|td|img|input|button|form"
        r"|br|hr|h[1-6]|p|a)\b[^<>\n]{0,80}>",
        also=(">",),
    ),
    *(
        _rx(
            "code",
            "shell",
            max(_WORD_RE.findall(tool), key=len),
            rf"{re.escape(tool)}(?<!\w{re.escape(tool)}) +(?:{_SHELL_VERBS})\b",
        )
        for tool in _SHELL_TOOLS
    ),
    *(_rx("code", "shell flags", tool, _kw(tool) + r" -{1,2}[a-z]") for tool in _FLAG_TOOLS),
    _rx("code", "chmod", "chmod", _kw("chmod") + r" +[0-7]{3}\b"),
    _rx("code", "go tool", "go", _kw("go") + r" (?:(?:run|build|mod|vet|fmt)\b|test \./)"),
    _rx("code", "make", "make", _kw("make") + r" (?:-j\d|install\b|clean\b)"),
    _rx(
        "code", "pipe", "|", r"\|\s*(?:grep|awk|sed|wc|sort|uniq|xargs|head|tail|less|jq|tee|cut)\b"
    ),
    _rx("code", "prompt", "$", r"\$(?:(?<![\s\S]\$)|(?<=\n\$))\s+[a-z]"),
    _rx("code", "env var", "$", r"\$(?:[A-Z_][A-Z0-9_]+\b|\{\w+\}|\(\w)", on_query=True),
    _rx("code", "unix path", "/", r"/(?:usr|etc|var|home|bin|opt|tmp|dev)/"),
    *(
        _rx("code", "file name", ext, rf"\.{ext}(?<=[\w-]\.{ext})(?!\w)(?!\.\w)")
        for ext in _FILE_EXTS
    ),
    _rx("code", "lambda", "lambda", _kw("lambda") + r"\s+[\w, *]*:", also=(":",)),
]

# --------------------------------------------------------------------------- maths
_MATH_WORDS = (
    "solve", "solving", "equation", "equations", "theorem", "theorems", "lemma", "corollary",
    "probability", "probabilities", "calculate", "calculating", "compute", "factorial",
    "polynomial", "polynomials", "quadratic", "logarithm", "logarithms", "logarithmic",
    "trigonometry", "trigonometric", "hypotenuse", "pythagorean", "algebra", "algebraic",
    "calculus", "geometry", "standard deviation", "binomial", "permutation", "permutations",
    "combinatorics", "eigenvalue", "eigenvalues", "eigenvector", "eigenvectors", "gcd", "lcm",
    "fibonacci", "prime number", "prime numbers", "antiderivative", "partial derivative",
    "second derivative", "arithmetic", "matrices", "how many ways", "expected value",
    "compound interest", "simple interest", "square root", "cube root", "sqrt",
    "to the power of", "greatest common divisor", "least common multiple",
    "prime factorization", "prime factorisation", "prime factors", "dot product",
    "cross product", "differential equation", "linear equation", "system of equations",
    "quadratic formula", "modular arithmetic", "number theory", "remainder when",
    "geometric series", "geometric progression", "geometric sequence",
    "arithmetic progression", "arithmetic sequence", "taylor series", "fourier transform",
    "laplace transform", "vector space", "linear algebra", "odds of getting",
    "odds of rolling", "odds of drawing", "chance of getting", "chance of rolling",
    "chance of drawing", "law of cosines", "law of sines", "mean value theorem", "convergent",
    "converges", "diverges", "asymptote", "asymptotes",
)  # fmt: skip
_SHAPES = (
    "circle|triangle|square|rectangle|sphere|cube|cylinder|cone|pyramid|polygon|hexagon"
    "|pentagon|trapezoid|parallelogram|ellipse|prism|rhombus"
)
_MATH_FUNCS = (
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "log", "ln", "exp", "sqrt", "lim",
)  # fmt: skip
_MATH_SYMBOLS = "∫∑∏√π∞≤≥≠±×÷∂∇≈∈∀∃θ²³"
_PROOF_OF_THINGS = (
    "address|purchase|concept|identity|residence|income|insurance|delivery|payment"
    "|employment|work|stake|age|ownership|vaccination|postage"
)
_PROVABLE = (
    r"irrational|rational|prime|integers?|even|odd|divisible|infinite|infinitely|triangles?"
    r"|functions?|sequences?|series|sets?|numbers?|roots?|equal|converges|bounded|continuous"
    r"|matri(?:x|ces)|graphs?|limit|polynomials?|angles?"
)


_TERMS = (
    r"\b[a-z]",
    r"\b[a-z] ",
    r"\b\d[a-z]",
    r"\b\d[a-z] ",
    r"\b\d\d[a-z]",
    r"\b\d\d[a-z] ",
    r"[a-z]\^\d",
    r"[a-z]\^\d ",
)
"""The left side of an equation's operator, as fixed-width look-behinds: ``x``, ``3x``,
``12x``, ``x^2`` (each with or without a space before the operator)."""


_INTEGRAL_LEADS = (
    "definite", "indefinite", "double", "triple", "contour", "improper", "line", "surface",
    "evaluate the", "compute the", "calculate the", "find the", "solve the",
)  # fmt: skip


def _arith_probe(op: str, left: str, name: str) -> _Probe:
    e = re.escape(op)
    return _rx("math", name, op[0], rf"{e}(?:(?<={left}{e})|(?<={left} {e}))\s*\(?\s*-?\d")


_MATH: list[_Probe] = [
    *_words("math", "word", _MATH_WORDS),
    _rx(
        "math",
        "proof",
        ("proof", "proofs"),
        rf"proof(?<!\wproof)s?(?!\w)(?! of (?:{_PROOF_OF_THINGS})\b)",
    ),
    *(
        _rx(
            "math",
            "prove that",
            verb,
            _kw(verb) + rf" that\b[^.?!\n]{{0,100}}?(?:[=<>+^]|\d|\b(?:{_PROVABLE})\b)",
        )
        for verb in ("prove", "show")
    ),
    _rx("math", "matrix", "matrix", r"atrix(?<=\b[Mm]atrix)(?!\w)(?<!The Matrix)", on_query=True),
    _rx("math", "matrix literal", "[", r"\[ ?\[ *-?\d"),
    _rx(
        "math", "derivative", ("derivative", "derivatives"), r"derivative(?<!\wderivative)s?\s+of\b"
    ),
    _rx(
        "math", "integral", ("integral", "integrals"), r"integral(?<!\wintegral)s?\s+(?:of|from)\b"
    ),
    *(
        _rx("math", "integral", ("integral", "integrals"), _kw(lead) + r"\s+integrals?\b")
        for lead in _INTEGRAL_LEADS
    ),
    *(
        _rx(
            "math",
            "integrate x",
            verb,
            _kw(verb) + r"\s+(?:\d|[a-z]\s*(?:\^|[-+*/]|\*\*|d[a-z]\b|\(|$)|e\^"
            r"|(?:sin|cos|tan|ln|log|sqrt|exp)\b|[a-z]\s+(?:with respect|from|over)\b)",
        )
        for verb in ("integrate", "differentiate")
    ),
    _rx("math", "with respect to", "respect", _kw("with") + r" respect to [a-z]\b"),
    _rx(
        "math",
        "determinant",
        ("determinant", "determinants"),
        r"determinant(?<!\wdeterminant)s?\s+of\s+(?:the\s+|a\s+|an\s+|this\s+)?"
        r"(?:\d+\s*x\s*\d+\s+)?(?:\[|matri|[a-z]\b)",
    ),
    _rx(
        "math",
        "limit",
        ("lim", "limit"),
        r"lim(?<!\wlim)(?:it)?\b(?:[^.?!\n]{0,60}\bas\s+[a-z]\s*(?:->|→|approaches|goes to"
        r"|tends to)|\s*(?:\[|\{|\(?[a-z]\s*(?:->|→)))",
    ),
    _rx("math", "limit", "_", r"lim_(?<!\wlim_)\{?[a-z]"),
    *(
        _rx(
            "math",
            "approaches",
            verb.split()[0],
            rf"{verb}(?<=\bas [a-z] {verb})(?!\w)\s+(?:-?\d|infinity|zero|∞)",
        )
        for verb in ("approaches", "goes to", "tends to")
    ),
    *(_rx("math", "symbol", ch, re.escape(ch)) for ch in _MATH_SYMBOLS),
    *(_arith_probe(op, r"\d", "arithmetic") for op in ("+", "*", "×", "÷", "^", "**")),
    *(_arith_probe(op, r"[a-z0-9)]", "power") for op in ("^", "**")),
    *(
        _rx(
            "math",
            "a - b = c",
            "=",
            rf"{re.escape(op)}(?:(?<=\d{re.escape(op)})|(?<=\d {re.escape(op)}))"
            r"\s*\(?\d+(?:\.\d+)?\)?\s*=\s*[-\d?x]",
        )
        for op in ("-", "/")
    ),
    _rx("math", "a = b op c", "=", r"=(?:(?<=\d=)|(?<=\d =))\s*\d+(?:\.\d+)?\s*[-+*/^]\s*\d"),
    _rx(
        "math",
        "paren arithmetic",
        "(",
        r"\((?:\s*-?\d+(?:\.\d+)?\s*[+*]\s*-?\d+(?:\.\d+)?"
        r"|\s*-?\d{1,3}(?:\.\d+)?\s*[-/]\s*-?\d{1,3}(?:\.\d+)?)\s*\)",
    ),
    _rx(
        "math",
        "what is a op b",
        "what",
        _kw("what") + r"(?:'s| is) +-?\d+(?:\.\d+)?\s*(?:[-+*/x]|times|plus|minus)\s*-?\d",
    ),
    *(
        _rx(
            "math",
            "equation",
            "=",
            re.escape(op)
            + "(?:"
            + "|".join(f"(?<={left}{re.escape(op)})" for left in _TERMS)
            + r")\s*\(?\d*[a-z]?(?:\^\d+)?\)?\s*=\s*-?[\d(a-z]",
        )
        for op in "+-*/"
    ),
    _rx(
        "math",
        "x = 5",
        "=",
        r"=(?:(?<=\b[a-z]=)|(?<=\b[a-z] =))\s*(?:-?\d+(?:\.\d+)?\s*(?:[-+*/^,]|\band\b|\Z)"
        r"|\d*[a-z]{1,2}\s*[-+]\s*\w)",
    ),
    _rx("math", "f(x) =", "=", r"=(?:(?<=\b[fgh]\([a-z0-9]\)=)|(?<=\b[fgh]\([a-z0-9]\) =))"),
    _rx("math", "f'(x)", "'", r"'\((?:(?<=\b[fgh]'\()|(?<=\b[fgh]''\())"),
    *(_rx("math", "function of x", f, _kw(f) + r"\(") for f in _MATH_FUNCS),
    *(_rx("math", "sin x", f, _kw(f) + r" [xyθπ](?!\w)") for f in ("sin", "cos", "tan")),
    _rx("math", "d/dx", "/", r"/d(?:(?<=\bd/d)|(?<=\bd[a-z]/d))[a-z]\b"),
    _rx("math", "percent of", "%", r"%(?:(?<=\d%)|(?<=\d %))\s+of\s+\$?\d"),
    _rx("math", "percent of", "percent", r"percent(?<=\d percent)(?!\w)\s+of\s+\$?\d"),
    *(
        _rx(
            "math",
            "mean of numbers",
            w,
            _kw(w) + r" of (?:the )?(?:numbers )?-?\d+(?:\.\d+)?\s*(?:,|and)",
        )
        for w in ("average", "mean", "median", "mode", "sum", "product", "variance")
    ),
    _rx(
        "math",
        "sum of series",
        "sum",
        _kw("sum") + r" of (?:the first|all the|the series|squares|the squares|\d)",
    ),
    *(_rx("math", "squared", w, rf"{w}(?<=\d {w})(?!\w)") for w in ("squared", "cubed")),
    *(
        _rx("math", "a times b", op.split()[0], rf"{op}(?<=\d {op})(?!\w) -?\d")
        for op in ("times", "plus", "minus", "divided by", "multiplied by")
    ),
    _rx(
        "math",
        "is n prime",
        ("prime", "even", "odd", "divisible", "perfect"),
        _kw("is")
        + r" +\d+ +(?:a +)?(?:prime|even|odd|divisible|a perfect square|perfect square)\b",
    ),
    _rx("math", "divisible by", "divisible", _kw("divisible") + r" by \d"),
    *(
        _rx("math", "geometry", m, _kw(m) + rf" of (?:a|an|the) (?:[\w-]+ )?(?:{_SHAPES})\b")
        for m in ("area", "perimeter", "circumference", "volume", "radius", "diameter")
    ),
]

# --------------------------------------------------------------------------- reasoning
_REASONING_WORDS = (
    "why", "explain", "explaining", "explanation", "analyze", "analyse", "analysis",
    "compare", "comparison", "step by step", "step-by-step", "reason", "reasoning",
    "think", "pros and cons", "trade-off", "trade-offs", "tradeoff", "tradeoffs", "evaluate",
    "justify", "prove", "derive", "critique", "assess", "implications",
    "what would happen if", "walk me through", "how come",
)  # fmt: skip
_REASONING: list[_Probe] = _words("reasoning", "word", _REASONING_WORDS)
_REASONING_RE = _LazyRegex(
    r"(?<!\w)(?:"
    + "|".join(re.escape(w) for w in sorted(_REASONING_WORDS, key=len, reverse=True))
    + r")(?!\w)",
    re.ASCII | re.IGNORECASE,
)

_PROBES: tuple[_Probe, ...] = (*_CODE, *_MATH, *_REASONING)
"""Code first, then maths: classify_query takes the first kind that matches in this order."""

# Words: runs of \w (ASCII). Everything else becomes a space for split(); for the
# punctuation set (which keeps "_"), letters, digits and whitespace are deleted.
_TO_WORDS = bytes(i if chr(i) in _WORD else 32 for i in range(256))
_NOT_PUNCT = (string.ascii_letters + string.digits + string.whitespace).encode()


_ASCII_LOWER = {ord(c): ord(c.lower()) for c in string.ascii_uppercase}


def _lower(query: str) -> str:
    """Lower-case ASCII letters only (what ``re.ASCII | re.IGNORECASE`` folds): the text
    keeps its length and no other character changes (``str.lower`` turns "İ" into
    "i" plus a combining dot, which would make a word out of the letters before it)."""
    return query.lower() if query.isascii() else query.translate(_ASCII_LOWER)


class _Index(NamedTuple):
    words: dict[bytes, tuple[int, tuple[int, ...]]]  # word -> (kind bits, regex probes)
    word_keys: frozenset[bytes]
    chars: dict[int, tuple[int, ...]]  # ASCII punctuation byte -> regex probes
    char_keys: frozenset[int]
    substrings: tuple[tuple[str, tuple[int, ...]], ...]  # ASCII substring -> probes
    unicode: tuple[tuple[str, tuple[int, ...]], ...]  # non-ASCII key -> probes


def _build_index(kinds: frozenset[str]) -> _Index:
    words: dict[bytes, tuple[int, list[int]]] = {}
    chars: dict[int, list[int]] = {}
    others: dict[str, list[int]] = {}
    for i, probe in enumerate(_PROBES):
        if probe.kind not in kinds:
            continue
        for key in probe.keys:
            assert key == key.lower(), key
            if key.startswith("~"):  # a substring, not a word
                others.setdefault(key[1:], []).append(i)
            elif _WORD_RE.fullmatch(key) and key != "_":
                bits, ids = words.get(key.encode(), (0, []))
                if probe.regex is None:
                    bits |= _KIND_BIT[probe.kind]
                else:
                    ids.append(i)
                words[key.encode()] = (bits, ids)
            elif probe.regex is None:
                raise ValueError(f"a word probe needs a word key, not {key!r}")
            elif len(key) == 1 and key.isascii():
                chars.setdefault(ord(key), []).append(i)
            else:
                others.setdefault(key, []).append(i)
    return _Index(
        {w: (bits, tuple(ids)) for w, (bits, ids) in words.items()},
        frozenset(words),
        {c: tuple(ids) for c, ids in chars.items()},
        frozenset(chars),
        tuple((k, tuple(ids)) for k, ids in others.items() if k.isascii()),
        tuple((k, tuple(ids)) for k, ids in others.items() if not k.isascii()),
    )


@functools.cache
def _index(kinds: frozenset[str]) -> _Index:
    """The index of *kinds*' probes, built on first use: a process that classifies
    nothing (the UI's first frame) does not pay for it (issue 15)."""
    return _build_index(kinds)


_ALL = frozenset(_KIND_BIT)
_CLASSES = frozenset({"code", "math"})


def _scan(query: str, index: _Index, stop: int) -> int:
    """Kind bits found in *query*; returns as soon as a bit of *stop* is found."""
    low = _lower(query)
    raw = low.encode("ascii", "replace")  # non-ASCII -> "?": not a word character
    bits = 0
    pending: set[int] = set()
    for word in index.word_keys.intersection(raw.translate(_TO_WORDS).split()):
        kinds, ids = index.words[word]
        bits |= kinds
        if ids:
            pending.update(ids)
    if bits & stop:
        return bits
    for c in index.char_keys.intersection(raw.translate(None, _NOT_PUNCT)):
        pending.update(index.chars[c])
    for key, ids in index.substrings:
        if key in low:
            pending.update(ids)
    if not low.isascii():
        for key, ids in index.unicode:
            if key in low:
                pending.update(ids)
    for i in sorted(pending):  # code probes come first
        probe = _PROBES[i]
        bit = _KIND_BIT[probe.kind]
        if bits & bit:
            continue
        for a in probe.also:
            if a not in low:
                break
        else:
            if probe.regex.search(query if probe.on_query else low):  # type: ignore[union-attr]
                bits |= bit
                if bits & stop:
                    return bits
    return bits


class QuerySignals(NamedTuple):
    """What the detector found in a query."""

    has_code: bool
    has_math: bool
    has_reasoning: bool


def detect(query: str) -> QuerySignals:
    """Code, maths and reasoning signals of *query* (the one detector everything uses)."""
    bits = _scan(query, _index(_ALL), 0)
    return QuerySignals(bool(bits & 1), bool(bits & 2), bool(bits & 4))


def reasoning_word(query: str) -> str | None:
    """The first reasoning word or phrase in *query* ("why", "step by step"...), or None."""
    m = _REASONING_RE.search(query)
    return m.group(0) if m else None


def classify_query(query: str) -> str:
    """Classify a query: ``code``, ``math``, ``short`` (<50 chars), ``long`` (>500) or ``general``."""
    bits = _scan(query, _index(_CLASSES), _KIND_BIT["code"])
    if bits & 1:
        return "code"
    if bits & 2:
        return "math"
    return _by_length(query)


def _by_length(query: str) -> str:
    if len(query) < SHORT_QUERY_CHARS:
        return "short"
    if len(query) > LONG_QUERY_CHARS:
        return "long"
    return "general"


def _probe_matches(probe: _Probe, query: str, low: str) -> bool:
    if probe.regex is not None:
        return probe.regex.search(query if probe.on_query else low) is not None
    w = re.escape(probe.keys[0])
    return re.search(rf"(?<!\w){w}(?!\w)", low, re.ASCII) is not None


def matching_probes(query: str) -> list[str]:
    """``"kind: probe"`` for every probe that matches *query*, without the prefilter
    (for explanations and tests)."""
    low = _lower(query)
    out: list[str] = []
    for p in _PROBES:
        label = f"{p.kind}: {p.name}"
        if label not in out and _probe_matches(p, query, low):
            out.append(label)
    return out


def _detect_reference(query: str) -> QuerySignals:
    """Every probe on the whole text, no prefilter: what :func:`detect` must agree with."""
    low = _lower(query)
    kinds = {p.kind for p in _PROBES if _probe_matches(p, query, low)}
    return QuerySignals("code" in kinds, "math" in kinds, "reasoning" in kinds)


def _classify_reference(query: str) -> str:
    """:func:`classify_query` without the prefilter (for the equivalence test)."""
    sig = _detect_reference(query)
    if sig.has_code:
        return "code"
    if sig.has_math:
        return "math"
    return _by_length(query)


__all__ = [
    "CLASSIFIER_VERSION",
    "QUERY_CLASSES",
    "QuerySignals",
    "classify_query",
    "detect",
    "matching_probes",
    "reasoning_word",
]
