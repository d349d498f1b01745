"""The vocoder a user asks for (checked before anything heavy loads: no torch import here)."""

from __future__ import annotations

from enum import StrEnum

from distill.errors import UserError


class VocoderChoice(StrEnum):
    AUTO = "auto"  # the better measured of the model's own and a local BigVGAN
    BUNDLED = "bundled"  # the model's own vocoder only
    BIGVGAN = "bigvgan"  # BigVGAN only

    @classmethod
    def parse(cls, value: str) -> VocoderChoice:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(choice.value for choice in cls)
            raise UserError(f"Unknown vocoder '{value}'; choose {choices}.") from None
