"""Train the whole pipeline on a folder within a CPU budget, package it, and evaluate what it generates.

The default configs throughout (the auto tier for the folder); each stage gets a share of the
budget as Lightning's ``trainer.max_time`` (early stopping may end the prior sooner):

    .venv/bin/python experiments/train_and_evaluate.py FOLDER [--minutes 30] [--out outputs/pipeline]
        [--count 16] [--mode one-shot|continuous] [--reuse] [--set STAGE:OVERRIDE ...]

``--reuse`` keeps stages whose run folder already has a summary (e.g. to retrain only the prior
after a change to it, on the same RVQ-VAE and vocoder). ``--set vqvae:model/mel_discriminator=patch``
adds a Hydra override to one stage (a before/after comparison of one setting). Ends with experiments/eval_generation.py's
table and PNG. Run it alone on a quiet machine: the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where quality comes from at small budgets. On a drum kit the vocoder's best checkpoint came at
# ~3 of its 12 minutes while a 105-step prior was what limited the generated sound, so the prior
# gets half of the budget and the vocoder the least.
SHARES = {"vocoder": 0.15, "vqvae": 0.35, "prior": 0.5}


def max_time(minutes: float) -> str:
    seconds = int(minutes * 60)
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def run(command: list[str], env: dict) -> None:
    print("$", " ".join(command), flush=True)
    if subprocess.run(command, env=env, cwd=ROOT).returncode != 0:
        sys.exit(f"failed: {' '.join(command)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget of all three stages")
    parser.add_argument("--out", type=Path, default=Path("outputs/pipeline"))
    parser.add_argument("--name", default="pipeline", help="model name in the experiment's library")
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--mode", default=None, choices=["one-shot", "continuous"])
    parser.add_argument("--reuse", action="store_true", help="keep stages that already finished")
    parser.add_argument(
        "--vocoder-on-codes",
        action="store_true",
        help="train the vocoder after the RVQ-VAE, on what its codes decode (model.vqvae=<run>)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="STAGE:OVERRIDE", help="a Hydra override for one stage"
    )
    args = parser.parse_args()
    stage_overrides: dict[str, list[str]] = {stage: [] for stage in SHARES}
    for item in args.set:
        stage, _, override = item.partition(":")
        if stage not in SHARES or not override:
            parser.error(f"--set {item}: give STAGE:OVERRIDE with STAGE one of {', '.join(SHARES)}")
        stage_overrides[stage].append(override)
    out = args.out.resolve()
    env = {
        **os.environ,
        "DISTILL_HOME": str(out / "library"),
        "DISTILL_CACHE_DIR": str(out / "cache"),
        "DISTILL_LOG_DIR": str(out / "logs"),
        "WANDB_MODE": "offline",
    }
    python = sys.executable
    runs = {stage: out / "runs" / stage for stage in SHARES}
    # The vocoder trains first, so the RVQ-VAE's and the prior's runs measure their quality with it
    # when they end (quality/* in their summaries) and the prior packages it. On the codes, it
    # trains after the RVQ-VAE, whose own run then measures no audio.
    order = ["vqvae", "vocoder", "prior"] if args.vocoder_on_codes else list(SHARES)
    extra = {
        "vocoder": [f"model.vqvae={runs['vqvae']}"] if args.vocoder_on_codes else [],
        "vqvae": [] if args.vocoder_on_codes else [f"vocoder_run={runs['vocoder']}"],
        "prior": [
            f"model.vqvae={runs['vqvae']}",
            f"vocoder_run={runs['vocoder']}",
            "package=true",
            f"package_name={args.name}",
        ],
    }
    for stage in order:
        share = SHARES[stage]
        if args.reuse and (runs[stage] / "summary.json").exists():
            print(f"{stage}: reusing {runs[stage]}")
            continue
        if stage == "prior":  # it packages into the experiment's library: one model of that name
            shutil.rmtree(out / "library", ignore_errors=True)
        command = [
            python,
            str(ROOT / "train.py"),
            f"model={stage}",
            f"data.path={args.folder.resolve()}",
            f"hydra.run.dir={runs[stage]}",
            f"trainer.max_time={max_time(share * args.minutes)}",
            "trainer.enable_progress_bar=false",
            *extra[stage],
            *stage_overrides[stage],
        ]
        run(command, env)
    evaluate = [
        python,
        str(ROOT / "experiments" / "eval_generation.py"),
        args.name,
        "--count",
        str(args.count),
    ]
    evaluate += ["--out", str(out / "evaluation")] + (["--mode", args.mode] if args.mode else [])
    run(evaluate, env)


if __name__ == "__main__":
    main()
