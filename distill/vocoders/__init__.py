"""Mel -> audio: the ``Vocoder`` interface, chunked rendering, the trained per-model family
(``GeneratorVocoder`` over any ``distill.nn.mel_generator.MelGenerator``), the universal BigVGAN,
held-out quality scoring, quality-ranked selection and the kinds with their names (``kinds``).
Below ``bundle``: nothing here knows about model files, and nothing in ``bundle`` names a vocoder
kind."""

# The scale of the M-STFT quality number (held-out scores, selection; quality.py), recorded beside
# each number, here so that listing a library reads it without loading torch:
# 1: spectral convergence ||S - S'|| / ||S|| and log magnitudes down to an absolute 1e-7, unbounded
#    on quiet material (issue 25: 122.78 recorded for a vocoder of mel L1 0.11).
# 2: per clip, bounded, level- and silence-robust (MultiResolutionSTFTDistance): in [0, ~7.9].
MSTFT_VERSION = 2
