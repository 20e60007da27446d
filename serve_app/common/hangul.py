"""Korean grammar the generated texts need: a particle's form depends on the word before it."""


def final_consonant(word: str) -> int:
    """The last syllable's final consonant (batchim) as its index in the Hangul block: 0 for none, or for a last
    character that is not a Hangul syllable; 8 is ㄹ."""
    last = word[-1]
    return (ord(last) - 0xAC00) % 28 if "가" <= last <= "힣" else 0


def josa(word: str, with_final: str, without_final: str) -> str:
    """The particle for `word` (이/가, 은/는, 을/를): one form after a final consonant, the other after a vowel."""
    return with_final if final_consonant(word) else without_final


def has_hangul(text: str) -> bool:
    """Whether `text` holds a Hangul syllable or letter (jamo, compatibility jamo)."""
    return any("가" <= char <= "힣" or "ᄀ" <= char <= "ᇿ" or "ㄱ" <= char <= "ㆎ" for char in text)
