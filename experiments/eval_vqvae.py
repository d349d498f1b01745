"""Evaluate a trained RVQ-VAE on a folder: reconstruction mel-L1 and codebook health per level.

    python experiments/eval_vqvae.py <run dir or checkpoint> <folder> [--vocoder <vocoder run>]

Each file is encoded to one continuous code grid and decoded back in one piece (the model is
fully convolutional in time). Prints per-file mel L1, the overall mel L1 and the multi-scale
spectral loss the model trains on, and the per-level health table over all files' codes.
With a trained vocoder, the reconstructed mel is also rendered to audio and compared with the
original recording by multi-resolution STFT distance (and the vocoder's own copy-synthesis of
the original mel gives the floor that distance can reach).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import hydra
import numpy as np
import torch

from distill.audio.mel import MelConfig
from distill.callbacks.codebook_health import format_health_table, health_table
from distill.data.scan import scan_folder
from distill.data.store import DecodingStore
from distill.errors import UserError
from distill.models.loading import load_trained_module, load_vocoder
from distill.nn.codebook_stats import CodebookUsage
from distill.vocoders.quality import stft_distance_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder (uses checkpoints/last.ckpt) or a checkpoint")
    parser.add_argument("folder", type=Path, help="folder of recordings to reconstruct")
    parser.add_argument(
        "--vocoder", type=Path, default=None, help="a model=vocoder run (folder or checkpoint)"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    try:
        module, _ = load_trained_module(args.run)
        store = DecodingStore(mel_config=MelConfig())
        report = scan_folder(args.folder, store=store)
        report.require_usable()
        vocoder = load_vocoder(args.vocoder) if args.vocoder else None
    except UserError as error:  # one line, as the CLI prints it, not a traceback
        raise SystemExit(f"error: {error}") from None
    # The vocoder's M-STFT, as model/vocoder.yaml sets it.
    mstft = hydra.utils.instantiate(stft_distance_config())
    distances, floors = [], []
    net = module.net
    usage = CodebookUsage(num_levels=net.quantizer.num_levels, codebook_size=net.quantizer.codebook_size)
    total_abs, total_frames, spectral = 0.0, 0, []
    print(f"{'file':<48}{'frames':>8}{'mel L1':>10}")
    with torch.no_grad():
        for prepared in report.usable:
            audio, mel = store.arrays(prepared)  # one decode per file serves both mel and audio
            mel = torch.from_numpy(mel)[None]  # [1, 128, T]
            codes = net.encode(mel)
            recon = net.decode(codes, n_frames=mel.shape[-1])
            usage.update(codes)
            error = (recon - mel).abs()
            total_abs += float(error.sum()) / mel.shape[1]
            total_frames += mel.shape[-1]
            spectral.append(float(module.loss(recon, mel)))
            if vocoder is not None:
                pad = max(0, 2048 - len(audio))  # the 2048-point STFT needs that many samples
                real = torch.nn.functional.pad(torch.from_numpy(np.array(audio))[None, None], (0, pad))
                rendered = [torch.nn.functional.pad(vocoder(m), (0, pad)) for m in (recon, mel)]
                distances.append(float(mstft(rendered[0], real).total))
                floors.append(float(mstft(rendered[1], real).total))
            print(f"{report.relative(prepared.path)[:47]:<48}{mel.shape[-1]:>8}{float(error.mean()):>10.4f}")
    print(f"\n{len(report.usable)} files, {total_frames} frames")
    print(f"reconstruction mel L1 (frame-weighted): {total_abs / total_frames:.4f}")
    print(f"multi-scale spectral loss (mean over files): {sum(spectral) / len(spectral):.4f}")
    if distances:
        print(
            f"multi-resolution STFT distance, reconstruction vs recording: {sum(distances) / len(distances):.4f}"
        )
        print(f"  (vocoder copy-synthesis of the original mel: {sum(floors) / len(floors):.4f})")
    else:
        print("multi-resolution STFT distance: needs audio; pass --vocoder <trained vocoder run>")
    print("\ncodebook health over all codes of the folder:")
    print(format_health_table(health_table(usage.health())))


if __name__ == "__main__":
    main()
