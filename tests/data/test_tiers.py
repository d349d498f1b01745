import pytest
from omegaconf import OmegaConf

from distill.data.tiers import load_tiers, pick_tier, resolve_auto_tier


@pytest.mark.parametrize(
    ("files", "tier"),
    [
        (1, "small"),
        (4, "small"),
        (5, "small"),
        (20, "small"),
        (21, "medium"),
        (100, "medium"),
        (101, "large"),
        (900, "large"),
    ],
)
def test_tier_boundaries_follow_the_design_table(files: int, tier: str):
    assert pick_tier(files).name == tier


def test_tier_values_live_in_the_data_yaml():
    values = {
        t.name: (t.node.codebook_size, t.node.ema_decay, t.node.prior_hidden, t.node.prior_layers)
        for t in load_tiers()
    }
    assert values == {"small": (64, 0.8, 128, 2), "medium": (128, 0.9, 256, 4), "large": (256, 0.95, 512, 6)}


def test_too_few_files_warns_but_still_picks_small(caplog):
    assert pick_tier(3).name == "small"
    assert "Only 3 usable file(s)" in caplog.text


def test_resolve_auto_replaces_the_tier_node_and_leaves_explicit_tiers_alone():
    cfg = OmegaConf.create({"data": {"tier": {"name": "auto"}}})
    assert resolve_auto_tier(cfg, 30) == "medium"
    assert cfg.data.tier.codebook_size == 128
    explicit = OmegaConf.create({"data": {"tier": {"name": "large", "codebook_size": 256}}})
    assert resolve_auto_tier(explicit, 3) == "large"
