"""RVQ-VAE: mel -> continuous latent grid -> residual codes -> mel.

The code grid of a clip is [levels, freq_rows, time_cols] = [Q, n_mels / bands_per_row, ceil(T / 16)]
(8 rows by default; docs/DESIGN.md). Any clip length is accepted: the mel is padded with
digital-silence frames to a multiple of 16 (what the clip "continues" with after it ends) and the
reconstruction is trimmed back.

Pitch: with a pitch input and head, the encoder also sees the mel's tracked pitch and the decoder
decodes each frame's pitch from the codes (``distill.nn.pitch_head``); the grid stays codes alone.
``decode`` renders the harmonic pattern of the head's distribution at ``pitch_temperature`` (0.5 by
default, 1 in training): where the codes leave the pitch uncertain, as a prior's draws often do,
the expectation at 1 blurs several pitches' combs into a wash, and the likelier pitch should win.

Texture: a decoder with a texture head also predicts how far a real mel spreads around the mean the
codes determine. ``decode`` (what every rendering of a code grid goes through) draws that detail:
mean + amount x scale x noise. The amount is ``texture`` in pitched frames and
``texture_unpitched`` in the others, blended by the voicing the pitch head decodes from the codes:
where a sound has a pitch, much of the spread is partials a little off their place (structure,
which independent noise only smears), where it has none (a snare, a cymbal, a consonant) the
spread is grain. The noise is a fixed field indexed by absolute mel frame, so decoding stays a
function of the grid (the same grid renders the same audio; windows decoded apart join exactly;
an edit changes the sound only where it changes the codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.audio.mel import silence_frame
from distill.audio.mel_pitch import PitchTrack, track_pitch
from distill.nn.conv_codec import DOWNSAMPLE, ConvDecoder, ConvEncoder, DecodedMel
from distill.nn.pitch_head import PitchPrediction
from distill.nn.quantizer import QuantizedResult, ResidualQuantizer

TEXTURE_FIELD_FRAMES = 8192


def texture_start(seed: int) -> int:
    """Where a sound made with ``seed`` sits on the texture's noise field: each generated sound its
    own draw of the detail (seeds one apart start 273 frames, ~3.2 s, apart), the same one on a remake."""
    return seed * 7919 % TEXTURE_FIELD_FRAMES


@dataclass(frozen=True)
class VQVAEOutput:
    recon: torch.Tensor  # [B, n_mels, T] reconstructed log-mel (the mean), trimmed to the input length
    # [B, n_mels, T] the log scale of its texture (``ConvDecoder``); None without a texture head
    recon_log_scale: torch.Tensor | None
    codes: torch.Tensor  # [B, Q, R, ceil(T/16)] long
    commit_loss: torch.Tensor  # scalar, summed over levels
    latent: torch.Tensor  # [B, D, R, ceil(T/16)] encoder output before quantization
    quantized: torch.Tensor  # [B, D, R, ceil(T/16)] what the decoder consumed
    # With a pitch head: the input's tracked pitch (the target) and the decoder's prediction of it,
    # both over the padded frames [B, 16 ceil(T/16)]
    pitch_target: PitchTrack | None = None
    pitch: PitchPrediction | None = None


class RVQVAE(nn.Module):
    """Mel autoencoder with a residual-VQ bottleneck.

    VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning") with the residual
    quantizer of SoundStream (Zeghidour et al. 2021). Receives built modules so each part is its
    own Hydra config node; their widths must agree.
    """

    def __init__(
        self,
        *,
        encoder: ConvEncoder,
        quantizer: ResidualQuantizer,
        decoder: ConvDecoder,
        texture: float = 0.0,  # 0.0 for RVQ-VAEs trained before the texture head existed
        texture_unpitched: float | None = None,  # None (files made before it existed): ``texture``
        pitch_temperature: float = 1.0,  # 1.0 for RVQ-VAEs made before the option existed
    ) -> None:
        """texture: how much of the predicted spread ``decode`` draws (x the scale; 0 = the mean
        alone), in the frames the pitch head finds pitched; texture_unpitched: in the others (a
        decoder without a pitch head draws ``texture`` everywhere). pitch_temperature: of the pitch
        head's distribution when ``decode`` renders codes (module docstring); training renders at 1."""
        super().__init__()
        if not 0 < pitch_temperature <= 1:
            raise ValueError(f"pitch_temperature {pitch_temperature} needs to be in (0, 1]")
        self.pitch_temperature = float(pitch_temperature)
        texture_unpitched = texture if texture_unpitched is None else texture_unpitched
        for name, amount in (("texture", texture), ("texture_unpitched", texture_unpitched)):
            if not amount >= 0 or (amount > 0 and not decoder.has_texture):
                raise ValueError(
                    f"{name} {amount} needs to be >= 0, and > 0 only with a decoder texture_head"
                )
        self.texture = texture
        self.texture_unpitched = texture_unpitched
        if not encoder.latent_dim == quantizer.dim == decoder.latent_dim:
            raise ValueError(
                f"latent widths disagree: encoder {encoder.latent_dim}, quantizer {quantizer.dim}, "
                f"decoder {decoder.latent_dim}"
            )
        if encoder.has_pitch != decoder.has_pitch:
            raise ValueError(
                f"pitch disagrees: encoder input {encoder.has_pitch}, decoder head {decoder.has_pitch}"
            )
        if encoder.bands_per_row != decoder.bands_per_row:
            raise ValueError(
                f"bands per row disagree: encoder {encoder.bands_per_row}, decoder {decoder.bands_per_row}"
            )
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        # Mel frames per code-grid column (four stride-2 stages); code grids take it from here.
        self.frames_per_column = DOWNSAMPLE
        # Not persistent: it is part of the mel definition, not of the trained weights.
        self.register_buffer("silence", silence_frame().view(1, -1, 1), persistent=False)  # [1, n_mels, 1]
        # The texture's noise field [n_mels, TEXTURE_FIELD_FRAMES], repeating every ~95 s. Not
        # persistent: it is the same in every model, drawn here from a fixed seed.
        noise = torch.randn(
            len(silence_frame()), TEXTURE_FIELD_FRAMES, generator=torch.Generator().manual_seed(0)
        )
        self.register_buffer("texture_noise", noise, persistent=False)

    def _pad(self, mel: torch.Tensor) -> torch.Tensor:
        # mel: [B, n_mels, T] -> [B, n_mels, 16 * ceil(T / 16)], padded at the end with silence frames
        pad = (-mel.shape[-1]) % DOWNSAMPLE
        if pad == 0:
            return mel
        return torch.cat([mel, self.silence.to(mel.dtype).expand(mel.shape[0], -1, pad)], dim=-1)

    def forward(self, mel: torch.Tensor) -> VQVAEOutput:
        # mel: [B, n_mels, T], any T >= 1
        n_frames = mel.shape[-1]
        padded = self._pad(mel)
        track = self._track(padded) if self.encoder.has_pitch else None
        latent = self._encode(padded, track)  # [B, D, R, C]
        q = self.quantizer(latent)
        return self._output(self.decoder.decode(q.quantized), n_frames, q, latent, track)

    def _encode(self, padded: torch.Tensor, track: PitchTrack | None = None) -> torch.Tensor:
        """The latent grid of a padded mel; an encoder with a pitch input also sees its tracked pitch."""
        if not self.encoder.has_pitch:
            return self.encoder(padded)
        if track is None:
            track = self._track(padded)
        return self.encoder(padded, track.pattern().to(padded.dtype))

    def _track(self, padded: torch.Tensor) -> PitchTrack:
        """The tracked pitch, over the candidates the decoder's pitch head decodes."""
        return track_pitch(padded, f0_max=self.decoder.pitch_f0_max)

    @staticmethod
    def _output(
        decoded: DecodedMel, n_frames: int, q: QuantizedResult, latent: torch.Tensor, track: PitchTrack | None
    ) -> VQVAEOutput:
        log_scale = decoded.log_scale
        return VQVAEOutput(
            recon=decoded.mean[..., :n_frames],  # [B, n_mels, T]
            recon_log_scale=None if log_scale is None else log_scale[..., :n_frames],
            codes=q.codes,
            commit_loss=q.commit_loss,
            latent=latent,
            quantized=q.quantized,
            pitch_target=track,
            pitch=decoded.pitch,
        )

    @torch.no_grad()
    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Code grid of a mel of any length: [B, n_mels, T] -> [B, Q, R, ceil(T/16)] long.

        Needs eval mode: a train-mode forward would update the EMA codebooks (and, with quantize
        dropout, return -1 for dropped levels).
        """
        if self.training:
            raise RuntimeError(
                "RVQVAE.encode needs eval mode (call .eval()): train mode updates the codebooks"
            )
        return self.quantizer(self._encode(self._pad(mel))).codes

    @torch.no_grad()
    def reconstruct(self, mel: torch.Tensor, *, start_frame: int = 0) -> torch.Tensor:
        """A mel as its codes render it, texture drawn (``decode(encode(mel))``): [B, n_mels, T] ->
        [B, n_mels, T]. What a vocoder fine-tuned on this RVQ-VAE's output learns to render."""
        return self.decode(self.encode(mel), mel.shape[-1], start_frame=start_frame)

    def decode(
        self,
        codes: torch.Tensor,
        n_frames: int | None = None,
        *,
        start_frame: int = 0,
        pitch_hz: float | None = None,
    ) -> torch.Tensor:
        """Mel of a code grid: [B, Q, R, C] -> [B, n_mels, n_frames] (n_frames defaults to 16C), with its
        texture drawn (module docstring). start_frame: where the grid starts in the clip it is part
        of (a window of a longer grid), which places it on the texture's noise field. pitch_hz: the
        pitched frames sound that f0 instead of the pitch the codes carry (a note asked for; within
        ``decoder.pitch_range``, with a pitch head)."""
        full = DOWNSAMPLE * codes.shape[-1]
        if n_frames is not None and not 0 < n_frames <= full:
            raise ValueError(
                f"n_frames must be in 1..{full} for {codes.shape[-1]} code columns, got {n_frames}"
            )
        latent = self.quantizer.codes_to_latent(codes)
        # [B, n_mels, 16C] each, the pitch read at this model's temperature (training's forward: 1)
        decoded = self.decoder.decode(latent, pitch_temperature=self.pitch_temperature, pitch_hz=pitch_hz)
        mel = decoded.mean
        if decoded.log_scale is not None and (self.texture > 0 or self.texture_unpitched > 0):
            frames = torch.arange(start_frame, start_frame + mel.shape[-1], device=mel.device)
            noise = self.texture_noise[: mel.shape[1], frames % TEXTURE_FIELD_FRAMES]  # [n_mels, 16C]
            mel = mel + self.texture_amount(decoded) * decoded.log_scale.exp() * noise.to(mel.dtype)
        return mel if n_frames is None else mel[..., :n_frames]

    def texture_amount(self, decoded: DecodedMel) -> torch.Tensor | float:
        """How much of the spread each frame draws: [B, 1, 16C] between ``texture_unpitched``
        (voicing 0) and ``texture`` (voicing 1), or ``texture`` without a pitch head."""
        if decoded.pitch is None or self.texture_unpitched == self.texture:
            return self.texture
        voicing = torch.sigmoid(decoded.pitch.voicing_logit.float()).to(decoded.mean.dtype)[:, None, :]
        return self.texture_unpitched + (self.texture - self.texture_unpitched) * voicing
