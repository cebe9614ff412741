"""botocore's `pattern` constraints are Java regular expressions (the services validate with java.util.regex):
translate them to Python's `re`, and refuse (fail closed) what cannot be translated faithfully.

Handled: `\\p{..}` Unicode general categories and the POSIX/java classes botocore's models use, `\\uXXXX`
including UTF-16 surrogate pairs (Java reads `\\uD800\\uDC00` as U+10000), `\\Q..\\E` quoting, `\\z`/`\\Z`,
`\\h`, a `-` right after a class escape inside brackets (`[\\w-_]`: a literal `-` in Java, an error in Python).
Refused: class intersection `&&`, nested brackets, `\\R`, `\\X`, `\\G`, `\\v` (vertical whitespace in Java, a
vertical tab in Python), and any `\\p{..}` name not below.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

_POSIX = {
    # java.util.regex.Pattern, US-ASCII POSIX classes (the default, without UNICODE_CHARACTER_CLASS).
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": "\\x20-~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
_CATEGORIES = frozenset(
    [
        "L",
        "Lu",
        "Ll",
        "Lt",
        "Lm",
        "Lo",
        "M",
        "Mn",
        "Mc",
        "Me",
        "N",
        "Nd",
        "Nl",
        "No",
        "P",
        "Pc",
        "Pd",
        "Ps",
        "Pe",
        "Pi",
        "Pf",
        "Po",
        "S",
        "Sm",
        "Sc",
        "Sk",
        "So",
        "Z",
        "Zs",
        "Zl",
        "Zp",
        "C",
        "Cc",
        "Cf",
        "Cs",
        "Co",
        "Cn",
    ]
)
_HORIZONTAL_SPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"


class UntranslatablePatternError(ValueError):
    """A Java pattern uses a construct this translator cannot reproduce exactly."""


def _escape_char(code: int) -> str:
    return f"\\U{code:08x}"


@cache
def _category_ranges(prefix: str) -> str:
    """Bracket-body ranges of every code point whose Unicode general category starts with `prefix`."""
    ranges: list[tuple[int, int]] = []
    start = -1
    for code in range(sys.maxunicode + 1):
        inside = unicodedata.category(chr(code)).startswith(prefix)
        if inside and start < 0:
            start = code
        elif not inside and start >= 0:
            ranges.append((start, code - 1))
            start = -1
    if start >= 0:
        ranges.append((start, sys.maxunicode))
    return "".join(
        _escape_char(low) if low == high else f"{_escape_char(low)}-{_escape_char(high)}" for low, high in ranges
    )


def _property(name: str) -> str:
    """The bracket body of `\\p{name}`."""
    name = name.removeprefix("Is")
    if name in _POSIX:
        return _POSIX[name]
    if name.startswith("general_category="):
        name = name.split("=", 1)[1]
    if name in _CATEGORIES:
        return _category_ranges(name)
    aliases = {"Alphabetic": "L", "Letter": "L", "Digit": "Nd", "Punctuation": "P"}
    if name in aliases:
        return _category_ranges(aliases[name])
    raise UntranslatablePatternError(f"\\p{{{name}}} is not a class this checker knows")


def _read_hex(pattern: str, at: int, digits: int) -> int:
    text = pattern[at : at + digits]
    if len(text) != digits or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise UntranslatablePatternError(f"bad \\u escape at {at}")
    return int(text, 16)


def translate(pattern: str) -> str:
    out: list[str] = []
    in_class = False
    class_start = False
    after_class_escape = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise UntranslatablePatternError("trailing backslash")
            nxt = pattern[i + 1]
            if nxt in "pP":
                if i + 2 < len(pattern) and pattern[i + 2] == "{":
                    end = pattern.index("}", i + 3)
                    name = pattern[i + 3 : end]
                    i = end + 1
                else:
                    name = pattern[i + 2]
                    i += 3
                body = _property(name)
                if nxt == "P":
                    if in_class:
                        raise UntranslatablePatternError("\\P{..} inside brackets")
                    out.append(f"[^{body}]")
                else:
                    out.append(body if in_class else f"[{body}]")
                after_class_escape = True
                class_start = False
                continue
            if nxt == "u":
                code = _read_hex(pattern, i + 2, 4)
                i += 6
                if 0xD800 <= code <= 0xDBFF and pattern[i : i + 2] == "\\u":
                    low = _read_hex(pattern, i + 2, 4)
                    if 0xDC00 <= low <= 0xDFFF:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                out.append(_escape_char(code))
                after_class_escape = False
                class_start = False
                continue
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = len(pattern) if end < 0 else end + 2
                continue
            if nxt == "z":
                out.append("\\Z")
            elif nxt == "Z":
                out.append("(?=\\n?\\Z)")
            elif nxt == "h":
                out.append(_HORIZONTAL_SPACE if in_class else f"[{_HORIZONTAL_SPACE}]")
            elif nxt in "RXGvHVkKe":
                raise UntranslatablePatternError(f"\\{nxt} has no exact Python equivalent")
            else:
                out.append(pattern[i : i + 2])
            after_class_escape = nxt in "wWdDsSh"
            class_start = False
            i += 2
            continue
        if in_class:
            if char == "[":
                raise UntranslatablePatternError("nested character class (union/intersection)")
            if char == "&" and pattern[i : i + 2] == "&&":
                raise UntranslatablePatternError("character class intersection &&")
            if char == "]" and not class_start:
                in_class = False
                out.append(char)
            elif char == "-" and after_class_escape:
                out.append("\\-")
            else:
                out.append(char)
            class_start = char == "^" and out[-2:-1] == ["["] and class_start
        else:
            if char == "[":
                in_class = True
                class_start = True
                out.append(char)
                if pattern[i + 1 : i + 2] == "^":
                    out.append("^")
                    i += 1
                i += 1
                after_class_escape = False
                continue
            out.append(char)
        after_class_escape = False
        i += 1
    if in_class:
        raise UntranslatablePatternError("unterminated character class")
    return "".join(out)


@cache
def compile_java(pattern: str) -> re.Pattern[str]:
    """The compiled Python equivalent of a Java pattern (cached); UntranslatablePatternError if none."""
    try:
        return re.compile(translate(pattern))
    except re.error as exc:
        raise UntranslatablePatternError(str(exc)) from exc
