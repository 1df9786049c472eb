"""The calculator: exact results checked against Python's own arithmetic (hypothesis), natural
phrasing, presentation, and hostile inputs that must be refused quickly with a clear message."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_app.tools.calculator import (
    MAX_DIGITS,
    MAX_INPUT_CHARS,
    CalculatorError,
    calculate,
    evaluate,
    format_number,
    make_calculator_tool,
)

# An expression is generated together with its value, computed with Fraction arithmetic
# (None when Python itself raises ZeroDivisionError). Every operation is parenthesised, so
# the text means exactly the tree that produced the value.
Expr = tuple[str, Fraction | None]


def _render(value: Fraction | int, text: str) -> str:
    return f"({text})" if value < 0 else text


integers = st.integers(-1000, 1000).map(lambda n: (_render(n, str(n)), Fraction(n)))
decimals = st.builds(
    lambda digits, places: (_render(digits, str(Decimal(digits).scaleb(-places))), Fraction(digits, 10**places)),
    st.integers(-99999, 99999),
    st.integers(1, 4),
)
powers = st.builds(
    lambda base, exponent: (
        f"{base[0]} ** {_render(exponent, str(exponent))}",
        None if base[1] == 0 and exponent < 0 else base[1] ** exponent,
    ),
    integers | decimals,
    st.integers(-3, 3),
)
leaves = integers | decimals | powers.map(lambda pair: (f"({pair[0]})", pair[1]))

_OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: Fraction(a // b),
    "%": lambda a, b: a % b,
}


def _combine(left: Expr, operator: str, right: Expr) -> Expr:
    text = f"({left[0]} {operator} {right[0]})"
    if left[1] is None or right[1] is None:
        return text, None
    try:
        return text, _OPERATORS[operator](left[1], right[1])
    except ZeroDivisionError:
        return text, None


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    binary = st.builds(_combine, children, st.sampled_from(sorted(_OPERATORS)), children)
    negated = children.map(
        lambda e: (f"-{e[0]}" if e[0].startswith("(") else f"-({e[0]})", None if e[1] is None else -e[1])
    )
    return binary | negated


expressions = st.recursive(leaves, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_exact_arithmetic_matches_python(expression: Expr) -> None:
    text, expected = expression
    if expected is None:
        with pytest.raises(CalculatorError, match="division by zero"):
            evaluate(text)
    else:
        result = evaluate(text)
        assert isinstance(result, int | Fraction)  # exact: never a float
        assert result == expected
        if expected.denominator == 1:
            assert isinstance(result, int)


integer_only = st.recursive(
    integers,
    lambda children: st.builds(_combine, children, st.sampled_from(["+", "-", "*"]), children),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(integer_only)
def test_integer_results_are_printed_in_full(expression: Expr) -> None:
    text, expected = expression
    assert calculate(text) == str(int(expected))


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 10**6), st.integers(0, 10**6))
def test_powers_are_exact_or_refused_by_size(base: int, exponent: int) -> None:
    started = time.perf_counter()
    try:
        result = evaluate(f"{base}**{exponent}")
    except CalculatorError as error:
        assert "result too large" in str(error)
        assert exponent * math.log10(base) > MAX_DIGITS - 1  # refused only when really too big
    else:
        assert result == base**exponent
    assert time.perf_counter() - started < 0.5


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 7), st.booleans())
def test_exact_roots_of_perfect_powers(root: int, degree: int, negative: bool) -> None:
    power = root**degree
    if negative and degree % 2:
        root, power = -root, -power
    assert evaluate(f"({power}) ** (1/{degree})") == root
    if degree == 2:
        assert evaluate(f"sqrt({power})") == root and isinstance(evaluate(f"sqrt({power})"), int)


# -- natural phrasing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("15% of 80", "12"),
        ("what is 15 percent of 80?", "12"),
        ("7 times 6", "42"),
        ("7 x 6", "42"),
        ("7x6", "42"),
        ("7 × 6", "42"),
        ("square root of 144", "12"),
        ("sqrt 144", "12"),
        ("cube root of 27", "3"),
        ("What is the square root of 144?", "12"),
        ("3かける7は？", "21"),
        ("２の１０乗は？", "1024"),
        ("144の平方根は？", "12"),
        ("100たす23は？", "123"),
        ("12わる4は何ですか？", "3"),
        ("200の15%は？", "30"),
        ("what is 2 plus 2", "4"),
        ("What's 10 minus 3?", "7"),
        ("10 divided by 4", "2.5"),
        ("9 ÷ 3", "3"),
        ("2^10", "1024"),
        ("2 to the power of 8", "256"),
        ("3 squared", "9"),
        ("2 cubed", "8"),
        ("17 mod 5", "2"),
        ("1,234,567 + 1", "1234568"),
        ("1,234.5 * 2", "2469"),
        ("50%", "0.5"),
        ("5!", "120"),
        ("2(3+4)", "14"),
        ("calculate (1+2)(3+4)", "21"),
        ("0.1 + 0.2", "0.3"),
        ("1.5e3 + 1", "1501"),
        ("2.5e-3", "0.0025"),
        ("1/3", "0.333333333333 (= 1/3)"),
        ("round(2.5)", "3"),
        ("round(3.14159, 2)", "3.14"),
        ("max(1,234)", "234"),  # a comma inside a call separates arguments
        ("log(1000)", "3"),
        ("log(8, 2)", "3"),
        ("ln(e)", "1"),
        ("log2(1024)", "10"),
        ("sin(pi)", "0"),
        ("cos(0)", "1"),
        ("sqrt(2)", "1.41421356237"),
        ("2pi", "6.28318530718"),
        ("8 ** (1/3)", "2"),
        ("(-8) ** (1/3)", "-2"),
        ("4 ** 0.5", "2"),
        ("factorial(20)", "2432902008176640000"),
        ("gcd(12, 18)", "6"),
        ("abs(-3/4)", "0.75"),
        ("floor(7/2)", "3"),
        ("-7 // 2", "-4"),
        ("10**999 // 10**998", "10"),
        ("0x1f", "31"),
        ("1e-30", "1e-30"),
    ],
)
def test_natural_phrasing_and_presentation(question: str, answer: str) -> None:
    assert calculate(question) == answer


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(3, 10), "0.3"),
        (Fraction(-1, 8), "-0.125"),
        (Fraction(2, 3), "0.666666666667 (= 2/3)"),
        (0.1 + 0.2, "0.3"),
        (-0.0, "0"),
        (1e20, "1e20"),
        (1.5e-7, "1.5e-7"),
        (10**30, "1" + "0" * 30),
    ],
)
def test_format_number(value: int | Fraction | float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1/0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("sqrt(-1)", "square root of a negative number is not a real number"),
        ("(-8) ** 0.25", "a negative number to a fractional power is not a real number"),
        ("log(0)", "logarithm of a number that is not positive"),
        ("asin(2)", "asin() is not defined for 2"),
        ("factorial(2.5)", "factorial needs a whole number"),
        ("factorial(-1)", "factorial needs a number that is not negative"),
        ("sqrt", "sqrt is a function: write sqrt(...)"),
        ("foo(1)", "unknown function 'foo'"),
        ("x + 1", "unknown name 'x'"),
        ("sqrt(1, 2)", "sqrt() takes 1 argument"),
        ("sqrt(x=4)", "sqrt() takes no keyword arguments"),
        ("2 +", "cannot read '2 +' as a math expression"),
        ("", "empty expression"),
        ("1 < 2", "not allowed: comparisons"),
        ("1 << 3", "not allowed: the operator '<<'"),
        ("exp(1000)", "result too large; the limit is 1000 digits"),
    ],
)
def test_errors_are_clear_one_liners(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError) as caught:
        evaluate(expression)
    assert str(caught.value) == message
    assert calculate(expression) == f"calculator error: {message}"


# -- hostile input ------------------------------------------------------------------------------------

HOSTILE = [
    ("().__class__", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "only named functions"),
    ("__import__('os').system('id')", "only named functions"),
    ("__import__('os')", "unknown function '__import__'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("eval('1+1')", "unknown function 'eval'"),
    ("exec('import os')", "unknown function 'exec'"),
    ("globals()", "unknown function 'globals'"),
    ("__builtins__", "unknown name '__builtins__'"),
    ("sqrt.__globals__", "attribute access"),
    ("lambda: 1", "lambda"),
    ("(lambda x: x)(1)", "lambda"),
    ("[x for x in (1, 2)]", "comprehensions"),
    ("{x for x in (1, 2)}", "comprehensions"),
    ("sum(x for x in (1, 2))", "unknown function 'sum'"),
    ("(y := 5)", "assignment"),
    ("'a' * 10**6", "not a number"),
    ("f'{1}'", "strings"),
    ("1 if 1 else 2", "if/else"),
    ("[1, 2][0]", "indexing"),
    ("import os", "cannot read"),
    ("9**9**9", "result too large"),
    ("9**9**9**9", "result too large"),
    ("10**10**10", "result too large"),
    ("2**-10**10", "result too large"),
    ("0.5 ** 1e9", "result too large"),
    ("pow(7, 10**8)", "result too large"),
    ("(10**500) * (10**600)", "result too large"),
    ("1e100000", "result too large"),
    ("factorial(100000)", "result too large"),
    ("100000!", "result too large"),
    ("factorial(10**400)", "result too large"),
    ("round(1, 10**9)", "round to at most"),
    ("tan(10**400)", "too large for floating point"),
    ("cosh(1e6)", "result too large"),
    ("(" * 45 + "1" + ")" * 45, "nested too deeply"),
    ("(" * 240 + "1" + ")" * 240, "nested too deeply"),
    ("-" * 400 + "1", "too complex"),
    ("1" * (MAX_INPUT_CHARS + 1), "too long"),
    ("1+" * 5000 + "1", "too long"),
]


@pytest.mark.timeout(30)  # a regression that computes 9**9**9 must fail, not hang the suite
@pytest.mark.parametrize(("expression", "message"), HOSTILE, ids=[h[0][:30] for h in HOSTILE])
def test_hostile_input_is_refused_quickly(expression: str, message: str) -> None:
    started = time.perf_counter()
    text = calculate(expression)
    elapsed = time.perf_counter() - started
    assert text.startswith("calculator error: ") and message in text
    assert "\n" not in text and len(text) < 200
    assert elapsed < 0.5


def test_long_sums_are_not_mistaken_for_nesting() -> None:
    assert calculate("+".join(["1"] * 240)) == "240"


def test_langchain_tool() -> None:
    tool = make_calculator_tool()
    assert tool.name == "calculator" and set(tool.args) == {"expression"}
    assert tool.invoke({"expression": "15% of 80"}) == "12"
    assert tool.invoke({"expression": "1/0"}) == "calculator error: division by zero"


def test_the_calculator_reads_a_whole_question_when_it_can():
    """Its ToolProfile.reads_question: the agent passes such a question on instead of a copy."""
    from agent_app.tools.calculator import PROFILE, expression_in

    assert PROFILE.reads_question is expression_in
    assert calculate(expression_in("What is 14 squared?")) == "196"
    assert calculate(expression_in("What is (3 + 4) times 5?")) == "35"
    assert expression_in("Three books cost 8.40 each. What do they cost together?") is None
    assert expression_in("Hello there!") is None
