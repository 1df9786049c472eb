"""A safe, exact calculator: arithmetic is parsed with `ast` and evaluated by walking a whitelist.

No eval, exec, numexpr or sympify: each has given LangChain a remote-code-execution advisory.
Numbers stay exact (int and Fraction; decimals such as 0.1 are read as 1/10) until a float
constant or function forces floating point. Input length, nesting depth and the size of every
intermediate result are limited, and powers and factorials are estimated before they are computed,
so `9**9**9` is refused at once instead of freezing the process.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from agent_app.errors import ToolError
from agent_app.tool_profile import ToolProfile, attach

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

Number = int | Fraction | float

MAX_INPUT_CHARS = 500
MAX_NESTING = 40  # levels of parentheses
# Levels of the syntax tree: generous, as "1+2+3+..." nests one level per term, but bounded to
# keep the recursive walk far from Python's recursion limit.
_MAX_TREE_DEPTH = 300
MAX_DIGITS = 1000  # of any exact result (numerator and denominator alike)
_MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))
_MAX_ROOT_DEGREE = 64  # x ** (p/q) is tried exactly for q up to this
_FLOAT_DIGITS = 12  # significant digits shown for inexact results

DESCRIPTION = (
    "Exact arithmetic and math functions. Input: a math expression, e.g. 15% of 80, sqrt(144), (3+4)*2 or 2^10."
)


class CalculatorError(ToolError):
    """The expression cannot be evaluated; the message says why, in one line."""


class CalculatorInput(BaseModel):
    expression: str = Field(description="math expression, e.g. 15% of 80 or sqrt(2)*3")


# ---------------------------------------------------------------------------------------------
# Public functions


def calculate(expression: str) -> str:
    """The result of `expression` as text, or an error message: never raises (a tool observation)."""
    try:
        return format_number(evaluate(expression))
    except CalculatorError as exc:
        return f"calculator error: {exc}"


def evaluate(expression: str) -> Number:
    """Evaluate `expression` exactly where possible. Raises `CalculatorError`."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text")
    if len(expression) > MAX_INPUT_CHARS:
        raise CalculatorError(f"expression too long ({len(expression)} characters; limit {MAX_INPUT_CHARS})")
    source = normalize(expression)
    if not source:
        raise CalculatorError("empty expression")
    _check_paren_depth(source)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise CalculatorError(f"cannot read {expression.strip()!r} as a math expression") from None
    except (ValueError, MemoryError, RecursionError):
        raise CalculatorError("expression too complex") from None
    return _Evaluator(source).visit(tree.body, depth=0)


def format_number(value: Number) -> str:
    """Present a result cleanly: integers in full, terminating fractions as decimals (0.3, not
    0.30000000000000004), other fractions and floats to 12 significant digits."""
    if isinstance(value, Fraction) and value.denominator == 1:
        value = value.numerator
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Fraction):
        return _format_fraction(value)
    text = format(value, f".{_FLOAT_DIGITS}g")
    return "0" if text == "-0" else _tidy_exponent(text)


# ---------------------------------------------------------------------------------------------
# Light natural phrasing -> expression syntax

