"""Mel -> audio: the ``Vocoder`` interface, chunked rendering, the trained per-model family
(``GeneratorVocoder`` over any ``distill.nn.mel_generator.MelGenerator``), the universal BigVGAN,
held-out quality scoring, quality-ranked selection and the kinds with their names (``kinds``).
Below ``bundle``: nothing here knows about model files, and nothing in ``bundle`` names a vocoder
kind."""
