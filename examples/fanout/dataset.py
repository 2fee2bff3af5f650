"""The evaluation dataset: short texts with a label, generated the same way every time."""

from __future__ import annotations

import random

WORDS = ["model", "queue", "rhythm", "audio", "crypt", "eval", "sky", "aeon", "tryst",
         "onion", "lynx", "idea", "gym", "ozone", "spry", "area"]


def load(n: int = 400, seed: int = 1) -> list[dict]:
    """`n` examples {id, text, label}; the label says whether vowels are at least a third of
    the text (what a good model's score above 0.33 predicts)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        vowels = sum(c in "aeiou" for c in text) / len(text)
        out.append({"id": f"ex{i}", "text": text, "label": vowels >= 1 / 3})
    return out
