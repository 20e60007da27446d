"""User text made safe for an LLM or a log line: whitespace collapsed, PII masked."""

import re
from functools import partial

from serve_app.common.input_limits import input_limits

PII_PLACEHOLDERS = {
    "email": "[EMAIL]",
    "rrn": "[RRN]",
    "card": "[CARD]",
    "phone": "[PHONE]",
    "account": "[ACCOUNT]",
}

# str patterns: \s covers NBSP and U+3000, and \d covers full-width digits, so both are caught.
_WHITESPACE = re.compile(r"\s+")

# Every pattern runs in linear time: a lookbehind keeps a match from starting inside a run of the chars it
# is made of, and its quantifiers are bounded or read that run once, so a long run without spaces is not
# rescanned from each of its positions (200,000 letters took 90 s before). So an e-mail starts where its run
# of local-part chars starts; one glued to the end of another ("a@b.com.c@d.com") is not masked.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

# YYMMDD-[1-8]xxxxxx; 5-8 in the seventh digit are foreigner registration numbers.
_RRN = re.compile(
    r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[- ]?[1-8]\d{6}(?!\d)"
)

# Grouped forms (4-4-4-1..4-4-4-4-3, Amex 4-6-5) are masked as written; bare runs only when
# Luhn-valid, since 14-19 digit tracking and order numbers are common.
_CARD = re.compile(
    r"(?<!\d)(?:\d{4}([- ])\d{4}\1\d{4}\1(?:\d{4}\1\d{1,3}|\d{1,4})"
    r"|\d{4}([- ])\d{6}\2\d{5}"
    r"|(?P<run>\d{14,19}))(?!\d)"
)

# Mobile 01x, Seoul 02, regional 031-064, VoIP 070, safe numbers 050x (optionally +82), then the
# real representative-number prefixes only, so price ranges like "1500-2000원" stay.
_PHONE = re.compile(
    r"(?<!\d)(?:(?:\+82[-. ]?(?:\(0\)|0)?|\(?0)(?:1[016789]|2|[3-6][1-5]|70|50[2-8])\)?"
    r"[-. ]?\d{3,4}[-. ]?\d{4}"
    r"|1(?:5(?:22|33|44|55|66|77|88|99)|6(?:00|44|61|66|70|88)|8(?:00|11|33|55|77|99))-\d{4}"
    r")(?!\d)"
)

_ACCOUNT = re.compile(r"(?<!\d)\d{2,7}(?:-\d{2,7}){1,3}(?!\d)")


# Where a cut can never split PII: before a char no pattern matches, or before whitespace that is not
# followed by a digit or "(" (inside a match, a separator always is).
_WORD_BREAK = re.compile(r"[^A-Za-z\d._%+@()\s-]|\s(?=[^\s\d(])")
# How far past max_length masking reads before the output is cut: enough to find a word break after it.
CUT_MARGIN = 64


def _luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum that every card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _is_card(match: re.Match) -> bool:
    return match["run"] is None or _luhn_valid(match["run"])


def _is_account(match: re.Match) -> bool:
    groups = match[0].split("-")
    digits = sum(map(len, groups))
    # Two groups without a long one read as a range ("10000-20000"), not an account.
    return 10 <= digits <= 14 and (len(groups) > 2 or max(map(len, groups)) >= 6)


def _always(match: re.Match) -> bool:
    return True


# Most specific first: an RRN or card would otherwise be eaten as an account, a phone as an account.
_RULES = (
    ("email", _EMAIL, _always),
    ("rrn", _RRN, _always),
    ("card", _CARD, _is_card),
    ("phone", _PHONE, _always),
    ("account", _ACCOUNT, _is_account),
)


def _replace(match: re.Match, placeholder: str, accept) -> str:
    return placeholder if accept(match) else match[0]


def mask_pii(text: str) -> str:
    """Replace every email, phone, RRN, card and account number in `text` with its placeholder."""
    for kind, pattern, accept in _RULES:
        replace = partial(_replace, placeholder=PII_PLACEHOLDERS[kind], accept=accept)
        text = pattern.sub(replace, text)
    return text


def collapse_whitespace(text: str) -> str:
    """Turn each run of whitespace (newlines, tabs, NBSP, U+3000 too) into one space; strip."""
    return _WHITESPACE.sub(" ", text).strip()


def _clip(text: str, length: int) -> str:
    """`text` cut to at most `length` chars, at the last word break in the final CUT_MARGIN of them, so the
    cut splits no e-mail or number (whose unmasked head would then get through); a hard cut if there is none."""
    if len(text) <= length:
        return text
    breaks = [found.start() for found in _WORD_BREAK.finditer(text, max(0, length - CUT_MARGIN), length + 1)]
    return text[:breaks[-1] if breaks else length]


def preprocess_text(text: str, max_length: int) -> str:
    """Collapse whitespace, mask PII, then cut to `max_length` chars: a cut never splits raw PII.

    The work is bounded whatever comes in: the raw text is cut to input_limits().text_chars before any
    pattern runs, and masking reads only CUT_MARGIN chars past max_length."""
    if max_length < 0:
        raise ValueError(f"max_length must be >= 0, got {max_length}")
    text = collapse_whitespace(_clip(text, input_limits().text_chars))
    return mask_pii(_clip(text, max_length + CUT_MARGIN))[:max_length]


def log_excerpt(text: str, limit: int = 50) -> str:
    """A masked, collapsed excerpt of at most `limit` chars, safe to put on a log line."""
    return preprocess_text(text, limit)
