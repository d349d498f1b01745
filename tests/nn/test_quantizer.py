import torch

from distill.nn.quantizer import QuantizedResult, ResidualQuantizer


def _quantizer(**overrides) -> ResidualQuantizer:
    kw = dict(
        dim=8,
        num_levels=3,
        codebook_size=16,
        decay=0.8,
        commitment_weight=0.25,
        kmeans_iters=5,
        threshold_ema_dead_code=2,
        quantize_dropout=False,
    )
    kw.update(overrides)
    return ResidualQuantizer(**kw)


def _latent(batch: int = 4, cols: int = 10) -> torch.Tensor:
    # 4 x 8 rows x 10 cols = 320 cells: 20x the codebook, enough for the k-means init
    return torch.randn(batch, 8, 8, cols)


def test_shapes_and_types():
    torch.manual_seed(0)
    q = _quantizer()
    out = q(_latent())
    assert isinstance(out, QuantizedResult)
    assert out.quantized.shape == (4, 8, 8, 10)
    assert out.codes.shape == (4, 3, 8, 10) and out.codes.dtype == torch.long
    assert out.commit_loss.shape == () and out.commit_loss > 0
    assert int(out.codes.min()) >= 0 and int(out.codes.max()) < 16


def test_kmeans_init_happens_on_first_train_forward():
    torch.manual_seed(0)
    q = _quantizer().train()
    assert not q.initted
    assert all(torch.count_nonzero(layer._codebook.embed) == 0 for layer in q.rvq.layers)
    q(_latent())
    assert q.initted
    assert all(torch.count_nonzero(layer._codebook.embed) > 0 for layer in q.rvq.layers)


def test_dead_code_replacement_is_on_and_replaces_unused_codes():
    torch.manual_seed(0)
    q = _quantizer().train()
    assert all(layer._codebook.has_dead_code_replacement for layer in q.rvq.layers)
    x = _latent()
    q(x)
    book = q.rvq.layers[0]._codebook
    with torch.no_grad():  # code 3: far from every input (never chosen) with an EMA count below 2
        book.cluster_size[0, 3] = 1.0
        book.embed_avg[0, 3] = 1e3
        book.embed[0, 3] = 1e3
    q(x)
    # replaced by one of the batch's cells (level 0 quantizes the cells themselves); the library's
    # arithmetic after the copy moves it by float rounding (1e-3 with other CPU kernels), while the
    # cells lie ~3 apart and the dead code was 1e3 away
    cells = x.flatten(2).transpose(1, 2).reshape(-1, 8)
    assert torch.cdist(book.embed[0, 3][None], cells).min() < 0.05


def test_codes_to_latent_matches_quantized_in_eval():
    torch.manual_seed(0)
    q = _quantizer()
    x = _latent()
    q.train()(x)  # init
    out = q.eval()(x)
    torch.testing.assert_close(q.codes_to_latent(out.codes), out.quantized)


def test_eval_commit_loss_equals_train_mode_loss_on_frozen_codebook():
    torch.manual_seed(0)
    q = _quantizer()
    x = _latent()
    q.train()(x)
    flat = x.flatten(2).transpose(1, 2)  # [B, R*C, D] as the wrapper feeds the library
    _, _, level_losses = q.rvq(flat, freeze_codebook=True)
    torch.testing.assert_close(q.eval()(x).commit_loss, level_losses.sum(), rtol=1e-4, atol=1e-6)


def test_straight_through_gradient_reaches_input():
    torch.manual_seed(0)
    q = _quantizer().train()
    x = _latent().requires_grad_()
    out = q(x)
    (out.quantized.square().mean()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_quantize_dropout_codes_hold_minus_one_only_in_train_mode():
    torch.manual_seed(0)
    q = _quantizer(quantize_dropout=True)
    x = _latent()
    saw_dropped = False
    for _ in range(10):
        saw_dropped |= bool((q.train()(x).codes == -1).any())
    assert saw_dropped
    assert int(q.eval()(x).codes.min()) >= 0


def test_state_dict_round_trips_codebooks_ema_and_init_flag():
    torch.manual_seed(0)
    q = _quantizer().train()
    x = _latent()
    for _ in range(3):
        q(x + 0.1 * torch.randn_like(x))
    state = q.state_dict()
    for name in ("embed", "embed_avg", "cluster_size", "initted"):
        assert any(key.endswith(f"_codebook.{name}") for key in state), name

    restored = _quantizer()
    assert not restored.initted
    restored.load_state_dict(state)
    assert restored.initted
    for key, value in state.items():
        assert torch.equal(restored.state_dict()[key], value), key
    # restored model quantizes identically, and a train step does not re-init from scratch
    assert torch.equal(restored.eval()(x).codes, q.eval()(x).codes)
    before = restored.rvq.layers[0]._codebook.embed.clone()
    restored.train()(x)
    assert torch.allclose(restored.rvq.layers[0]._codebook.embed, before, atol=1.0)


def test_mixed_precision_quantizes_in_float32():
    # Under bfloat16 autocast (cpu_bf16) the encoder hands over a bfloat16 latent; the distances to
    # the codes must still be float32, or cells pick their codes by rounding.
    torch.manual_seed(0)
    q = _quantizer(num_levels=4, codebook_size=64)
    q.train()(torch.randn(16, 8, 8, 40))  # k-means init on 5,120 cells
    q.eval()
    latent = torch.randn(8, 8, 8, 40).bfloat16()
    expected = q(latent.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = q(latent)
    assert mixed.quantized.dtype == torch.float32
    assert torch.equal(mixed.codes, expected.codes)
    assert torch.equal(mixed.quantized, expected.quantized)
