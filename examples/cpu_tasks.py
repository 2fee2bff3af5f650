"""CPU-bound work for examples/parallel.zx: pure Python, so it holds the GIL of its worker."""


def busy(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total
