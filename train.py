"""Train a distill model: `python train.py model=vqvae data=auto data.path=/my/sounds`."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from distill.cli.errors import exit_on_user_error
    from distill.train import train

    with exit_on_user_error():
        metrics, _ = train(cfg)
    # Returned for Hydra sweepers that optimise a metric.
    return metrics.get("val/loss")


if __name__ == "__main__":
    main()
