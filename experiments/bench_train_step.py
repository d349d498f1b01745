"""Seconds per training step of the three models with the default configs, and generation speed,
on the CPU or a GPU (``--trainer gpu``): the numbers behind the README's "what to expect".

Trains each model for ``--steps`` optimizer steps on FOLDER through ``distill.train.train`` (the
code a user's run goes through; RVQ-VAE, then the prior on its codes, then the vocoder), times
every training batch after the first few, packages the three runs and times generation.

    .venv/bin/python experiments/bench_train_step.py FOLDER [--trainer cpu|gpu] [--steps 60] [--vqvae-only]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from distill.config import compose_config
from distill.train import train

WARMUP = 5


class StepTimer(L.Callback):
    """Wall-clock per training batch and how many optimizer steps it took (the vocoder's GAN phase
    steps the generator and the discriminator: 2 per batch, its regression phase 1)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.started, self.step = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.rows.append((time.perf_counter() - self.started, trainer.global_step - self.step))


def run(kind: str, overrides: list[str], output: Path, steps: int) -> tuple[StepTimer, Path]:
    import distill.train as train_module

    timer = StepTimer()
    original = train_module.instantiate_callbacks
    train_module.instantiate_callbacks = lambda cfg: [*original(cfg), timer]
    try:
        cfg = compose_config(
            [
                f"model={kind}",
                f"paths.output_dir={output}",
                f"trainer.max_steps={steps}",
                "logger=csv",
                *overrides,
            ]
        )
        train(cfg)
    finally:
        train_module.instantiate_callbacks = original
    return timer, output


def describe(kind: str, timer: StepTimer) -> list[str]:
    """Median seconds per batch of each phase (one optimizer step a batch: regression or the
    RVQ-VAE's warm-up; two: adversarial), and their ratio when both ran."""
    rows = timer.rows[WARMUP:] or timer.rows
    lines, medians = [], {}
    for per_batch, phase in ((1, "regression" if kind == "vocoder" else ""), (2, "adversarial")):
        times = [seconds for seconds, stepped in rows if stepped == per_batch]
        if times:
            label = f"{kind} {phase}".strip()
            medians[per_batch] = statistics.median(times)
            lines.append(f"{label:<22} {medians[per_batch]:8.3f} s/batch  ({len(times)} batches timed)")
    if len(medians) == 2:
        lines.append(f"{kind + ' adversarial / alone':<22} {medians[2] / medians[1]:8.2f}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--trainer", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument(
        "--vqvae-only",
        action="store_true",
        help="time the RVQ-VAE alone (its warm-up and adversarial steps, without its texture head, in bf16-mixed)",
    )
    args = parser.parse_args()
    common = [
        f"data.path={args.folder.resolve()}",
        f"trainer={args.trainer}",
        "trainer.enable_progress_bar=false",
        "cpu_bf16=false",  # float32 unless a line says otherwise, so that every ratio compares alike
    ]
    device = "cuda" if args.trainer == "gpu" else "cpu"
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        lines = []
        # The adversarial option, its discriminators joining halfway (by optimizer steps): both
        # phases are timed, the first as the default (reconstruction alone) trains.
        vq_timer, vqvae = run(
            "vqvae",
            [
                *common,
                f"paths.cache_dir={root / 'cache'}",
                "model/mel_discriminator=patch",
                "model.adversarial.start=0.33",
            ],
            root / "vqvae",
            args.steps,
        )
        lines += describe("vqvae", vq_timer)
        if args.vqvae_only:
            # What the texture head costs: the same reconstruction steps without it.
            plain_timer, _ = run(
                "vqvae",
                [
                    *common,
                    f"paths.cache_dir={root / 'cache'}",
                    "model.net.decoder.texture_head=false",
                    "model.net.texture=0.0",
                    "model.net.texture_unpitched=0.0",
                ],
                root / "vqvae-plain",
                args.steps // 2,
            )
            # What the pitch input and head cost: the same reconstruction steps without them.
            no_pitch_timer, _ = run(
                "vqvae",
                [
                    *common,
                    f"paths.cache_dir={root / 'cache'}",
                    "model.net.encoder.pitch_input=false",
                    "model.net.decoder.pitch_head_channels=0",
                ],
                root / "vqvae-no-pitch",
                args.steps // 2,
            )
            # bfloat16 mixed precision (cpu_bf16), reconstruction steps as the default trains.
            float32_free = [override for override in common if not override.startswith("cpu_bf16=")]
            mixed_timer, _ = run(
                "vqvae",
                [*float32_free, f"paths.cache_dir={root / 'cache'}", "cpu_bf16=true"],
                root / "vqvae-bf16",
                args.steps // 2,
            )
            with_texture = statistics.median(s for s, n in vq_timer.rows[WARMUP:] if n == 1)
            plain = statistics.median(s for s, n in plain_timer.rows[WARMUP:] if n == 1)
            mixed = statistics.median(s for s, n in mixed_timer.rows[WARMUP:] if n == 1)
            no_pitch = statistics.median(s for s, n in no_pitch_timer.rows[WARMUP:] if n == 1)
            lines += [
                f"{'vqvae, no texture head':<22} {plain:8.3f} s/batch",
                f"{'texture head / none':<22} {with_texture / plain:8.2f}x",
                f"{'vqvae, no pitch head':<22} {no_pitch:8.3f} s/batch",
                f"{'pitch head / none':<22} {with_texture / no_pitch:8.2f}x",
                f"{'vqvae, bf16-mixed':<22} {mixed:8.3f} s/batch",
                f"{'float32 / bf16-mixed':<22} {with_texture / mixed:8.2f}x",
            ]
            print("\n".join(["", f"training on {args.trainer} ({args.folder.name}, data=auto):", *lines]))
            return
        prior_timer, prior = run(
            "prior",
            [
                *common,
                f"model.vqvae={vqvae}",
                f"paths.cache_dir={root / 'cache'}",
                "callbacks.early_stopping=null",
            ],
            root / "prior",
            args.steps,
        )
        lines += describe("prior", prior_timer)
        # Past the regression phase halfway, so both phases are timed.
        vocoder_overrides = [
            *common,
            f"paths.cache_dir={root / 'cache'}",
            f"model.regression_steps={args.steps // 3}",
        ]
        voc_timer, vocoder = run("vocoder", vocoder_overrides, root / "vocoder", args.steps)
        lines += describe("vocoder", voc_timer)
        print(
            "\n".join(
                ["", f"training on {args.trainer} ({args.folder.name}, default configs, data=auto):", *lines]
            )
        )

        from distill import DistillModel, generate
        from distill.bundle.package import package_runs

        packaged = package_runs(
            vqvae=vqvae, prior=prior, vocoder=vocoder, name="bench", output=root / "bench.distillgan"
        )
        model = DistillModel.load(packaged.path, device=device)
        for seconds in (4.0, 10.0):
            generate(model, 1.0, mode="continuous", seed=0)  # warm-up
            started = time.perf_counter()
            audio = generate(model, seconds, mode="continuous", seed=1)
            took = time.perf_counter() - started
            print(
                f"generate {seconds:4.0f} s continuous on {device}: {took:6.2f} s ({audio.duration_s / took:5.1f}x real time)"
            )


if __name__ == "__main__":
    main()
