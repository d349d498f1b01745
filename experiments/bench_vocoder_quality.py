"""Which generator renders held-out audio best after the same CPU budget? One run, one table.

Trains every generator of the vocoder family (and the variants asked for) for the same wall-clock
budget each, one after the other in this process, with the training step ``VocoderModule`` runs
(``adversarial_step``: regression steps first, then the adversary), on the crops the shipped data
config draws from FOLDER. Along the way (at 2, 5, 10, 30 ... minutes) each is scored on every file
of HELDOUT_FOLDER through the product's rendering path (``GeneratorVocoder``): mel L1 of the
re-analysed output against the input mel, and the M-STFT distance against the real audio. The
baseline on the same mels is Griffin-Lim, 60 iterations with momentum 0.99 (Perraudin et al. 2013),
on the filterbank-inverse magnitude: a yardstick only, never in the product. Then the inference
real-time factor of each on 10 s of audio, and a PNG per generator: real vs rendered mels.

Run it alone on a quiet machine (another torch process on the 2 cores slows every step 2-5x):

    .venv/bin/python experiments/bench_vocoder_quality.py FOLDER HELDOUT_FOLDER [--minutes 10]
        [--variants vocos hifigan vocos_plain ...] [--vqvae RUN] [--out outputs/bench-vocoder-quality]

A generator with the inference-time mel-matching pass (``mel_consistency_iterations``) is also
scored at the end without it ("no mel match"): the pass changes no weights.

``--vqvae RUN`` (an RVQ-VAE run trained on FOLDER) adds the fine-tuning comparison: end-to-end
resynthesis (audio -> RVQ-VAE -> mel -> audio) of the held-out files by the plain vocoder and by
one trained on that RVQ-VAE's reconstructions (``model.vqvae=RUN``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch

from distill.audio.io import UnusableAudioError, is_audio_path, load_audio
from distill.audio.mel import MelConfig, log_mel, mel_filterbank
from distill.config import compose_config, options
from distill.model import VOCODER_CHUNK_FRAMES
from distill.nn.vocos import InverseSTFT
from distill.vocoders.generator import GeneratorVocoder
from distill.vocoders.quality import VocoderQuality, measure_vocoder

# name -> overrides of the vocoder config; the family's members first (each named as its kind).
FAMILY = options("model/generator")
VARIANTS = {
    **{kind: [f"model/generator={kind}"] for kind in FAMILY},
    "vocos_plain": ["model/generator=vocos", "model.generator.magnitude_residual=false"],
    "vocos_regression": ["model/generator=vocos", "model.regression_steps=1000000000"],
    "vocos_mrd": ["model/generator=vocos", "model/discriminator=mrd"],
    # The default's former size, 384 x 8 (three times the parameters, half the rendering speed).
    "vocos_large": [
        "model/generator=vocos",
        "model.generator.dim=384",
        "model.generator.intermediate_dim=1152",
        "model.generator.num_layers=8",
    ],
    # The M-STFT distance (what the benchmark scores) weighted 5x against the mel L1 (x45).
    "vocos_stft5": ["model/generator=vocos", "model.loss_weights.stft=5.0"],
    # The head's phase relative to the rendering's start (steady partials off the 86 Hz grid).
    "vocos_tiphase": ["model/generator=vocos", "model.generator.time_invariant_phase=true"],
    "vocos_phase": ["model/generator=vocos", "model.loss_weights.phase=1.0"],
    # The vocoder's own augmentation options on: playback rate +-6 %, half the crops mixed with another.
    "vocos_mix": ["model/generator=vocos", "data.augment.max_rate_change=0.06", "data.augment.mix_prob=0.5"],
}
MAX_HELDOUT_SECONDS = 6.0  # each held-out file is scored on its first 6 s (bounds the scoring time)


@dataclass
class Trained:
    name: str
    module: torch.nn.Module
    generator_config: object
    steps: int = 0
    seconds: float = 0.0
    curve: list[tuple[float, int, VocoderQuality]] = field(default_factory=list)
    unmatched: VocoderQuality | None = None  # at the end, without the mel-matching pass


def build(folder: Path, overrides: list[str], cache: Path):
    cfg = compose_config(
        [
            "model=vocoder",
            f"data.path={folder}",
            f"paths.cache_dir={cache}",
            "paths.output_dir=/tmp",
            *overrides,
        ]
    )
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    return hydra.utils.instantiate(cfg.model), datamodule, cfg


def load_folder(folder: Path, mel_config: MelConfig) -> list[torch.Tensor]:
    recordings = []
    for path in sorted(p for p in folder.rglob("*") if is_audio_path(p)):
        try:
            samples = load_audio(path, sample_rate=mel_config.sample_rate).samples
        except UnusableAudioError:
            continue
        recordings.append(torch.from_numpy(samples[: int(MAX_HELDOUT_SECONDS * mel_config.sample_rate)]))
    return recordings


def griffin_lim(mel: torch.Tensor, mel_config: MelConfig, iterations: int = 60, momentum: float = 0.99):
    """Fast Griffin-Lim on log(pinv(fb) @ exp(mel)), framed exactly like the mel: [1, M, T] -> [1, 1, T*hop]."""
    inverse = torch.linalg.pinv(mel_filterbank(mel_config).double()).float()
    magnitude = (inverse @ mel.exp()).clamp_min(1e-5)  # [1, bins, T]
    istft = InverseSTFT(n_fft=mel_config.n_fft, hop_length=mel_config.hop_length)
    pad = (mel_config.n_fft - mel_config.hop_length) // 2
    window = torch.hann_window(mel_config.n_fft)

    def stft(wave: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
        return torch.stft(
            padded, mel_config.n_fft, mel_config.hop_length, window=window, center=False, return_complex=True
        )

    generator = torch.Generator().manual_seed(0)
    angles = torch.polar(
        torch.ones_like(magnitude), 2 * torch.pi * torch.rand(magnitude.shape, generator=generator)
    )
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * angles))
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / angles.abs().clamp_min(1e-16)
        previous = rebuilt
    return istft(magnitude * angles).unsqueeze(1)


def snapshot(trained: Trained, **overrides) -> GeneratorVocoder:
    """The product's renderer over a copy of the generator being trained (``overrides``: generator
    settings to change, e.g. an inference-time option). A fresh instance with the weights loaded,
    not copy.deepcopy: a deep copy of a weight-normed module shares its parametrization class, so
    folding the copy's weight norm would strip the original's."""
    generator = hydra.utils.instantiate(trained.generator_config, **overrides)
    generator.load_state_dict(trained.module.generator.state_dict())
    return GeneratorVocoder(generator, sample_rate=44100, chunk_frames=VOCODER_CHUNK_FRAMES)


def score(trained: Trained, recordings, distance) -> VocoderQuality:
    return measure_vocoder(snapshot(trained), recordings, stft_distance=distance)


def score_unmatched(trained: Trained, recordings, distance) -> VocoderQuality | None:
    """The same weights rendered without the inference-time mel-matching pass (the pass changes no
    weights, so this shows what it adds at no training cost); None for generators without it."""
    if not trained.generator_config.get("mel_consistency_iterations"):
        return None
    return measure_vocoder(
        snapshot(trained, mel_consistency_iterations=0), recordings, stft_distance=distance
    )


def train_for(trained: Trained, datamodule, checkpoints_s: list[float], recordings, distance) -> None:
    module = trained.module.train()
    (opt_g, opt_d), _ = module.configure_optimizers()
    pending = list(checkpoints_s)
    while pending:
        for batch in datamodule.train_dataloader():
            started = time.perf_counter()
            module.adversarial_step(batch.mel, batch.audio, opt_g, opt_d, backward=torch.Tensor.backward)
            trained.seconds += time.perf_counter() - started
            trained.steps += 1
            if trained.seconds >= pending[0]:
                module.eval()
                quality = score(trained, recordings, distance)
                module.train()
                trained.curve.append((pending.pop(0), trained.steps, quality))
                print(
                    f"  {trained.name}: {trained.seconds / 60:5.1f} min, {trained.steps:5d} steps, "
                    f"M-STFT {quality.mstft:.3f}, mel L1 {quality.mel_l1:.3f}",
                    flush=True,
                )
                if not pending:
                    return


def real_time_factor(trained: Trained, seconds: float = 10.0, repeats: int = 5) -> float:
    vocoder = snapshot(trained)
    mel = torch.randn(1, 128, round(seconds * 44100 / 512)) - 4.0
    vocoder(mel)  # warm-up
    walls = []
    for _ in range(repeats):
        started = time.perf_counter()
        vocoder(mel)
        walls.append(time.perf_counter() - started)
    return seconds / statistics.median(walls)


def plot_mels(
    path: Path, real: torch.Tensor, renders: dict[str, torch.Tensor], mel_config: MelConfig
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"real": real, **renders}
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.2 * len(panels)), sharex=True)
    for ax, (name, wave) in zip(axes, panels.items(), strict=True):
        ax.imshow(
            log_mel(wave.reshape(1, -1), mel_config)[0].numpy(),
            origin="lower",
            aspect="auto",
            vmin=-11,
            vmax=2,
        )
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="training recordings")
    parser.add_argument("heldout", type=Path, help="held-out recordings (another kit, other notes)")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget of each generator")
    parser.add_argument("--variants", nargs="+", default=FAMILY, choices=sorted(VARIANTS))
    parser.add_argument("--vqvae", type=Path, default=None, help="RVQ-VAE run for the fine-tuning comparison")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench-vocoder-quality"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "distill")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    mel_config = MelConfig()
    recordings = load_folder(args.heldout, mel_config)
    checkpoints = [m * 60 for m in (2, 5, 10, 30, 60) if m < args.minutes] + [args.minutes * 60]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(recordings)} held-out files from {args.heldout}"
    )

    # Scored at the vocoder config's own resolutions, as training validates.
    distance = hydra.utils.instantiate(
        compose_config(["model=vocoder", "data.path=/unused", "paths.output_dir=/tmp"]).model.stft_distance
    )
    griffin = measure_vocoder(lambda mel: griffin_lim(mel, mel_config), recordings, stft_distance=distance)
    print(f"Griffin-Lim-60: {griffin.describe()}", flush=True)

    runs = [(name, VARIANTS[name]) for name in args.variants]
    if args.vqvae is not None:
        runs.append(
            ("vocos_finetuned", ["model/generator=vocos", f"model.vqvae={args.vqvae}", "data.crop_frames=32"])
        )
    results = []
    for name, overrides in runs:
        torch.manual_seed(0)
        module, datamodule, cfg = build(args.folder, overrides, args.cache)
        trained = Trained(name=name, module=module, generator_config=cfg.model.generator)
        print(
            f"{name}: {sum(p.numel() for p in module.generator.parameters()) / 1e6:.2f} M parameters",
            flush=True,
        )
        train_for(trained, datamodule, checkpoints, recordings, distance)
        trained.module.eval()
        trained.unmatched = score_unmatched(trained, recordings, distance)
        results.append((trained, real_time_factor(trained)))

    print(
        f"\nHeld-out: {len(recordings)} files of {args.heldout} (first {MAX_HELDOUT_SECONDS:.0f} s each); lower is better"
    )
    header = f"{'generator':<18}{'minutes':>8}{'steps':>7}{'mel L1':>8}{'M-STFT':>8}{'vs GL-60':>9}{'x real time':>13}"
    print(header)

    def row(name: str, minutes: str, steps: str, quality: VocoderQuality, speed: str = "") -> None:
        print(
            f"{name:<18}{minutes:>8}{steps:>7}{quality.mel_l1:>8.3f}{quality.mstft:>8.3f}"
            f"{quality.mstft / griffin.mstft:>9.3f}{speed:>13}"
        )

    row("Griffin-Lim-60", "", "", griffin)
    for trained, rtf in results:
        for index, (seconds, steps, quality) in enumerate(trained.curve):
            last = index == len(trained.curve) - 1
            row(trained.name, f"{seconds / 60:.0f}", str(steps), quality, f"{rtf:.0f}x" if last else "")
        if trained.unmatched is not None:
            seconds, steps, _ = trained.curve[-1]
            row("  no mel match", f"{seconds / 60:.0f}", str(steps), trained.unmatched)

    # Real vs rendered mels of the longest held-out file.
    real = max(recordings, key=len)
    real = real[: real.shape[-1] // 512 * 512].reshape(1, 1, -1)
    mel = log_mel(real[:, 0], mel_config)
    renders = {"Griffin-Lim-60": griffin_lim(mel, mel_config)}
    for trained, _ in results:
        renders[trained.name] = snapshot(trained)(mel)
    plot_mels(args.out / "mels.png", real, renders, mel_config)
    import soundfile as sf

    for name, wave in {"real": real, **renders}.items():  # to listen to
        sf.write(str(args.out / f"{name}.wav"), wave.reshape(-1).numpy(), mel_config.sample_rate)
    print(f"\nwrote {args.out / 'mels.png'} and the renderings as WAV beside it")

    if args.vqvae is not None:
        finetune_comparison(args.vqvae, results, recordings, distance, mel_config)


def finetune_comparison(vqvae_run: Path, results, recordings, distance, mel_config: MelConfig) -> None:
    """End-to-end resynthesis: audio -> RVQ-VAE reconstruction -> each vocoder -> vs the real audio."""
    from distill.models.loading import load_vqvae_net

    vqvae = load_vqvae_net(vqvae_run)
    print("\nEnd-to-end resynthesis of the held-out files (audio -> codes -> mel -> audio), lower is better")
    print(f"{'vocoder':<18}{'mel L1':>8}{'M-STFT':>8}")
    for trained, _ in results:
        if trained.name not in ("vocos", "vocos_finetuned"):
            continue
        vocoder = snapshot(trained)
        quality = measure_vocoder(
            lambda mel, vocoder=vocoder: vocoder(vqvae.reconstruct(mel)), recordings, stft_distance=distance
        )
        print(f"{trained.name:<18}{quality.mel_l1:>8.3f}{quality.mstft:>8.3f}")


if __name__ == "__main__":
    main()
