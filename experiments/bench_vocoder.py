"""Speed of the vocoder family on 2 CPU threads: inference and training steps, side by side.

Prints, from one run:
  1. inference at 44.1 kHz on 10 s of audio through the product path (``GeneratorVocoder``: the
     generator's folded ``inference_module()``, chunked) and through the generator's own eager
     forward, for Vocos and HiFi-GAN V2, as multiples of real time (targets: the default >= 100x,
     HiFi-GAN >= 20x). All modes run interleaved, round after round, so a busy machine slows them
     alike; median, best and worst rounds are shown;
  2. one training step (``VocoderModule.adversarial_step``, the code training runs) at batch 8 of
     16,384-sample segments, per generator: regression only (the first ``regression_steps``), and
     adversarial with the CPU-light and with the paper's discriminators; interleaved, medians.

    .venv/bin/python experiments/bench_vocoder.py [--repeats 7] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import hydra
import torch

from distill.audio.mel import MelConfig, log_mel
from distill.config import compose_config, options
from distill.model import VOCODER_CHUNK_FRAMES
from distill.vocoders.generator import GeneratorVocoder
from distill.vocoders.kinds import vocoder_names

GENERATORS = options("model/generator")  # the whole family, each named as its kind
# name -> overrides: everything is built from configs/model/vocoder.yaml, so this times what trains.
STEPS = {
    "regression": ["model.regression_steps=1000000000"],
    "GAN, light D": ["model.regression_steps=0", "model/discriminator=light"],
    "GAN, full D": ["model.regression_steps=0", "model/discriminator=full"],
}


def build_module(generator: str, overrides: list[str]):
    cfg = compose_config(
        [
            "model=vocoder",
            f"model/generator={generator}",
            "data.path=/unused",
            "paths.output_dir=/tmp",
            *overrides,
        ]
    )
    return hydra.utils.instantiate(cfg.model)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_inference(seconds: float, repeats: int) -> dict[str, list[float]]:
    config = MelConfig()
    mel = torch.randn(1, config.n_mels, round(seconds * config.sample_rate / config.hop_length)) - 4.0
    modes = {}
    for name in GENERATORS:
        vocoder = GeneratorVocoder(
            build_module(name, []).generator, sample_rate=44100, chunk_frames=VOCODER_CHUNK_FRAMES
        )
        modes[f"{name} product path"] = lambda vocoder=vocoder: vocoder(mel)
        modes[f"{name} eager forward"] = lambda vocoder=vocoder: vocoder.generator(mel)
    walls: dict[str, list[float]] = {name: [] for name in modes}
    with torch.inference_mode():
        for run in modes.values():
            run()  # warm-up: first-call allocations and kernel selection
        for _ in range(repeats):
            for name, run in modes.items():
                walls[name].append(timed(run))
    return walls


class TrainStep:
    def __init__(self, generator: str, overrides: list[str], batch: int, segment: int):
        torch.manual_seed(0)
        self.module = build_module(generator, overrides)
        (self.opt_g, self.opt_d), _ = self.module.configure_optimizers()
        t = torch.arange(segment) / 44100
        tone = 0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(batch, segment)
        self.real = tone.view(batch, 1, segment)
        self.mel = log_mel(self.real[:, 0])  # [B, 128, segment // 512]

    def __call__(self) -> float:
        return timed(
            lambda: self.module.adversarial_step(
                self.mel, self.real, self.opt_g, self.opt_d, backward=torch.Tensor.backward
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for inference")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved inference rounds")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segment", type=int, default=16384, help="training segment (multiple of 512)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per variant")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    print(
        f"\nInference, {args.seconds:.0f} s of 44.1 kHz audio, {args.repeats} interleaved rounds"
        f" (product path: chunks of {VOCODER_CHUNK_FRAMES} frames + the receptive field on each side)"
    )
    print(f"{'generator, path':<28}{'params':>11}{'median s':>10}{'x real time':>13}{'best':>7}{'worst':>7}")
    walls = bench_inference(args.seconds, args.repeats)
    for name, times in walls.items():
        params = count(build_module(name.split()[0], []).generator)
        ordered = sorted(times)
        median = statistics.median(times)
        print(
            f"{name:<28}{params:>11,}{median:>10.3f}{args.seconds / median:>13.1f}"
            f"{args.seconds / ordered[0]:>7.1f}{args.seconds / ordered[-1]:>7.1f}"
        )
    product = {g: statistics.median(walls[f"{g} product path"]) for g in GENERATORS}
    for other in (g for g in GENERATORS if g != "vocos"):  # the default, the ratios' baseline
        print(
            f"Vocos renders {product[other] / product['vocos']:.1f}x faster than"
            f" {vocoder_names()[other]} (product paths, medians)"
        )

    steps = {
        (generator, variant): TrainStep(generator, overrides, args.batch, args.segment)
        for generator in GENERATORS
        for variant, overrides in STEPS.items()
    }
    times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(args.steps):
        for key, step in steps.items():
            times[key].append(step())
    print(f"\nTraining step, batch {args.batch} x {args.segment} samples, median of {args.steps} (wall s)")
    print(f"{'generator':<14}" + "".join(f"{variant:>15}" for variant in STEPS))
    for generator in GENERATORS:
        row = [statistics.median(times[(generator, variant)]) for variant in STEPS]
        print(f"{generator:<14}" + "".join(f"{value:>15.3f}" for value in row))
    for generator in GENERATORS:
        regression, light, full = (statistics.median(times[(generator, v)]) for v in STEPS)
        print(
            f"{generator}: a light-D GAN step costs {light / regression:.1f}x a regression step,"
            f" a full-D one {full / regression:.1f}x; light is {full / light:.1f}x faster than full"
        )


if __name__ == "__main__":
    main()
