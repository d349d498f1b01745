import math

import torch

from distill.audio.mel_pitch import (
    CODES_F0_MAX,
    F0_MAX,
    PitchTrack,
    candidate_f0,
    candidate_patterns,
    harmonic_pattern,
)
from distill.nn.pitch_head import PitchHead, PitchPrediction, pitch_loss


def _head() -> PitchHead:
    torch.manual_seed(0)
    return PitchHead(cell_channels=2 * 6, width=16, frames_per_column=16, f0_max=F0_MAX).double()


def test_a_frame_per_mel_frame_and_a_logit_per_candidate():
    prediction = _head()(torch.randn(3, 6, 2, 5, dtype=torch.float64))
    assert prediction.logits.shape == (3, len(candidate_f0()), 80)
    assert prediction.voicing_logit.shape == (3, 80)
    assert prediction.pattern().shape == (3, 128, 80)


def test_a_head_made_before_the_range_was_an_option_keeps_its_candidates():
    """An RVQ-VAE trained before decodes 1200 Hz at most: its head is built, and loads, as it was."""
    legacy = PitchHead(cell_channels=12, width=16, frames_per_column=16)  # no f0_max: older configs
    assert legacy.f0_max == CODES_F0_MAX
    prediction = legacy(torch.randn(1, 6, 2, 2))
    assert prediction.logits.shape[1] == len(candidate_f0(f0_max=CODES_F0_MAX)) == 221
    assert prediction.pattern().shape == (1, 128, 32)


def test_span_matches_measured_influence():
    head = _head()
    base = torch.randn(1, 6, 2, 12, dtype=torch.float64)
    bumped = base.clone()
    bumped[..., 6] += 1.0
    a, b = head(base), head(bumped)
    changed = ((a.logits != b.logits).any(dim=1) | (a.voicing_logit != b.voicing_logit))[0]
    changed = changed.nonzero().flatten()
    lo, hi = head.temporal_span
    assert (int(changed[0]), int(changed[-1])) == (16 * 6 + lo, 16 * 6 + hi)


def test_a_confident_one_hot_prediction_renders_its_candidates_pattern():
    candidates = len(candidate_f0())
    logits = torch.full((1, candidates, 4), -1e4)
    logits[0, 17] = 1e4
    voicing = torch.tensor([[1e4, 1e4, -1e4, -1e4]])
    prediction = PitchPrediction(logits=logits, voicing_logit=voicing, f0_max=F0_MAX)
    pattern = prediction.pattern()
    torch.testing.assert_close(pattern[0, :, 0], candidate_patterns()[17])
    assert (pattern[0, :, 2:] == 0).all()  # unvoiced frames carry no pattern


def test_a_note_asked_for_renders_its_own_pattern_in_every_frame_times_the_voicing():
    """pattern_at(f0) is what a certain prediction of that f0 renders (at a candidate: exactly the
    candidate's pattern), whatever the head predicted, and still x the voicing decoded."""
    candidates = len(candidate_f0())
    torch.manual_seed(0)
    voicing = torch.tensor([[1e4, 0.3, -1e4]])
    prediction = PitchPrediction(logits=torch.randn(1, candidates, 3), voicing_logit=voicing, f0_max=F0_MAX)
    at = prediction.pattern_at(float(candidate_f0()[100]))
    for frame in range(3):
        torch.testing.assert_close(
            at[0, :, frame], candidate_patterns()[100] * torch.sigmoid(voicing[0, frame])
        )
    assert (at[0, :, 2] == 0).all()  # an unvoiced frame (an attack's noise) stays unpitched
    # Between two candidates, its own comb: a quarter-tone above lies between them, on neither.
    between = prediction.pattern_at(float(candidate_f0()[100]) * 2 ** (1 / 96))[0, :, 0]
    assert not torch.allclose(between, candidate_patterns()[100])
    assert not torch.allclose(between, candidate_patterns()[101])
    assert torch.allclose(harmonic_pattern(float(candidate_f0()[100])), candidate_patterns()[100])


def test_a_lower_temperature_renders_the_likelier_pitch_rather_than_a_blur_of_two():
    """Two candidates an octave apart at 0.6 / 0.4: at 1 the pattern is their mix, below 1 it
    moves toward the likelier one's comb, and at 1 it is the plain expectation (training's)."""
    candidates = len(candidate_f0())
    logits = torch.full((1, candidates, 1), -1e4, dtype=torch.float64)
    likelier, other = 60, 108  # quarter-semitone candidates: 48 apart is an octave
    logits[0, likelier], logits[0, other] = math.log(0.6), math.log(0.4)
    prediction = PitchPrediction(logits=logits, voicing_logit=torch.full((1, 1), 1e4), f0_max=F0_MAX)
    patterns = candidate_patterns().double()
    torch.testing.assert_close(
        prediction.pattern()[0, :, 0], 0.6 * patterns[likelier] + 0.4 * patterns[other]
    )
    torch.testing.assert_close(prediction.pattern(1.0), prediction.pattern())
    # At 0.5 the probabilities are squared and renormalised: 0.36 / 0.52 and 0.16 / 0.52.
    torch.testing.assert_close(
        prediction.pattern(0.5)[0, :, 0], (0.36 * patterns[likelier] + 0.16 * patterns[other]) / 0.52
    )
    near_zero = (prediction.pattern(0.05)[0, :, 0] - patterns[likelier]).norm()
    assert near_zero < 0.01 * (prediction.pattern()[0, :, 0] - patterns[likelier]).norm()


def test_the_loss_ignores_the_pitch_of_unconfident_frames_and_padding():
    candidates = len(candidate_f0())
    logits = torch.zeros(1, candidates, 32)
    logits[0, 3] = 10.0  # predicts candidate 3 everywhere
    prediction = PitchPrediction(logits=logits, voicing_logit=torch.full((1, 32), -10.0), f0_max=F0_MAX)
    target = PitchTrack(candidate=torch.full((1, 32), 40), confidence=torch.zeros(1, 32))
    mask = torch.ones(1, 20, dtype=torch.bool)
    unconfident = pitch_loss(prediction, target, mask)
    assert unconfident < 0.01  # the wrong candidate costs nothing where nothing is pitched
    confident = PitchTrack(candidate=target.candidate, confidence=torch.ones(1, 32))
    assert pitch_loss(prediction, confident, mask) > 10.0
    mask[0, 10:] = False  # the padded frames do not count
    confident_late = PitchTrack(candidate=target.candidate, confidence=(torch.arange(32) >= 10).float()[None])
    assert pitch_loss(prediction, confident_late, mask) < 0.01


def test_the_head_learns_a_pitch_from_the_cells():
    torch.manual_seed(0)
    head = PitchHead(cell_channels=8, width=32, frames_per_column=16, f0_max=F0_MAX)
    latent = torch.randn(8, 4, 2, 3)
    # the target candidate is a function of the cells (their sign), confidently pitched
    candidate = (latent[:, 0, 0, :] > 0).long().repeat_interleave(16, dim=-1) * 50 + 20
    target = PitchTrack(candidate=candidate, confidence=torch.ones(8, 48))
    mask = torch.ones(8, 48, dtype=torch.bool)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = pitch_loss(head(latent), target, mask)
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    predicted = head(latent).logits.argmax(dim=1)
    assert float(loss.detach()) < first / 4
    assert (predicted == candidate).float().mean() > 0.9