_WORDS = [  # (pattern, replacement); order matters: longer phrases first
    (r"^\s*(?:what\s+is|what's|whats|how\s+much\s+is|calculate|compute|evaluate|solve)\b:?", ""),
    (r"[?=.]*\s*$", ""),
    (r"\bthe\s+(?=(?:square|cube)\s+root\s+of\b)", ""),
    (r"\bsquare\s+root\s+of\b", " sqrt "),
    (r"\bcube\s+root\s+of\b", " cbrt "),
    (r"\b(sqrt|cbrt|ln|log|log10|log2|exp|sin|cos|tan|abs|factorial)\s+of\b", r" \1 "),
    (r"\b(?:to\s+the\s+power\s+of|raised\s+to(?:\s+the\s+power\s+of)?)\b", "**"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
    (r"(?:%|\bpercent)\s+of\b", "/100*"),
    (r"\bpercent\b", "/100"),
    # "50%" or "50% + 3" is a percentage; "15 % 4" and "7%3" stay remainders.
    (r"(\d)%(?=\s*(?:$|\)|[-+*/]\s))", r"\1/100"),
    (r"\bmultiplied\s+by\b|\btimes\b", "*"),
    (r"\bdivided\s+by\b|\bover\b", "/"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bmod(?:ulo)?\b", "%"),
]
_SYMBOLS = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "^": "**", "√": "sqrt "}
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．＋－＊／（）％", "0123456789.+-*/()%")
# The same light phrasing in Japanese ("3かける7は？", "2の10乗", "144の平方根"): the question
# ending, the operators, powers and roots.
_JAPANESE = [
    (r"(?:は|って)?(?:いくつ|いくら|何|なに|なん)?(?:です|でしょう)?か?[？?。]*\s*$", ""),
    (r"を?(?:計算して(?:ください)?|計算)\s*$", ""),
    (r"(\d)\s*の\s*(\d+)\s*乗", r"\1**\2"),
    (r"(\d(?:[\d.]*))\s*の\s*平方根", r"sqrt(\1)"),
    (r"(\d(?:[\d.]*))\s*の\s*(\d+(?:\.\d+)?)\s*(?:%|％|パーセント)", r"\1*\2/100"),
    (r"かける|掛ける|掛け", "*"),
    (r"たす|足す|プラス", "+"),
    (r"ひく|引く|マイナス", "-"),
    (r"わる|割る", "/"),
]
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
# "sqrt 144" -> "sqrt(144)": a function name followed by a bare number.
_BARE_ARGUMENT = re.compile(rf"\b([a-z]\w*)\s+(-?{_NUMBER})")
_THOUSANDS = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?!\w|,\d)")


