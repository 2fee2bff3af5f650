"""A scorer for examples/evaluate.zx that fails for good on some inputs, as real models and
services do: empty texts and texts with digits raise, every time."""


def score(text: str) -> float:
    """The share of vowels in `text`, rounded to 3 places."""
    if not text:
        raise ValueError("empty input")
    if any(ch.isdigit() for ch in text):
        raise TypeError(f"cannot score digits in {text!r}")
    return round(sum(ch in "aeiou" for ch in text.lower()) / len(text), 3)
