"""Prior decoding speed: preallocated KV cache vs full recompute, measured in one run on 2 threads.

    .venv/bin/python experiments/bench_prior.py [--tokens 1024] [--sizes small medium] [--repeats 1]

Both decoders draw the same tokens from the same generator (checked and printed), so the ratio is
purely the cost of decoding. Layout: 4 levels x 8 rows = 32 tokens per column, window 32 columns.
"""

from __future__ import annotations

import argparse
import time

import torch

from distill.codes.sampling import draw, sample
from distill.nn.prior import CodePrior

SIZES = {  # name: (hidden, layers, heads, codebook_size), the tier presets of docs/DESIGN.md
    "small": (128, 2, 4, 64),
    "medium": (256, 4, 4, 128),
    "large": (512, 6, 8, 256),
}
LEVELS, ROWS, CONTEXT_COLUMNS = 4, 8, 32
SAMPLING = {"temperature": 1.0, "top_k": 0, "top_p": 0.9}


def full_recompute(prior: CodePrior, *, n_tokens: int, seed: int) -> torch.Tensor:
    """Baseline: every token re-runs the whole prefix through the model (no cache, no slide)."""
    tokens = torch.zeros(1, n_tokens, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        for n in range(n_tokens):
            logits = prior(tokens[:, : n + 1]).logits[:, -1]
            tokens[:, n] = draw(logits, generator=generator, **SAMPLING)
    return prior.layout.unflatten(tokens)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1024, help="tokens to generate (multiple of 32)")
    parser.add_argument("--sizes", nargs="+", default=["small", "medium"], choices=sorted(SIZES))
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings (noisy shared machines)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    n_columns = args.tokens // (LEVELS * ROWS)
    print(
        f"threads={torch.get_num_threads()} tokens={args.tokens} layout={LEVELS}x{ROWS} window={CONTEXT_COLUMNS} cols"
    )
    print(f"{'size':<8}{'params':>10}{'K':>5}{'cache tok/s':>13}{'full tok/s':>12}{'speedup':>9}  same codes")
    for name in args.sizes:
        hidden, layers, heads, codebook = SIZES[name]
        torch.manual_seed(0)
        prior = CodePrior(
            levels=LEVELS,
            rows=ROWS,
            codebook_size=codebook,
            hidden=hidden,
            layers=layers,
            heads=heads,
            context_columns=CONTEXT_COLUMNS,
            dropout=0.0,
        ).eval()
        params = sum(p.numel() for p in prior.parameters())
        sample(prior, n_columns=2, seed=0, **SAMPLING)  # warm-up

        cache_rate = full_rate = 0.0
        for _ in range(args.repeats):
            start = time.perf_counter()
            cached = sample(prior, n_columns=n_columns, seed=1, **SAMPLING)
            cache_rate = max(cache_rate, args.tokens / (time.perf_counter() - start))

            start = time.perf_counter()
            full = full_recompute(prior, n_tokens=args.tokens, seed=1)
            full_rate = max(full_rate, args.tokens / (time.perf_counter() - start))

        same = torch.equal(cached, full) if args.tokens <= prior.context_tokens else "n/a (slid)"
        print(
            f"{name:<8}{params / 1e6:>9.2f}M{codebook:>5}{cache_rate:>13.0f}{full_rate:>12.1f}"
            f"{cache_rate / full_rate:>8.1f}x  {same}"
        )


if __name__ == "__main__":
    main()