def normalize(expression: str) -> str:
    """Rewrite light natural phrasing into expression syntax ('7 times 6' -> '7 * 6')."""
    text = expression.translate(_FULL_WIDTH).strip().lower()
    for symbol, replacement in _SYMBOLS.items():
        text = text.replace(symbol, replacement)
    for pattern, replacement in _JAPANESE:
        text = re.sub(pattern, replacement, text)
    for pattern, replacement in _WORDS:
        text = re.sub(pattern, replacement, text)
    text = _strip_thousands(text)
    text = re.sub(r"(?!\b0x[\da-f])(\d)\s*x\s*(?=[\d.(])", r"\1*", text)  # "3 x 4", "3x4"; not hex
    text = re.sub(r"\)\s*x\s*(?=[\d.(])", ")*", text)
    text = re.sub(rf"(?<![\w.])({_NUMBER})\s*!", r"factorial(\1)", text)  # "5!"
    text = _BARE_ARGUMENT.sub(lambda m: f"{m[1]}({m[2]})" if m[1] in FUNCTIONS else m[0], text)
    # Implicit multiplication: "2(3+4)", "(1+2)(3+4)", "2pi".
    text = re.sub(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)\s*\(", r"\1*(", text)  # not "log10("
    text = re.sub(r"\)\s*\(", ")*(", text)
    text = re.sub(r"\)\s*(?=\d|\.\d)", ")*", text)
    text = re.sub(r"(\d)\s*(pi|tau)\b", r"\1*\2", text)
    return " ".join(text.split())


def _strip_thousands(text: str) -> str:
    """Drop thousands separators ("1,234,567"), except inside a function's argument list, where
    a comma separates arguments ("round(3.14159, 2)", "max(1,234)")."""

    def replace(match: re.Match[str]) -> str:
        return match[0] if _inside_call(text, match.start()) else match[0].replace(",", "")

    return _THOUSANDS.sub(replace, text)


def _inside_call(text: str, position: int) -> bool:
    stack: list[bool] = []  # for each open parenthesis: does it start a call?
    for index, char in enumerate(text[:position]):
        if char == "(":
            before = text[:index].rstrip()
            stack.append(bool(before) and (before[-1].isalnum() or before[-1] == "_"))
        elif char == ")" and stack:
            stack.pop()
    return any(stack)


def _check_paren_depth(source: str) -> None:
    depth = 0
    for char in source:
        depth += (char in "([{") - (char in ")]}")
        if depth > MAX_NESTING:
            raise CalculatorError(f"expression nested too deeply (limit {MAX_NESTING} levels)")


# ---------------------------------------------------------------------------------------------
# Numbers: exactness and size checks


def _exact(value: Number) -> bool:
    return isinstance(value, int | Fraction)


def _simplify(value: Number) -> Number:
    """Fractions with denominator 1 become ints; every result is checked for size and finiteness."""
    if isinstance(value, bool):
        raise CalculatorError("true/false are not numbers")
    if isinstance(value, Fraction):
        if max(value.numerator.bit_length(), value.denominator.bit_length()) > _MAX_BITS:
            raise _too_large()
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, int):
        if value.bit_length() > _MAX_BITS:
            raise _too_large()
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise CalculatorError("the result is not a number")
        if math.isinf(value):
            raise _too_large()
        return value
    raise CalculatorError("the result is not a real number")


def _too_large(digits: float | None = None) -> CalculatorError:
    about = f" (about {_digits_text(digits)} digits)" if digits is not None and digits < math.inf else ""
    return CalculatorError(f"result too large{about}; the limit is {MAX_DIGITS} digits")


def _digits_text(digits: float) -> str:
    return f"{digits:.3g}" if digits >= 1e6 else f"{round(digits):,}"


def _to_float(value: Number) -> float:
    try:
        return float(value)
    except OverflowError:
        raise CalculatorError("number too large for floating point") from None


def _as_integer(value: Number, what: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise CalculatorError(f"{what} needs a whole number")


def _digits_of(value: int | Fraction) -> float:
    """Approximate count of decimal digits of |value| (log10 works on ints of any size)."""
    value = abs(Fraction(value))
    if value == 0:
        return 1.0
    return abs(math.log10(value.numerator) - math.log10(value.denominator)) + 1


# ---------------------------------------------------------------------------------------------
# Powers and roots


def power(base: Number, exponent: Number) -> Number:
    """`base ** exponent`, exact where possible, refusing results that would be too large
    *before* computing them (so 9**387420489 costs a logarithm, not minutes of CPU)."""
    if _exact(exponent) and Fraction(exponent).denominator == 1:
        exponent = int(exponent)
    if isinstance(exponent, int):
        if _exact(base):
            return _exact_int_power(Fraction(base), exponent)
        return _float_power(_to_float(base), exponent)
    if isinstance(exponent, Fraction) and _exact(base):
        root = _exact_root(Fraction(base), exponent.denominator)
        if root is not None:
            return _exact_int_power(root, exponent.numerator)
    base_f, exponent_f = _to_float(base), _to_float(exponent)
    if base_f < 0 and not exponent_f.is_integer():
        raise CalculatorError("a negative number to a fractional power is not a real number")
    return _float_power(base_f, exponent_f)


def _exact_int_power(base: Fraction, exponent: int) -> Number:
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero")
    if base in (0, 1) or exponent == 0:
        return _simplify(base**exponent)
    if base == -1:
        return 1 if exponent % 2 == 0 else -1
    # A b-bit number to the k-th power has more than k*(b-1) bits: refuse before computing.
    bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if abs(exponent) * (bits - 1) > _MAX_BITS:
        raise _too_large(abs(exponent) * (_digits_of(base) - 1))
    return _simplify(base**exponent)


def _float_power(base: float, exponent: float | int) -> Number:
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero")
    try:
        return _simplify(math.pow(base, exponent))
    except OverflowError:
        raise _too_large() from None
    except ValueError:
        raise CalculatorError("the power is not a real number") from None


def _exact_root(value: Fraction, degree: int) -> Fraction | None:
    """The exact `degree`-th root of a rational number, or None when it is not rational."""
    if degree > _MAX_ROOT_DEGREE:
        return None
    if value < 0:
        if degree % 2 == 0:
            return None
        root = _exact_root(-value, degree)
        return None if root is None else -root
    numerator = _integer_root(value.numerator, degree)
    denominator = _integer_root(value.denominator, degree)
    if numerator is None or denominator is None:
        return None
    return Fraction(numerator, denominator)


def _integer_root(n: int, degree: int) -> int | None:
    """The exact integer `degree`-th root of n >= 0, or None (Newton's method on integers)."""
    if n < 2:
        return n
    if degree == 2:
        root = math.isqrt(n)
    else:
        root = 1 << -(-n.bit_length() // degree)  # an upper bound: Newton decreases from above
        while True:
            better = ((degree - 1) * root + n // root ** (degree - 1)) // degree
            if better >= root:
                break
            root = better
    return root if root**degree == n else None


# ---------------------------------------------------------------------------------------------
# Functions and constants


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculatorError("square root of a negative number is not a real number")
    return power(x, Fraction(1, 2))


def _cbrt(x: Number) -> Number:
    if _exact(x):
        root = _exact_root(Fraction(x), 3)
        if root is not None:
            return root
    value = _to_float(x)
    return math.copysign(abs(value) ** (1 / 3), value)


def _log(x: Number, base: Number | None = None) -> float:
    # Calculator convention: log is base 10, ln is natural; log(x, b) takes any base.
    if x <= 0:
        raise CalculatorError("logarithm of a number that is not positive")
    if base is None:
        return _log_of(x, math.log10)
    if base <= 0 or base == 1:
        raise CalculatorError("the logarithm base must be positive and not 1")
    return _log_of(x, math.log) / _log_of(base, math.log)


def _log_of(x: Number, log: Callable[[float], float]) -> float:
    # math.log accepts ints of any size; do the same for big fractions, numerator and denominator apart.
    if isinstance(x, Fraction):
        return log(x.numerator) - log(x.denominator)
    return log(x)


def _ln(x: Number) -> float:
    if x <= 0:
        raise CalculatorError("logarithm of a number that is not positive")
    return _log_of(x, math.log)


def _factorial(x: Number) -> int:
    n = _as_integer(x, "factorial")
    if n < 0:
        raise CalculatorError("factorial needs a number that is not negative")
    digits = math.lgamma(n + 1) / math.log(10) if n < 10**300 else math.inf
    if digits > MAX_DIGITS:
        raise _too_large(digits)
    return math.factorial(n)


def _round(x: Number, places: Number = 0) -> Number:
    """Round half away from zero, as calculators do (Python's round() rounds half to even)."""
    places = _as_integer(places, "round's second argument")
    if abs(places) > MAX_DIGITS:
        raise CalculatorError(f"round to at most {MAX_DIGITS} places")
    exact = Fraction(x) if _exact(x) else Fraction(_to_float(x))
    scale = Fraction(10) ** places
    rounded = math.floor(abs(exact) * scale + Fraction(1, 2)) / scale
    result = _simplify(rounded if exact >= 0 else -rounded)
    return result if _exact(x) else float(result)


def _integers(name: str, function: Callable[..., int]) -> Callable[..., int]:
    def call(*args: Number) -> int:
        return function(*(_as_integer(a, name) for a in args))

    return call


def _real(function: Callable[..., float]) -> Callable[..., float]:
    """A math-module function on floats; arguments are converted (exact ones may overflow)."""

    def call(*args: Number) -> float:
        return function(*(_to_float(a) for a in args))

    return call


def _trig(function: Callable[[float], float]) -> Callable[[Number], float]:
    """sin, cos, tan, with pi's rounding noise removed: sin(pi) is 0, not 1.2e-16."""

    def call(x: Number) -> float:
        angle = _to_float(x)
        result = function(angle)
        # Snap only noise: a tiny result of a not-tiny angle (sin(1e-15) stays 1e-15).
        return 0.0 if abs(result) < 1e-12 and abs(angle) > 1e-6 else result

    return call


# name -> (function, minimum arguments, maximum arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (_sqrt, 1, 1),
    "cbrt": (_cbrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "floor": (math.floor, 1, 1),  # floor, ceil and trunc keep fractions exact
    "ceil": (math.ceil, 1, 1),
    "trunc": (math.trunc, 1, 1),
    "factorial": (_factorial, 1, 1),
    "fact": (_factorial, 1, 1),
    "gcd": (_integers("gcd", math.gcd), 1, 10),
    "lcm": (_integers("lcm", math.lcm), 1, 10),
    "min": (min, 1, 20),
    "max": (max, 1, 20),
    "pow": (power, 2, 2),
    "exp": (_real(math.exp), 1, 1),
    "ln": (_ln, 1, 1),
    "log": (_log, 1, 2),
    "log10": (lambda x: _log(x), 1, 1),
    "log2": (lambda x: _log(x, 2), 1, 1),
    "sin": (_trig(math.sin), 1, 1),
    "cos": (_trig(math.cos), 1, 1),
    "tan": (_trig(math.tan), 1, 1),
    "asin": (_real(math.asin), 1, 1),
    "acos": (_real(math.acos), 1, 1),
    "atan": (_real(math.atan), 1, 1),
    "atan2": (_real(math.atan2), 2, 2),
    "sinh": (_real(math.sinh), 1, 1),
    "cosh": (_real(math.cosh), 1, 1),
    "tanh": (_real(math.tanh), 1, 1),
    "hypot": (_real(math.hypot), 1, 10),
    "degrees": (_real(math.degrees), 1, 1),
    "radians": (_real(math.radians), 1, 1),
}
FUNCTIONS["arcsin"], FUNCTIONS["arccos"], FUNCTIONS["arctan"] = (
    FUNCTIONS["asin"],
    FUNCTIONS["acos"],
    FUNCTIONS["atan"],
)

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


# ---------------------------------------------------------------------------------------------
# The evaluator: a whitelist walk over the syntax tree


def _divide(a: Number, b: Number) -> Number:
    if _exact(a) and _exact(b):
        return Fraction(a) / Fraction(b)
    return _to_float(a) / _to_float(b)


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _divide,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: lambda a: +a,
    ast.USub: lambda a: -a,
}
# Friendly names for what is refused, so the message says what was wrong.
_REFUSED = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "if/else",
    ast.JoinedStr: "strings",
    ast.Tuple: "tuples (commas)",
    ast.List: "lists",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.NamedExpr: "assignment",
    ast.Starred: "star arguments",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_LITERAL_EXPONENT = re.compile(r"e([+-]?\d+)$", re.IGNORECASE)


class _Evaluator:
    def __init__(self, source: str) -> None:
        self.source = source

    def visit(self, node: ast.AST, depth: int) -> Number:
        if depth > _MAX_TREE_DEPTH:
            raise CalculatorError("expression too complex")
        depth += 1
        try:
            if isinstance(node, ast.Constant):
                return self.constant(node)
            if isinstance(node, ast.Name):
                return self.name(node)
            if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
                left, right = self.visit(node.left, depth), self.visit(node.right, depth)
                return _simplify(_BINARY[type(node.op)](left, right))
            if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
                return _simplify(_UNARY[type(node.op)](self.visit(node.operand, depth)))
            if isinstance(node, ast.Call):
                return self.call(node, depth)
        except ZeroDivisionError:
            raise CalculatorError("division by zero") from None
        except OverflowError:
            raise _too_large() from None
        what = _REFUSED.get(type(node))
        if isinstance(node, ast.BinOp | ast.UnaryOp):
            what = f"the operator {_operator_text(node)!r}"
        raise CalculatorError(f"not allowed: {what or type(node).__name__}")

    def constant(self, node: ast.Constant) -> Number:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"not a number: {value!r}")
        if isinstance(value, int):
            return _simplify(value)
        # Read the literal's own text, so 0.1 means exactly 1/10 rather than the nearest float.
        text = (ast.get_source_segment(self.source, node) or repr(value)).replace("_", "")
        exponent = _LITERAL_EXPONENT.search(text)
        if exponent and abs(int(exponent[1])) > MAX_DIGITS:
            raise _too_large()
        try:
            return _simplify(Fraction(text))
        except ValueError:  # "inf" or another oddity: keep the float
            return _simplify(value)

    def name(self, node: ast.Name) -> Number:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise CalculatorError(f"{node.id} is a function: write {node.id}(...)")
        raise CalculatorError(f"unknown name {node.id!r}")

    def call(self, node: ast.Call, depth: int) -> Number:
        if not isinstance(node.func, ast.Name):
            raise CalculatorError("only named functions can be called, e.g. sqrt(2)")
        name = node.func.id
        if name not in FUNCTIONS:
            raise CalculatorError(f"unknown function {name!r}")
        if node.keywords:
            raise CalculatorError(f"{name}() takes no keyword arguments")
        function, least, most = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            count = str(least) if least == most else f"{least} to {most}"
            raise CalculatorError(f"{name}() takes {count} argument{'s' if most > 1 else ''}")
        args = [self.visit(arg, depth) for arg in node.args]
        try:
            return _simplify(function(*args))
        except (ValueError, TypeError):
            raise CalculatorError(f"{name}() is not defined for {_args_text(args)}") from None


def _operator_text(node: ast.BinOp | ast.UnaryOp) -> str:
    return {
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.BitXor: "^ (bitwise)",
        ast.MatMult: "@",
        ast.Invert: "~",
        ast.Not: "not",
    }.get(type(node.op), type(node.op).__name__)


def _args_text(args: list[Number]) -> str:
    return ", ".join(format_number(a) for a in args)


# ---------------------------------------------------------------------------------------------
# Presentation


def _format_fraction(value: Fraction) -> str:
    denominator = value.denominator
    for factor in (2, 5):
        while denominator % factor == 0:
            denominator //= factor
    if denominator == 1:  # a terminating decimal: show it exactly unless it is very long
        with localcontext() as context:
            context.prec = MAX_DIGITS * 2
            text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
        if len(text) <= 24:
            return text
    with localcontext() as context:
        context.prec = _FLOAT_DIGITS
        approx = Decimal(value.numerator) / Decimal(value.denominator)
    text = _tidy_exponent(format(approx.normalize(), "g"))
    exact = f"{value.numerator}/{value.denominator}"
    return f"{text} (= {exact})" if len(exact) <= 25 else text


def _tidy_exponent(text: str) -> str:
    """'1e+20' -> '1e20', '1.5e-07' -> '1.5e-7'."""
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m[1] == '-' else ''}{m[2]}", text)


def make_calculator_tool() -> BaseTool:
    """The calculator as a LangChain tool (langchain_core is imported only here)."""
    from langchain_core.tools import StructuredTool

    tool = StructuredTool.from_function(
        func=calculate, name="calculator", description=DESCRIPTION, args_schema=CalculatorInput
    )
    return attach(tool, PROFILE)


MATH_WORDS = "+ - * / ( ) . , % ** ^ sqrt cbrt log ln exp sin cos tan pi of"
"""What an input may use besides the question's own words (no digits: numbers come from the
question, which keeps a small model from inventing operands)."""


def expression_in(question: str) -> str | None:
    """The question as the expression the calculator computes, if it reads as one."""
    try:
        expression = normalize(question)
        evaluate(expression)
    except (CalculatorError, ValueError, ArithmeticError):
        return None
    return expression


PROFILE = ToolProfile(
    result="number",
    task="calculate {input}",
    quote="The result is {observation}.",
    input_words=MATH_WORDS,
    reads_question=expression_in,
)
