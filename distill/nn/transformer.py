"""The transformer pieces both priors are built of: a preallocated KV cache, causal self-attention
on SDPA's fused kernels, a pre-norm block, and GPT-2's initialisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(kw_only=True)
class KVCache:
    """Keys/values of every layer for one context window, allocated once at full window size.

    Growing the cache with ``torch.cat`` re-copies it every token (measured slow); here a step writes
    one slot in place and attention reads the filled prefix as a view.
    """

    keys: torch.Tensor  # [layers, B, heads, capacity, head_dim]
    values: torch.Tensor  # [layers, B, heads, capacity, head_dim]
    length: int = 0  # window positions filled
    offset: int = 0  # clip token index predicted at window position 0
    condition: torch.Tensor | None = None  # [B, H] the request's embedding, for the first column's inputs
    timing: torch.Tensor | None = None  # [B or 1, capacity, H] the clock at each window position

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    def reset(self, *, offset: int) -> None:
        """Start a new window predicting clip token ``offset`` first; old slots are just overwritten."""
        self.length = 0
        self.offset = offset


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention on ``F.scaled_dot_product_attention`` (fused kernels on CPU too).

    No dropout on the attention weights: with ``dropout_p > 0`` SDPA leaves its fused CPU kernel for
    the one that materialises every [T x T] attention matrix, and a training step at the medium
    tier's 704-token window took 4.4 s instead of 1.9 s (2 cores). The blocks' residual dropout
    still regularises.
    """

    def __init__(self, *, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden={hidden} must be divisible by heads={heads}")
        self.heads = heads
        self.head_dim = hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, *, cache: KVCache | None, layer: int) -> torch.Tensor:
        batch, length, hidden = x.shape  # x [B, T, H]
        qkv = self.qkv(x).view(batch, length, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, heads, T, head_dim]
        mask = None
        causal = length > 1
        if cache is not None:
            start, end = cache.length, cache.length + length
            cache.keys[layer, :, :, start:end] = k
            cache.values[layer, :, :, start:end] = v
            k = cache.keys[layer, :, :, :end]  # [B, heads, end, head_dim], a view of the filled prefix
            v = cache.values[layer, :, :, :end]
            if start > 0 and length > 1:
                # SDPA's is_causal aligns the mask top-left, wrong when queries start after a prefix.
                mask = torch.ones(length, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
                causal = False
            elif start > 0:
                causal = False  # one new query may see every cached position
        attn = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal
        )  # [B, heads, T, head_dim]
        return self.out(attn.transpose(1, 2).reshape(batch, length, hidden))


class PriorBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, *, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(hidden)
        self.attn = CausalSelfAttention(hidden=hidden, heads=heads)
        self.mlp_norm = nn.LayerNorm(hidden)
        # tanh GELU as in GPT-2; also ~5x cheaper than the erf form per decoding step on CPU.
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.GELU(approximate="tanh"), nn.Linear(4 * hidden, hidden)
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor, *, cache: KVCache | None, layer: int) -> torch.Tensor:
        # Functional calls on the submodules' weights rather than module calls: a decoding step
        # runs this once per token and layer, and nn.Module call overhead (plus no-op dropout
        # modules) was ~13 % of a step at the small tier on CPU.
        p = self.dropout if self.training else 0.0
        norm, up, down = self.attn_norm, self.mlp[0], self.mlp[2]
        h = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        x = x + F.dropout(self.attn(h, cache=cache, layer=layer), p, self.training)
        norm = self.mlp_norm
        h = F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        h = F.linear(F.gelu(F.linear(h, up.weight, up.bias), approximate="tanh"), down.weight, down.bias)
        return x + F.dropout(h, p, self.training)


def init_gpt2_weights(model: nn.Module, *stacks: nn.ModuleList) -> None:
    """GPT-2's initialisation: every linear and embedding N(0, 0.02), biases 0, and each residual
    branch's output projection scaled by 1/sqrt(2 * its stack's layers), so the residual stream's
    variance does not grow with depth at init."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    for blocks in stacks:
        for block in blocks:
            for proj in (block.attn.out, block.mlp[2]):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * len(blocks)))
