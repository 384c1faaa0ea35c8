"""Model size and cost: parameter counts and FLOPs counted from the jaxpr (nothing is compiled).

    count_params(variables)          -> int, the elements of the 'params' collection
    count_flops(fn, *args, **kwargs) -> {'conv': F, 'dot': F}, FLOPs traced in fn(*args, **kwargs)

A FLOP is half a multiply-add: a 3x3 'SAME' convolution of an (N, H, W, Cin) input to Cout
channels counts 2*N*H*W*Cin*Cout*9, a Dense layer 2*N*in*out. Only convolutions and matmuls
(`dot_general`, einsum) are counted; elementwise ops, reductions and biases are not (they are a
few per output element). Convolutions and matmuls inside `jit`, `custom_jvp/vjp`, `remat` and
`scan` (times its length) are counted; a `while` body counts once (its trip count is unknown).

Convolutions go through `lax.platform_dependent` (`enhance_jax.models.convolution`: on CPU a
rewrite as im2col or sub-pixel matmuls or a native kernel, elsewhere plain
`lax.conv_general_dilated`), which traces as a `cond` over the implementations of the one
convolution. Such a cond counts only its platform-independent branch: the plain convolution, the
model's FLOPs as papers count them, whatever the backend runs (a native kernel is opaque to the
jaxpr). Any other `cond` counts its most expensive branch.
"""
from __future__ import annotations

from typing import Any, Callable

import jax


def count_params(variables: Any) -> int:
  """Number of trainable parameters: the elements of `variables['params']` when `variables` is a
  Flax variables dict with a 'params' collection (BatchNorm statistics are not parameters), else of
  every leaf. Works on arrays and on `jax.ShapeDtypeStruct` trees (from `jax.eval_shape`)."""
  if isinstance(variables, dict) or hasattr(variables, "keys"):
    if "params" in variables:
      variables = variables["params"]
  return sum(_prod(getattr(x, "shape", ())) for x in jax.tree.leaves(variables))


def count_flops(fn: Callable, *args, **kwargs) -> dict[str, float]:
  """FLOPs of the convolutions ('conv') and matmuls ('dot') traced in `fn(*args, **kwargs)`.

  2 per multiply-add; forward, input-gradient and weight-gradient convolutions alike (so
  `jax.grad` of a loss counts the backward pass too). `args` may be arrays or
  `jax.ShapeDtypeStruct`s. Nothing is compiled or run.
  """
  return _jaxpr_flops(jax.make_jaxpr(fn)(*args, **kwargs).jaxpr)


def _prod(xs) -> int:
  p = 1
  for x in xs:
    p *= int(x)
  return p


def _sub_jaxprs(eqn):
  """The jaxprs nested in an equation's parameters (jit bodies, cond branches, scan bodies ...)."""
  for v in eqn.params.values():
    for item in (v if isinstance(v, (tuple, list)) else (v,)):
      if hasattr(item, "eqns"):
        yield item
      elif hasattr(item, "jaxpr") and hasattr(item.jaxpr, "eqns"):
        yield item.jaxpr


def _cond_branch(eqn, subs: list, cache: dict):
  """The one branch of a `cond` that counts (see the module docstring)."""
  platforms = eqn.params.get("branches_platforms")
  if platforms and len(platforms) == len(subs):
    default = [s for s, p in zip(subs, platforms) if p is None]
    if default:
      return default[0]
  return max(subs, key=lambda j: sum(_jaxpr_flops(j, cache).values()))


def _jaxpr_flops(jaxpr, cache: dict | None = None) -> dict[str, float]:
  cache = {} if cache is None else cache
  if id(jaxpr) in cache:
    return cache[id(jaxpr)][1]
  out = {"conv": 0.0, "dot": 0.0}
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
      rhs = eqn.invars[1].aval
      res = eqn.outvars[0].aval
      dn = eqn.params["dimension_numbers"]
      out_features = rhs.shape[dn.rhs_spec[0]]
      # Each output element contracts over the kernel's other dims; zeros inserted by lhs
      # dilation (transposed/strided-gradient convs) do no work.
      macs = _prod(res.shape) * (_prod(rhs.shape) // out_features)
      macs /= _prod(eqn.params.get("lhs_dilation") or (1,))
      out["conv"] += 2.0 * macs
    elif name == "dot_general":
      (lc, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval
      res = eqn.outvars[0].aval
      out["dot"] += 2.0 * _prod(res.shape) * _prod(lhs.shape[d] for d in lc)
    subs = list(_sub_jaxprs(eqn))
    if name == "cond" and subs:
      subs = [_cond_branch(eqn, subs, cache)]
    mult = eqn.params.get("length", 1) if name == "scan" else 1
    for sub in subs:
      for k, v in _jaxpr_flops(sub, cache).items():
        out[k] += mult * v
  cache[id(jaxpr)] = (jaxpr, out)  # the jaxpr is kept alive so that its id stays unique
  return out
