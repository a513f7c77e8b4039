"""The one code / maths detector: what a user would call code or maths, and nothing else.

The same detector decides ``build_routing_context``'s ``has_code`` / ``has_math`` and
``classify_query``'s class, so every table row is checked through both.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_tui.learning import build_routing_context, classify_query
from jarvis_tui.learning.classify import _classify_reference, _detect_reference, detect

CODE = [
    "for i in range(10): print(i)",
    "SELECT name, email FROM users WHERE created_at > '2024-01-01'",
    "select * from orders limit 10 returns nothing on the replica",
    "const x = await fetch(url);",
    "```\nnpm run build\n```\nfails on CI but not locally",
    "def parse(line): return line.split(',')",
    "class Node: how do I give it a nicer repr?",
    "import pandas as pd fails with ModuleNotFoundError",
    "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nKeyError: 'id'",
    "Why does `len(None)` raise a TypeError?",
    "let total = items.reduce((a, b) => a + b, 0); returns NaN",
    '#include <stdio.h>\nint main() { printf("hi"); }',
    'System.out.println("hello") prints nothing in my IDE',
    "What does `git rebase -i HEAD~3` do?",
    "if (user == null) { return; } is that idiomatic Java?",
    "Fix this: while True: data = sock.recv(1024)",
    "UPDATE orders SET status = 'shipped' WHERE id = 42 is not committing",
    "fn main() { let v: Vec<i32> = Vec::new(); } warns about an unused variable",
    "x = [i**2 for i in nums if i % 2 == 0] can this be a generator?",
    "How do I reverse a list in Python?",
    "async function load() { const r = await fetch('/api'); }",
    "public static void main(String[] args) throws Exception",
    "docker run -p 8080:80 nginx says the port is already allocated",
    "df.groupby('city')['sales'].sum() gives a Series, I want a DataFrame",
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)",
    "</div> closes the wrong container, the flex layout breaks",
    "How do I write a Go function that retries an HTTP call with backoff?",
    "Write a program that prints the first 100 primes",
    "null pointer in obj.getName() right after deserialization",
    "char *p = malloc(10); strcpy(p, s); segfaults",
    "ls -la | grep '.py' | wc -l shows 0 but there are files",
    "sudo apt-get install nginx fails with unmet dependencies",
    "How do I center a div with CSS?",
    "lambda x: x * 2 inside map, why is it lazy?",
    "JSON.parse(body) throws Unexpected token < in JSON at position 0",
    "my_func(a, b) returns None even though I return a value",
    "count += 1 inside the closure never updates the outer variable",
    "git push origin main is rejected: non-fast-forward",
    "The regex ^\\d{3}-\\d{4}$ does not match 555-1234 in JavaScript",
    "std::vector<int> v; v.push_back(3); crashes under ASan",
    "echo $PATH is empty after I edit my .bashrc",
    "pip install torch takes forever, can I use a wheel?",
    "Getting 'undefined is not a function' when I call the callback",
    "My unit tests pass locally but time out on GitHub Actions",
    "What is the time complexity of inserting into a binary search tree?",
]

MATH = [
    "Find the derivative of sin(x)",
    "Give a proof of the Pythagorean theorem",
    "solve for x: 3x + 7 = 22",
    "What is the integral of x^2 from 0 to 3?",
    "What's the probability of rolling two sixes with two dice?",
    "Compute the determinant of [[2, 1], [5, 3]]",
    "3*(4+5)",
    "What is 17 * 23?",
    "Is 91 prime?",
    "Find the eigenvalues of the matrix [[2, 0], [0, 3]]",
    "What is 15% of 80?",
    "Simplify (x^2 - 1)/(x - 1)",
    "f(x) = 2x + 3, what is f(4)?",
    "How many ways can 5 people sit around a round table?",
    "Prove that the square root of 2 is irrational",
    "Calculate the compound interest on $5000 at 4% for 3 years",
    "What is the limit of sin(x)/x as x approaches 0?",
    "Find the area of a circle with radius 4 cm",
    "What's the standard deviation of 2, 4, 4, 4, 5, 5, 7, 9?",
    "Solve the system 2x + y = 5 and x - y = 1",
    "What is the expected value of a fair six-sided die?",
    "Differentiate x^3 * e^x",
    "What is the sum of the first 100 positive integers?",
    "Expand (a + b)^3",
    "What is the greatest common divisor of 84 and 36?",
    "Convert 0.375 to a fraction and explain each step: 0.375 = 375/1000",
    "What's 12 times 14?",
    "Is the series sum 1/n^2 convergent?",
    "∫ x·e^x dx",
    "What is the hypotenuse of a right triangle with legs 3 and 4?",
    "Write the quadratic formula and use it on x^2 - 5x + 6 = 0",
    "A train travels 120 km in 1.5 hours; what is its average speed? 120 / 1.5 = ?",
    "Find dy/dx if y = x^2 ln(x)",
    "What is the volume of a sphere with a diameter of 10 m?",
    "Calculate the mean of 3, 8, 12 and 17",
    "What is log(1000) in base 10?",
    "Factor the polynomial x^2 + 5x + 6",
    "Show that the sum of two even numbers is even",
    "Is 2^31 - 1 a prime number?",
    "What are the odds of drawing an ace from a standard deck?",
    "Compute the dot product of (1, 2, 3) and (4, 5, 6)",
    "What is the second derivative of cos(2x)?",
    "Evaluate the definite integral of 1/x from 1 to e",
]

NEITHER = [
    "What's the capital of Australia?",
    "Can you suggest a vegetarian dinner for six people?",
    "Summarize the pros and cons of remote work",
    "Explain why the sky is blue to a ten-year-old",
    "Draft a polite email to my landlord about the broken heating",
    "Is there a rate limit on the number of messages I can send per day?",
    "My yoga class is at six, can you remind me to leave by 5:30?",
    "Please let me know when the package arrives",
    "Select a few items from the menu that are gluten free",
    "Looking for someone in Paris: any tips for finding a flatmate?",
    "What documents count as proof of address for a bank account?",
    "Who directed The Matrix?",
    "Teamwork is an integral part of our culture; rephrase this for a job ad",
    "A key determinant of success is sleep, is that true?",
    "We offer 24/7 support and a 30-day refund policy",
    "Our meeting moved to 2024-05-01 at 14:30",
    "Senior engineer, 5+ years of experience required",
    "Add 3/4 cup of sugar and a pinch of salt, then what?",
    "Cloud spend is twelve percent over the quarterly budget this month",
    "The score was 3-1 at half time, who scored?",
    "Translate 'good morning' into Japanese",
    "What is the function of the liver?",
    "How do I import my contacts from an old phone?",
    "Import duties on cars from Japan are rising, what does that mean for prices?",
    "Can you recommend a good tan leather jacket?",
    "Write a short poem about autumn rain",
    "What time does the 7-Eleven near the station close?",
    "Call me at 555-0199 after lunch",
    "What should I pack for a week in Lisbon in June?",
    "Compare renting and buying a flat for a family of four",
    "How do I get rid of rust on my bike chain?",
    "How often should I feed my pet corn snake?",
    "Give me three ideas for a birthday picnic",
    "What was the sum they paid for the house in the end?",
    "Explain how a bill becomes a law, step by step",
    "I need to print 40 copies of the flyer, where is the cheapest place?",
    "Who won the World Cup in 2018?",
    "Is it safe to run 10k every day?",
    "What's a good name for a golden retriever puppy?",
    "Rewrite this paragraph so it sounds friendlier: we regret to inform you...",
    "Let's plan the offsite: first the venue, next the catering",
    "How does GPS know where I am?",
    "The Oxford comma: should I use it in a formal letter?",
]


def test_tables_are_big_enough_and_distinct() -> None:
    assert len(CODE) >= 40 and len(MATH) >= 40 and len(NEITHER) >= 40
    assert len(set(CODE + MATH + NEITHER)) == len(CODE) + len(MATH) + len(NEITHER)


@pytest.mark.parametrize("query", CODE)
def test_code_is_detected(query: str) -> None:
    ctx = build_routing_context(query)
    assert ctx.has_code, query
    assert classify_query(query) == "code"


@pytest.mark.parametrize("query", MATH)
def test_math_is_detected(query: str) -> None:
    ctx = build_routing_context(query)
    assert ctx.has_math and not ctx.has_code, query
    assert classify_query(query) == "math"


@pytest.mark.parametrize("query", NEITHER)
def test_plain_language_is_neither(query: str) -> None:
    ctx = build_routing_context(query)
    assert not ctx.has_code and not ctx.has_math, query
    assert classify_query(query) in ("short", "long", "general")


def test_reasoning_and_complexity() -> None:
    plain = build_routing_context("hi there")
    assert (plain.has_reasoning, plain.complexity_score, plain.suggested_max_tokens) == (
        False, 0.0, 1024,
    )  # fmt: skip
    for q in ("Why is my sourdough flat?", "Explain step by step how vaccines work",
              "Prove that there are infinitely many primes"):  # fmt: skip
        assert build_routing_context(q).has_reasoning, q
    hard = build_routing_context(
        "Explain step by step why this recursive function is slow, then compare it with "
        "an iterative version:\n1. def fib(n): return fib(n-1) + fib(n-2)\n2. what is its "
        "time complexity?\n3. how would you prove it?"
    )
    assert hard.has_code and hard.has_reasoning
    assert 0.55 <= hard.complexity_score <= 1.0
    assert hard.suggested_max_tokens >= 8192
    assert plain.complexity_score < build_routing_context(MATH[0]).complexity_score


_pieces = st.sampled_from(
    [
        "def ", "class ", "Class ", "import ", "for ", " in ", ":", "select ", " from ",
        "where", "(", ")", "()", "('", "{", "}", ";", "=", "==", "+", "*", "^", "-", "/",
        "`", "```", "x", "2", "12", " ", "\n", "\t", "sin", "solve", "integral of",
        "proof", "matrix", "The ", "%", " of ", "KeyError", "a.b", "my_f", "$PATH", "|",
        " grep", "<div>", "</p>", "ſ", "K", "İ", "é", "∫", "Σ", "π", "let ", "x ",
        "what is ", "derivative", "lim", " as x approaches 0", "python", "c++",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_pieces, st.text(max_size=6)), max_size=30).map("".join))
def test_prefilter_never_hides_a_match(query: str) -> None:
    """The trigger prefilter gives exactly what running every regex gives."""
    assert detect(query) == _detect_reference(query)
    assert classify_query(query) == _classify_reference(query)


def test_every_probe_regex_starts_with_a_literal() -> None:
    """So that ``re`` scans for the literal instead of trying the regex at every position
    (a probe without one cost 20-80 µs on a 1 kB query, with one under 1 µs)."""
    import re._constants as sre_c
    import re._parser as sre_p

    from jarvis_tui.learning.classify import _PROBES

    slow = [
        (p.name, p.regex.pattern)
        for p in _PROBES
        if p.regex is not None
        and sre_p.parse(p.regex.pattern, p.regex.flags)[0][0] is not sre_c.LITERAL
    ]
    assert slow == []
