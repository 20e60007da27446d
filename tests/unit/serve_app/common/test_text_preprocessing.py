"""PII masking, whitespace collapse and truncation of user text, without Ray."""

import re

import pytest

from serve_app.common.text_preprocessing import (
    PII_PLACEHOLDERS,
    collapse_whitespace,
    log_excerpt,
    mask_pii,
    preprocess_text,
)

MASKED = [
    ("배송이 늦어요. 연락처 010-1234-5678, 이메일 kim.minsu@example.co.kr 로 연락 주세요",
     "배송이 늦어요. 연락처 [PHONE], 이메일 [EMAIL] 로 연락 주세요"),
    ("Call me at 010.2345.6789 or mail john_doe+test@mail.com",
     "Call me at [PHONE] or mail [EMAIL]"),
    ("010-1234-5678로 연락", "[PHONE]로 연락"),
    ("번호는01012345678입니다", "번호는[PHONE]입니다"),
    ("016 123 4567", "[PHONE]"),
    ("+82 10 9876 5432", "[PHONE]"),
    ("+82-10-9876-5432 로 전화", "[PHONE] 로 전화"),
    ("+821098765432", "[PHONE]"),
    ("02-123-4567", "[PHONE]"),
    ("(02) 1234-5678", "[PHONE]"),
    ("031-1234-5678", "[PHONE]"),
    ("064-712-3456번", "[PHONE]번"),
    ("070-8765-4321", "[PHONE]"),
    ("안심번호 0505-123-4567", "안심번호 [PHONE]"),
    ("고객센터 1588-1234", "고객센터 [PHONE]"),
    ("주민번호 900101-1234567", "주민번호 [RRN]"),
    ("주민번호 9001011234567 입니다", "주민번호 [RRN] 입니다"),
    ("외국인등록번호 850315-5123456", "외국인등록번호 [RRN]"),
    ("카드 1234-5678-9012-3456 결제", "카드 [CARD] 결제"),
    ("카드 1234 5678 9012 3456 결제", "카드 [CARD] 결제"),
    ("Amex 3782-822463-10005", "Amex [CARD]"),
    ("카드번호 4111111111111111로 결제", "카드번호 [CARD]로 결제"),
    ("계좌 110-123-456789 로 환불", "계좌 [ACCOUNT] 로 환불"),
    ("1002-123-456789", "[ACCOUNT]"),
    ("123-45-678901", "[ACCOUNT]"),
    ("농협 352-1234-5678-93", "농협 [ACCOUNT]"),
    ("카카오뱅크 3333-01-1234567으로", "카카오뱅크 [ACCOUNT]으로"),
]

UNCHANGED = [
    "2026-11-21에 주문했어요",
    "2026.11.21 14:30 도착",
    "가격은 15,000원이고 배송비 $12.50",
    "1500-2000원 정도",
    "10000-20000원 사이",
    "2명 예약",
    "평점 4.5점, 3명 방문",
    "주문번호 20261121",
    "운송장 1234567812345678",
    "2019년부터 2026년까지 12번 주문",
    "",
]


@pytest.mark.parametrize(("raw", "expected"), MASKED)
def test_mask_pii_replaces_each_kind(raw, expected):
    assert mask_pii(raw) == expected


@pytest.mark.parametrize("raw", UNCHANGED)
def test_mask_pii_leaves_ordinary_numbers(raw):
    assert mask_pii(raw) == raw


@pytest.mark.parametrize("raw", [raw for raw, _ in MASKED])
def test_mask_pii_is_idempotent(raw):
    once = mask_pii(raw)
    assert mask_pii(once) == once


def test_placeholders_are_one_per_kind_and_digit_free():
    assert set(PII_PLACEHOLDERS) == {"email", "phone", "rrn", "card", "account"}
    assert len(set(PII_PLACEHOLDERS.values())) == len(PII_PLACEHOLDERS)
    assert not any(re.search(r"\d|@", token) for token in PII_PLACEHOLDERS.values())


@pytest.mark.parametrize(("raw", "expected"), [
    ("  안녕\n\n하세요\t반가워요  ", "안녕 하세요 반가워요"),
    ("배송\u3000빨라요\xa0좋아요", "배송 빨라요 좋아요"),
    ("\r\n \u3000\xa0", ""),
    ("", ""),
])
def test_collapse_whitespace(raw, expected):
    assert collapse_whitespace(raw) == expected


def test_preprocess_masks_phone_split_by_odd_whitespace():
    assert preprocess_text("연락처 010\u30001234\xa05678", 100) == "연락처 [PHONE]"


@pytest.mark.parametrize("max_length", range(3, 20))
def test_truncation_after_masking_leaves_no_card_digits(max_length):
    result = preprocess_text("카드 1234-5678-9012-3456 결제", max_length)
    assert len(result) <= max_length
    assert not re.search(r"\d", result)


def test_preprocess_text_cuts_to_max_length():
    assert preprocess_text("환불  요청합니다", 5) == "환불 요청"
    assert preprocess_text("", 10) == ""
    assert preprocess_text("짧음", 0) == ""


def test_preprocess_text_rejects_negative_length():
    with pytest.raises(ValueError):
        preprocess_text("text", -1)


def test_log_excerpt_is_short_and_masked():
    raw = ("배송이 너무 늦어요.\n" * 5
           + "연락처 010-1234-5678, 메일 kim.minsu@example.co.kr, 주민번호 900101-1234567")
    excerpt = log_excerpt(raw)
    assert len(excerpt) <= 50
    assert "\n" not in excerpt
    assert log_excerpt("연락처 010-1234-5678 이메일 a@b.com", limit=20) == "연락처 [PHONE] 이메일 [EMAIL]"[:20]
    assert not re.search(r"\d", log_excerpt("카드 1234-5678-9012-3456 결제 주민번호 900101-1234567"))
