"""Benchmark the per-model HiFi-GAN V2 vocoder on 2 CPU threads.

Prints, from one run:
  1. generator inference speed at 44.1 kHz on 10 s of audio (weight norm removed), one-shot and
     through the chunked ``HifiGanVocoder``, as a multiple of real time (target >= 20x);
  2. one full training step (generator forward, MPD + MSD discriminator update, generator update
     with adversarial + 2 * feature-matching + 45 * mel-L1 losses, both AdamW optimizers) at batch 1,
     with the paper's discriminators and with the CPU-light ones, and their ratio (target >= 4x).
Full and light steps are interleaved and the median is reported, so a busy machine biases both alike.

    .venv/bin/python experiments/bench_vocoder.py [--segment 16384] [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from distill.audio.mel import MelConfig, log_mel
from distill.generate.vocoder import HifiGanVocoder
from distill.nn.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from distill.nn.gan_losses import (
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)
from distill.nn.hifigan import HifiGanGenerator

GENERATOR_V2 = dict(
    in_channels=128,
    upsample_initial_channel=128,
    upsample_rates=[8, 8, 4, 2],
    upsample_kernel_sizes=[16, 16, 8, 4],
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilations=[[1, 3, 5]] * 3,
    leaky_relu_slope=0.1,
)
MSD_LAYERS = dict(
    kernel_sizes=[15, 41, 41, 41, 41, 41, 5], strides=[1, 2, 2, 4, 4, 1, 1], leaky_relu_slope=0.1
)
DISCRIMINATORS = {
    "full (paper)": (
        dict(
            periods=[2, 3, 5, 7, 11],
            channels=[32, 128, 512, 1024, 1024],
            kernel_size=5,
            stride=3,
            leaky_relu_slope=0.1,
        ),
        dict(
            num_scales=3,
            channels=[128, 128, 256, 512, 1024, 1024, 1024],
            groups=[1, 4, 16, 16, 16, 16, 1],
            **MSD_LAYERS,
        ),
    ),
    # configs/model/discriminator/light.yaml: same periods and scales, a quarter of the channels.
    "cpu-light": (
        dict(
            periods=[2, 3, 5, 7, 11],
            channels=[8, 32, 128, 256, 256],
            kernel_size=5,
            stride=3,
            leaky_relu_slope=0.1,
        ),
        dict(
            num_scales=3,
            channels=[32, 32, 64, 128, 256, 256, 256],
            groups=[1, 4, 8, 8, 8, 8, 1],
            **MSD_LAYERS,
        ),
    ),
}
LAMBDA_FM, LAMBDA_MEL = 2.0, 45.0  # HiFi-GAN paper, Eq. 6


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


def bench_inference(seconds: float, chunk_frames: int, repeats: int) -> list[tuple[str, float, Clock]]:
    """Median-of-``repeats`` run for one-shot and chunked rendering of ``seconds`` of audio."""
    config = MelConfig()
    frames = round(seconds * config.sample_rate / config.hop_length)
    mel = torch.randn(1, config.n_mels, frames) - 4.0
    vocoder = HifiGanVocoder(
        HifiGanGenerator(**GENERATOR_V2), sample_rate=config.sample_rate, chunk_frames=chunk_frames
    )
    audio_s = frames * config.hop_length / config.sample_rate
    rows = []
    for name, run in [
        ("one-shot", lambda: vocoder.generator(mel)),
        (f"chunked ({chunk_frames}+2x{vocoder.overlap_frames} frames)", lambda: vocoder(mel)),
    ]:
        clocks = []
        with torch.inference_mode():
            vocoder.generator(mel[:, :, :64])  # warm-up: first-call allocations and kernel selection
            for _ in range(repeats):
                with Clock() as clock:
                    run()
                clocks.append(clock)
        rows.append((name, audio_s, sorted(clocks, key=lambda c: c.wall)[len(clocks) // 2]))
    return rows


class TrainStep:
    """One GAN step exactly as the Lightning module will run it (losses, weights, two optimizers)."""

    def __init__(self, mpd_kwargs: dict, msd_kwargs: dict, segment: int):
        torch.manual_seed(0)
        self.generator = HifiGanGenerator(**GENERATOR_V2)
        self.mpd = MultiPeriodDiscriminator(**mpd_kwargs)
        self.msd = MultiScaleDiscriminator(**msd_kwargs)
        adam = dict(lr=2e-4, betas=(0.8, 0.99))
        self.opt_g = torch.optim.AdamW(self.generator.parameters(), **adam)
        self.opt_d = torch.optim.AdamW([*self.mpd.parameters(), *self.msd.parameters()], **adam)
        t = torch.arange(segment) / 44100
        self.real = (0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(segment)).view(
            1, 1, segment
        )
        self.mel = log_mel(self.real)  # [1, 128, segment // 512]

    def __call__(self) -> Clock:
        with Clock() as clock:
            self._step()
        return clock

    def _step(self) -> None:
        fake = self.generator(self.mel)  # [1, 1, segment]
        # Discriminator update on real vs detached fake.
        d_loss = 0.0
        for disc in (self.mpd, self.msd):
            d_loss = d_loss + discriminator_loss(disc(self.real).logits, disc(fake.detach()).logits).total
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # Generator update: real features need no graph (feature matching detaches them anyway).
        g_loss = LAMBDA_MEL * mel_l1_loss(fake, self.mel)
        for disc in (self.mpd, self.msd):
            with torch.no_grad():
                real_out = disc(self.real)
            fake_out = disc(fake)
            g_loss = g_loss + generator_adversarial_loss(fake_out.logits)
            g_loss = g_loss + LAMBDA_FM * feature_matching_loss(real_out.features, fake_out.features)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="audio length for the inference benchmark"
    )
    parser.add_argument("--chunk-frames", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="inference runs per mode (median reported)")
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

    generator = HifiGanGenerator(**GENERATOR_V2)
    generator.remove_weight_norm()
    print(f"\nGenerator V2: {count(generator):,} parameters (weight norm removed)")
    print(f"\nInference, {args.seconds:.0f} s of 44.1 kHz audio, median of {args.repeats}")
    print(f"{'mode':<34}{'wall s':>9}{'x real time':>13}{'CPU s':>9}{'x RT per core':>15}")
    for name, audio_s, c in bench_inference(args.seconds, args.chunk_frames, args.repeats):
        print(f"{name:<34}{c.wall:>9.3f}{audio_s / c.wall:>13.1f}{c.cpu:>9.3f}{audio_s / c.cpu:>15.1f}")

    steps = {name: TrainStep(mpd, msd, args.segment) for name, (mpd, msd) in DISCRIMINATORS.items()}
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
        print(f"{name:<16}{count(step.mpd):>13,}{count(step.msd):>13,}{wall:>9.3f}{cpu:>9.3f}")
    (full_wall, full_cpu), (light_wall, light_cpu) = medians.values()
    print(
        f"\ncpu-light step is {full_wall / light_wall:.1f}x faster than full (wall), {full_cpu / light_cpu:.1f}x (CPU)"
    )


if __name__ == "__main__":
    main()
