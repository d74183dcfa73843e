"""Time `signature()` on realistic error texts (the simulator's families) and on plain messages.

    .venv/bin/python benchmarks/bench_signature.py [N]

Prints microseconds per call for each corpus. Grouping a million failed rows calls `signature()` once
per distinct digit-folded error (see `core/groups.py`), so its cost bounds a cold regroup.
"""

from __future__ import annotations

import random
import sys
import time

from batchtop.core.signature import signature
from batchtop.core.simulator.errors import FAMILIES


def corpora(n: int) -> dict[str, list[str]]:
    """Error texts by kind: simulator families, short messages without digits or paths, and tracebacks."""
    rng = random.Random(1)
    families = [
        f.message(rng, 1_760_000_000.0 + i) for i in range(n) for f in [rng.choice(list(FAMILIES.values()))]
    ]
    plain = [
        rng.choice(
            (
                "database is locked",
                "Connection reset by peer",
                "KeyError: 'answer'",
                "ValueError: empty response",
                "cancelled by user",
            )
        )
        for _ in range(n)
    ]
    tracebacks = [
        "Traceback (most recent call last):\n"
        f'  File "/srv/app/worker.py", line {rng.randint(1, 900)}, in run\n    result = step(item)\n'
        f"{rng.choice(list(FAMILIES.values())).message(rng, 1_760_000_000.0)}"
        for _ in range(n)
    ]
    return {"families": families, "plain": plain, "tracebacks": tracebacks}


def measure(n: int) -> dict[str, dict[str, float]]:
    """Best-of-5 microseconds per `signature()` call for each corpus of `n` texts."""
    out = {}
    for name, texts in corpora(n).items():
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for text in texts:
                signature(text)
            best = min(best, time.perf_counter() - started)
        out[name] = {"us_per_call": round(best / len(texts) * 1e6, 2), "texts": len(texts)}
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    for name, r in measure(n).items():
        print(f"{name:<11} {r['us_per_call']:6.2f} µs/call  ({r['texts']:,} texts, best of 5)")


if __name__ == "__main__":
    main()
