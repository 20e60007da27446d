"""User text costs bounded time whatever it holds: the PII patterns run in linear time, and preprocess_text
cuts the raw text before any pattern runs, at a point where no PII is split."""

import re
import time

import pytest

from serve_app.common import input_limits as limits_module
from serve_app.common.input_limits import InputLimits
from serve_app.common.text_preprocessing import CUT_MARGIN, collapse_whitespace, mask_pii, preprocess_text

N = 200_000
# Runs without spaces that the old patterns rescanned from every position (quadratic: ~40 s for 'a' * N).
ADVERSARIAL = {
    "letters": "a" * N,
    "digits": "1" * N,
    "full-width digits": "\uff11" * N,
    "at signs": "a@" * (N // 2),
    "dashes": "1-" * (N // 2),
    "two-digit groups": "12-" * (N // 3),
    "dots": "." * N,
    "dotted local parts": ("a." * 30 + "@" + "b." * 120 + "1") * (N // 300),
    "mixed": "ab.c-1_2%3+@(0)" * (N // 15),
    "grouped digits": "1234-5678-9012-" * (N // 15),
    "phone prefixes": "+82(0)10 " * (N // 9),
    "whitespace": " \n\u3000" * (N // 3),
}
# A second past any of these (they take a few tens of ms here) means a pattern went quadratic again.
BOUND_S = 1.0


def _timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_masking_a_long_run_is_fast_and_changes_nothing_but_pii(text):
    masked, seconds = _timed(mask_pii, text)
    assert seconds < BOUND_S
    # Nothing in these runs is PII, save what the grouped-digit runs read as an account or card at their start.
    assert masked == text or (masked.startswith("[") and len(masked) < len(text))


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_pii_after_a_long_run_is_still_masked(text):
    masked, seconds = _timed(mask_pii, text + " kim.minsu@example.co.kr 010-1234-5678")
    assert seconds < BOUND_S
    assert masked.endswith(" [EMAIL] [PHONE]")


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
@pytest.mark.parametrize("max_length", [50, 2048])
def test_preprocess_text_is_fast_and_cuts(text, max_length):
    result, seconds = _timed(preprocess_text, text, max_length)
    assert seconds < BOUND_S
    assert len(result) <= max_length
    assert preprocess_text(result, max_length) == result  # nothing left for the masker


@pytest.mark.parametrize(("text", "kept"), [
    ("a" * N, "a"), ("1" * N, "1"), ("\uff11" * N, "\uff11"), ("." * N, "."), ("a@" * N, "a@"), ("1-" * N, "1-"),
    (" \n" * N, ""),
])
def test_long_runs_are_kept_up_to_max_length(text, kept):
    assert preprocess_text(text, 100) == (kept * 100)[:100]


def test_emails_longer_than_usual_are_masked_whole():
    assert mask_pii(f"{'x' * 100}@{'d' * 300}.com, ok") == "[EMAIL], ok"
    assert mask_pii("a" * N + "@example.com") == "[EMAIL]"


def test_the_raw_text_is_cut_to_text_chars_before_anything_reads_it(monkeypatch):
    monkeypatch.setattr(limits_module, "_current", InputLimits(text_chars=100))
    text = "word " * 20 + "kim.minsu@example.co.kr " + "tail " * N
    assert preprocess_text(text, 10_000) == ("word " * 20).strip()
    # The limit is read on each call: it changes live.
    monkeypatch.setattr(limits_module, "_current", InputLimits(text_chars=200))
    assert preprocess_text(text, 10_000).startswith(("word " * 20) + "[EMAIL] tail")


PII = ["kim.minsu@example.co.kr", "010-1234-5678", "1234 5678 9012 3456", "900101-1234567", "+82 (0)10 9876 5432"]
LEAK = re.compile(r"\d|@|kim")


@pytest.mark.parametrize("pii", PII)
def test_the_text_chars_cut_never_lets_the_head_of_split_pii_through(pii, monkeypatch):
    """Collapsing whitespace shrinks the text after the cut: the cut must still fall between words."""
    for padding in range(0, 200, 7):
        monkeypatch.setattr(limits_module, "_current", InputLimits(text_chars=padding + 12))
        assert not LEAK.search(preprocess_text("\n" * padding + "연락처 " + pii + " 입니다", 1000))


@pytest.mark.parametrize("pii", PII)
def test_the_max_length_cut_never_lets_the_head_of_split_pii_through(pii):
    """Masking shrinks the text before the cut point (10 cards of 25 chars become 100), so the raw text
    is cut past where the output ends: that cut too must fall between words."""
    cards = "카드 1234-5678-9012-3456 " * 10
    text = cards + pii + " 입니다" * 50
    for max_length in range(len(cards) // 2, len(cards) + 20):
        assert not LEAK.search(preprocess_text(text, max_length))


def test_natural_text_is_cut_as_if_it_had_been_masked_whole():
    text = "배송이 늦어요.\n 연락처 010-1234-5678, 메일 kim@example.com 로 주세요. Thanks!  " * 40
    whole = mask_pii(collapse_whitespace(text))
    for max_length in range(0, 600, 3):
        result = preprocess_text(text, max_length)
        # Where masking shrank the text, less than max_length may be left; never anything else.
        assert whole.startswith(result) and len(result) >= min(max_length, CUT_MARGIN // 2)
    plain = "one two three four " * 500
    assert all(preprocess_text(plain, n) == collapse_whitespace(plain)[:n] for n in range(0, 3000, 37))
