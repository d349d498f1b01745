"""Train a distill model: `python train.py model=vqvae data=auto data.path=/my/sounds`."""

from distill.cli.train_commands import hydra_main

if __name__ == "__main__":
    hydra_main()
