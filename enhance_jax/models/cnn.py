"""Plain CNN enhancer: a stack of 3x3 conv + activation (the low-light CNN study)."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from enhance_jax.models import layers
from enhance_jax.models.convolution import Conv
from enhance_jax.models.registry import register


@register("cnn")
class PlainCNN(nn.Module):
  """`depth` 3x3 convs with `features` channels; NHWC [0, 1] -> NHWC.

  `residual=True` predicts a correction added to the input (needs equal in/out
  channels); `output_activation` ('sigmoid', 'identity', ...) bounds the output.
  `normalization` follows convs 1..depth-2 (whose bias it makes redundant, so
  they have none); conv0 is never normalised and keeps its bias either way, so
  a normalisation ablation changes only the normalised layers.
  """
  features: int = 64
  depth: int = 8
  out_channels: int = 3
  activation: str = "relu"
  normalization: str | None = None
  residual: bool = False
  output_activation: str = "identity"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    act = layers.activation(self.activation)
    h = x.astype(self.dtype)
    for i in range(self.depth - 1):
      normalised = i > 0 and self.normalization not in (None, "none", "")
      h = Conv(self.features, (3, 3), use_bias=not normalised, dtype=self.dtype,
               name=f"conv{i}")(h)
      if i > 0:
        h = layers.normalization(self.normalization, train)(h)
      h = act(h)
    h = Conv(self.out_channels, (3, 3), dtype=self.dtype, name=f"conv{self.depth - 1}")(h)
    h = h.astype(jnp.float32)
    if self.residual:
      h = x + h
    return layers.activation(self.output_activation)(h)
