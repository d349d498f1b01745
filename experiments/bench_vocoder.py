"""Benchmark the per-model HiFi-GAN V2 vocoder on 2 CPU threads.

Prints, from one run:
  1. generator inference speed at 44.1 kHz on 10 s of audio (weight norm removed), as a multiple
     of real time (target >= 20x): the eager baseline (``HifiGanGenerator.forward``) against the
     optimised path (``FrozenHifiGan``, what ``HifiGanVocoder`` renders with), each one-shot and
     chunked. The four modes run interleaved, round after round, so a busy machine slows them
     alike; median, best and worst of the rounds are shown, and the speed-ups are medians' ratios;
  2. one full training step (generator forward, MPD + MSD discriminator update, generator update
     with adversarial + 2 * feature-matching + 45 * mel-L1 losses, both AdamW optimizers) at batch 1,
     with the paper's discriminators and with the CPU-light ones, and their ratio (target >= 4x).
Full and light steps are interleaved and the median is reported, so a busy machine biases both alike.

    .venv/bin/python experiments/bench_vocoder.py [--repeats 7] [--segment 16384] [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from distill.audio.mel import MelConfig, log_mel
from distill.generate.vocoder import HifiGanVocoder, chunked_synthesis
from distill.train import compose_config

# Everything is built from configs/model/vocoder.yaml, so the benchmark times what training runs.
VARIANTS = {"full (paper)": "full", "cpu-light": "light"}


def build_module(discriminator: str):
    import hydra

    cfg = compose_config(
        [
            "model=vocoder",
            f"model/discriminator={discriminator}",
            "data.path=/unused",
            "paths.output_dir=/tmp",
        ]
    )
    return hydra.utils.instantiate(cfg.model)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Clock:
    """Wall and process-CPU seconds of a block. CPU time counts every thread of this process, so
    with one thread it is the compute cost even when other jobs share the cores."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def bench_inference(seconds: float, chunk_frames: int, repeats: int) -> tuple[float, dict[str, list[Clock]]]:
    """``repeats`` interleaved rounds of the four modes on ``seconds`` of audio.
    Returns the rendered audio's length in seconds and the clocks per mode."""
    config = MelConfig()
    frames = round(seconds * config.sample_rate / config.hop_length)
    mel = torch.randn(1, config.n_mels, frames) - 4.0
    vocoder = HifiGanVocoder(
        build_module("light").generator, sample_rate=config.sample_rate, chunk_frames=chunk_frames
    )
    eager, frozen = vocoder.generator, vocoder.frozen

    def chunked(render):
        return chunked_synthesis(
            render,
            mel,
            hop_length=vocoder.hop_length,
            chunk_frames=chunk_frames,
            overlap_frames=vocoder.overlap_frames,
        )

    modes = {
        "eager one-shot": lambda: eager(mel),
        "eager chunked": lambda: chunked(eager),
        "optimised one-shot": lambda: frozen(mel),
        "optimised chunked": lambda: vocoder(mel),  # the product path: HifiGanVocoder.__call__
    }
    clocks: dict[str, list[Clock]] = {name: [] for name in modes}
    with torch.inference_mode():
        for run in modes.values():
            run()  # warm-up: first-call allocations and kernel selection
        for _ in range(repeats):
            for name, run in modes.items():
                with Clock() as clock:
                    run()
                clocks[name].append(clock)
    return frames * config.hop_length / config.sample_rate, clocks


class TrainStep:
    """One GAN step: VocoderModule.adversarial_step, the code training runs, with its own optimizers."""

    def __init__(self, discriminator: str, segment: int):
        torch.manual_seed(0)
        self.module = build_module(discriminator)
        (self.opt_g, self.opt_d), _ = self.module.configure_optimizers()
        t = torch.arange(segment) / 44100
        self.real = (0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(segment)).view(
            1, 1, segment
        )
        self.mel = log_mel(self.real)  # [1, 128, segment // 512]

    def __call__(self) -> Clock:
        with Clock() as clock:
            self.module.adversarial_step(
                self.mel, self.real, self.opt_g, self.opt_d, backward=torch.Tensor.backward
            )
        return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="audio length for the inference benchmark"
    )
    parser.add_argument("--chunk-frames", type=int, default=256)
    parser.add_argument(
        "--repeats", type=int, default=7, help="interleaved inference rounds (median reported)"
    )
    parser.add_argument(
        "--segment", type=int, default=16384, help="training segment in samples (multiple of 512)"
    )
    parser.add_argument(
        "--steps", type=int, default=5, help="timed training steps per variant (after 1 warm-up)"
    )
    # 2 = the target laptop-class budget. On a shared box where other jobs hold the cores, 2 OpenMP
    # threads stall at every op's barrier (each op waits a scheduler slice); --threads 1 then gives
    # the compute cost without that artefact.
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    generator = build_module("light").generator
    generator.remove_weight_norm()
    print(f"\nGenerator V2: {count(generator):,} parameters (weight norm removed)")
    print(
        f"\nInference, {args.seconds:.0f} s of 44.1 kHz audio, chunks of {args.chunk_frames} frames,"
        f" {args.repeats} interleaved rounds (x real time: median [best, worst])"
    )
    print(f"{'mode':<22}{'median s':>10}{'x real time':>13}{'best':>7}{'worst':>7}{'CPU s':>8}")
    audio_s, clocks_per_mode = bench_inference(args.seconds, args.chunk_frames, args.repeats)
    median_wall = {}
    for name, clocks in clocks_per_mode.items():
        walls = sorted(c.wall for c in clocks)
        median_wall[name] = statistics.median(walls)
        cpu = statistics.median(c.cpu for c in clocks)
        print(
            f"{name:<22}{median_wall[name]:>10.3f}{audio_s / median_wall[name]:>13.1f}"
            f"{audio_s / walls[0]:>7.1f}{audio_s / walls[-1]:>7.1f}{cpu:>8.3f}"
        )
    for shape in ("one-shot", "chunked"):
        print(
            f"optimised {shape} is {median_wall[f'eager {shape}'] / median_wall[f'optimised {shape}']:.2f}x"
            f" faster than eager {shape} (medians)"
        )

    steps = {name: TrainStep(option, args.segment) for name, option in VARIANTS.items()}
    times: dict[str, list[Clock]] = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(args.steps):
        for name, step in steps.items():
            times[name].append(step())
    print(
        f"\nTraining step, batch 1, segment {args.segment} samples ({args.segment / 44100:.2f} s), median of {args.steps}"
    )
    print(f"{'discriminators':<16}{'MPD params':>13}{'MSD params':>13}{'wall s':>9}{'CPU s':>9}")
    medians = {}
    for name, step in steps.items():
        wall = statistics.median(c.wall for c in times[name])
        cpu = statistics.median(c.cpu for c in times[name])
        medians[name] = (wall, cpu)
        print(f"{name:<16}{count(step.module.mpd):>13,}{count(step.module.msd):>13,}{wall:>9.3f}{cpu:>9.3f}")
    (full_wall, full_cpu), (light_wall, light_cpu) = medians.values()
    print(
        f"\ncpu-light step is {full_wall / light_wall:.1f}x faster than full (wall), {full_cpu / light_cpu:.1f}x (CPU)"
    )


if __name__ == "__main__":
    main()
