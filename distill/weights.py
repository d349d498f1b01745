"""A content digest of a module's weights: how a prior knows which VQ-VAE its codes came from."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch


def state_dict_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 hex over (name, dtype, shape, bytes) of every tensor, in sorted name order.

    Independent of device, of storage sharing and of the order the dict was built in, so the same
    weights read from a Lightning checkpoint or from a model file give the same digest.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
