"""`make demo`: synthesise a small sound world, train on it briefly on CPU, print where things are.

python -m distill.demo [--data /my/sounds] [--out demo]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A short CPU run of the RVQ-VAE: minutes, not hours, on 2 cores.
VQVAE_DEMO_OVERRIDES = [
    "model=vqvae",
    "data=auto",
    "trainer.max_epochs=40",
    "data.crops_per_file=8",
    "callbacks.reconstruction_preview.every_n_epochs=10",
]


def _run(command: list[str], *, env: dict, what: str) -> None:
    if subprocess.run(command, env=env, cwd=ROOT).returncode != 0:
        sys.exit(f"[demo] {what} failed (see the messages above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="your own folder of recordings (default: synthesise)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "demo", help="where the demo writes everything")
    args = parser.parse_args()
    out = args.out.resolve()
    data = args.data.resolve() if args.data else out / "sounds"
    if args.data is None:
        from distill.demo.sounds import write_demo_sounds

        paths = write_demo_sounds(data)
        print(f"[demo] synthesised {len(paths)} one-shots in {data}")
    env = {**os.environ, "DISTILL_LOG_DIR": str(out / "logs"), "DISTILL_CACHE_DIR": str(out / "cache")}
    env.setdefault("WANDB_MODE", "offline")

    _run([sys.executable, "-m", "distill.cli.main", "scan", str(data)], env=env, what="scanning the sounds")
    run_dir = out / "runs" / "vqvae"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *VQVAE_DEMO_OVERRIDES,
        f"data.path={data}",
        f"hydra.run.dir={run_dir}",
        "task_name=demo-vqvae",
    ]
    print("[demo] training the RVQ-VAE:", " ".join(command[1:]))
    _run(command, env=env, what="training the RVQ-VAE")
    print("\n[demo] done. Files:")
    print(f"  sounds               {data}")
    print(f"  RVQ-VAE run          {run_dir}")
    print(f"  checkpoints          {run_dir / 'checkpoints'}")
    print(f"  run summary (JSON)   {run_dir / 'summary.json'}")
    print(f"  mel previews (PNG)   {run_dir / 'previews'}")
    for metrics in sorted((run_dir / "csv").glob("*/metrics.csv")):
        print(f"  metrics (CSV)        {metrics}")


if __name__ == "__main__":
    main()
