"""Small deterministic stand-ins for the models of examples/pipeline.zx: a prompt source, a text
generator and an embedder that give the same output for the same input on every run (so a
resumed pipeline can be compared with an uninterrupted one), with a little latency each."""

from __future__ import annotations

import hashlib
import math
import os
import time

WORDS = ("fast", "slow", "model", "data", "token", "vector", "signal", "noise", "graph",
         "layer", "weight", "batch", "score", "label", "query", "answer")
DIMENSIONS = 8
LATENCY = float(os.environ.get("PIPELINE_LATENCY", "0.01"))  # seconds per model call


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def load(n: int) -> list[str]:
    """The experiment's prompts."""
    return [f"prompt {i}: describe {WORDS[i % len(WORDS)]} and {WORDS[(i * 7) % len(WORDS)]}"
            for i in range(n)]


def generate(prompt: str) -> str:
    """A 'completion': twelve words chosen by the prompt's hash."""
    time.sleep(LATENCY)
    digest = _digest(prompt)
    return " ".join(WORDS[b % len(WORDS)] for b in digest[:12])


def embed(text: str) -> list[float]:
    """A unit vector of DIMENSIONS floats derived from the text."""
    time.sleep(LATENCY / 2)
    digest = _digest(text)
    raw = [(digest[i] - 127.5) / 127.5 for i in range(DIMENSIONS)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 12) for x in raw]


def analyse(vectors: list[list[float]]) -> dict:
    """Summary of the embeddings: count, mean vector, and the most similar pair."""
    n = len(vectors)
    mean = [round(sum(v[d] for v in vectors) / n, 9) for d in range(DIMENSIONS)]
    best, pair = -2.0, [0, 0]
    for i in range(n):
        for j in range(i + 1, n):
            cosine = sum(a * b for a, b in zip(vectors[i], vectors[j], strict=True))
            if cosine > best:
                best, pair = cosine, [i, j]
    return {"count": n, "mean": mean, "most_similar": pair, "cosine": round(best, 9)}
