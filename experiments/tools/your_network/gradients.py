"""The user's backprop, tensor by tensor, against torch autograd and finite differences of their
own forward pass, and what is wrong with a gradient that differs, said for a learner.

Tolerances, from float64's precision (eps = 2.2e-16), on rel_err = ||g - g_ref|| / ||g_ref||:
  torch               sqrt(eps) = 1.5e-8. A right backprop differs from autograd on an exact
                      copy by rounding alone (~1e-15), a wrong one by O(1).
  finite differences  (C(w + h) - C(w - h)) / 2h with h = eps^(1/3) = 6e-6, the step that
                      balances truncation (h^2) against rounding (eps |C| / h), on `entries`
                      entries of each tensor: 1e-5 plus NOISE eps |C| / h relative to ||g_fd||.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch

from experiments.errors import UsageError
from experiments.tools.your_network.conventions import (
    CONVENTIONS,
    find_convention,
    interleaved,
    method,
    parameters,
    shapes_of,
    tensor_names,
)
from experiments.tools.your_network.user_code import one_thread
from torch_ref import TwinNet

EPS = float(np.finfo(np.float64).eps)
TOL_TORCH = math.sqrt(EPS)          # 1.5e-8
STEP = EPS ** (1 / 3)               # h = 6e-6
TOL_FD = 1e-5
NOISE = 100                         # rounding of a difference quotient, in units of eps |C| / h
TOL_FACTOR = 1e-6                   # a fitted constant c is named 2, 1/m, ... when within this, relative
ACTIVATIONS = ("sigmoid", "relu")
LOSSES = ("mse", "bce", "ce")

def twin_of(net: object, activation: str, loss: str) -> TwinNet:
    """The torch twin holding float64 copies of the network's W_l (n_out, n_in) and b_l (n_out,)."""
    if activation not in ACTIVATIONS or loss not in LOSSES:
        raise UsageError(f"activation {activation!r} / loss {loss!r}: choose from {', '.join(ACTIVATIONS)} / "
                         f"{', '.join(LOSSES)}")
    weights, biases = parameters(net)
    return TwinNet.from_params([np.array(w, dtype=np.float64) for w in weights],
                               [np.array(b, dtype=np.float64).reshape(-1) for b in biases], activation, loss)


def twin_tensors(twin: TwinNet) -> list[torch.nn.Parameter]:
    return [p for layer in twin.layers for p in (layer.weight, layer.bias)]


def torch_gradients(twin: TwinNet, x: np.ndarray, y: np.ndarray, per_example: bool) -> list[np.ndarray]:
    """Autograd's dC/dW1, dC/db1, ..., each stacked (k, *shape): k = m gradients of the examples'
    own costs C_x when per_example, else one of the average C = 1/m sum_x C_x (torch_ref's losses
    average over the rows they are given, so one row gives C_x)."""
    params = twin_tensors(twin)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    groups = [slice(i, i + 1) for i in range(len(x))] if per_example else [slice(None)]
    grads = [torch.autograd.grad(twin.loss(twin(xt[rows]), yt[rows]), params) for rows in groups]
    return [np.stack([g[t].numpy() for g in grads]) for t in range(len(params))]


COSTS = {  # sum over the examples of C_x, from the output activations a (m, n_L) and one-hot y
    "mse": lambda a, y: 0.5 * np.sum((a - y) ** 2),
    "bce": lambda a, y: -np.sum(y * np.log(a) + (1 - y) * np.log1p(-a)),
    "ce": lambda a, y: -np.sum(y * np.log(a)),
}


def user_cost(net, convention, x: np.ndarray, y: np.ndarray, loss: str) -> float | None:
    """The cost whose gradient backprop gives (summed or averaged), through the user's own
    forward pass; None without one."""
    a = convention.outputs(net, x)
    if a is None:
        return None
    if a.shape != y.shape:
        raise UsageError(f"the network's forward pass gave outputs of shape {a.shape} for {len(x)} examples; "
                         f"expected a^L of shape {y.shape} (one row per example)")
    return convention.cost(float(COSTS[loss](a, y)), len(x))


def finite_differences(net, convention, x, y, loss, tensor: np.ndarray, picks: list[tuple]) -> np.ndarray:
    """(C(w + h) - C(w - h)) / 2h for each entry `picks` of the user's own `tensor`, changed in
    place and restored; the step is what the stored entries actually differ by."""
    diffs = []
    for index in picks:
        saved = tensor[index]
        tensor[index] = saved + STEP
        plus, w_plus = user_cost(net, convention, x, y, loss), tensor[index]
        tensor[index] = saved - STEP
        minus, w_minus = user_cost(net, convention, x, y, loss), tensor[index]
        tensor[index] = saved
        diffs.append((plus - minus) / (w_plus - w_minus))
    return np.array(diffs)


DIAGNOSES = ("ok", "transposed", "scaled", "zero", "shape", "different", "forward")


@dataclass(frozen=True)
class TensorCheck:
    name: str                      # W1, b1, W2, ... (W1 = weights[0]: layer 1 takes the input x = a^0)
    convention: str                # "nielsen" or "rows"
    verdict: str                   # "ok" or "wrong"
    diagnosis: str                 # one of DIAGNOSES
    rel_err: float                 # ||g - g_torch|| / ||g_torch||, every entry (of every example, nielsen);
                                   # inf where the gradient is not shaped like its parameter
    rel_err_fd: float | None       # ||g - g_fd|| / ||g_fd|| on the entries sampled; None without a forward pass
    fd_ok: bool | None             # rel_err_fd within its tolerance (None without a forward pass)
    factor: float | None = None    # "scaled": the c of g = c g_torch
    factor_name: str | None = None  # "1/m", "m", "2", "1/2", "-1", or None for another constant
    m: int = 1                     # examples per batch (rows), or 1 (nielsen: one example per gradient)
    shape: tuple | None = None     # the gradient's shape
    expected_shape: tuple | None = None  # the parameter's shape

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def rel(g: np.ndarray, ref: np.ndarray) -> float:
    """||g - ref|| / ||ref|| (||g|| where ref = 0)."""
    norm = np.linalg.norm(ref)
    return float(np.linalg.norm(g - ref) / norm if norm > 0 else np.linalg.norm(g))


def named_factors(m: int, per_example: bool) -> dict[str, float]:
    """The constants a backprop is plausibly off by; the 1/m only where the cost is averaged."""
    common = {"2": 2.0, "1/2": 0.5, "-1": -1.0}
    return common if per_example or m == 1 else {"1/m": 1 / m, "m": float(m), **common}


def diagnose(g: np.ndarray, ref: np.ndarray, is_weight: bool, factors: dict[str, float]) -> dict:
    """What the user's gradients g (k, *shape) are, against the reference ref (k, *shape)."""
    if rel(g, ref) <= TOL_TORCH:
        return {"diagnosis": "ok"}
    if not np.any(g):
        return {"diagnosis": "zero"}
    if is_weight and rel(g.reshape(len(g), -1), ref.swapaxes(-1, -2).reshape(len(g), -1)) <= TOL_TORCH:
        return {"diagnosis": "transposed"}
    c = float(np.vdot(g, ref) / np.vdot(ref, ref))  # least squares: g ~ c ref
    if rel(g, c * ref) <= TOL_TORCH:
        name = next((k for k, v in factors.items() if abs(c - v) <= TOL_FACTOR * abs(v)), None)
        return {"diagnosis": "scaled", "factor": c, "factor_name": name}
    return {"diagnosis": "different"}


def finite_difference_check(net, convention, x, y, loss: str, cost: float, tensor: np.ndarray, g: np.ndarray,
                            rng: np.random.Generator, entries: int) -> tuple[float, bool]:
    """(rel_err, within tolerance) of the user's gradient g (shape of `tensor`) of the cost against
    finite differences of their own forward pass, on `entries` random entries."""
    flat = rng.choice(tensor.size, min(entries, tensor.size), replace=False)
    picks = [np.unravel_index(i, tensor.shape) for i in flat]
    fd = finite_differences(net, convention, x, y, loss, tensor, picks)
    rel_err = rel(np.array([g[i] for i in picks]), fd)
    noise = NOISE * EPS * max(abs(cost), 1.0) / STEP * math.sqrt(len(picks))  # ||rounding error|| of fd
    # a gradient that vanishes below the rounding noise of its quotients cannot be checked this way
    return rel_err, bool(rel_err <= TOL_FD + noise / max(np.linalg.norm(fd), noise))


@one_thread()
def check_gradients(net: object, sizes: list[int], activation: str, loss: str, convention: str | None = None,
                    batch: int = 8, seed: int = 0, entries: int = 10) -> list[TensorCheck]:
    """The user's backprop, tensor by tensor, against torch autograd and finite differences.

    On `batch` random examples (x uniform in [0, 1), one-hot y of random labels, drawn from
    np.random.default_rng(seed)): the reference is autograd of the twin holding a float64 copy of
    the network, for the cost the convention's backprop gives (nielsen: each example's own C_x,
    compared example by example; rows: the average over the batch). Finite differences of the
    user's own forward pass (feedforward or forward) with the loss applied here, on `entries`
    random entries per tensor, check that backprop and forward pass agree with each other; the
    user's tensors are changed for them, and restored. One TensorCheck per tensor: W1, b1, W2, ..."""
    conv = CONVENTIONS[find_convention(net, sizes, convention)]
    method(net, ("backprop",), conv.name, "(x, y)")
    rng = np.random.default_rng(seed)
    x = rng.random((batch, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    w_shapes, b_shapes = shapes_of(sizes, conv.name)
    references = torch_gradients(twin_of(net, activation, loss), x, y, conv.per_example)  # each (k, ...)
    theirs = conv.backprop(net, x, y, (w_shapes, b_shapes))  # k lists [dC/dW1, dC/db1, ...]
    tensors = interleaved(*parameters(net))
    cost = user_cost(net, conv, x, y, loss)
    factors = named_factors(batch, conv.per_example)
    checks = []
    for t, (name, shape) in enumerate(zip(tensor_names(len(w_shapes)), interleaved(w_shapes, b_shapes), strict=True)):
        ref = references[t].reshape(len(references[t]), *shape)
        grads = [g[t] for g in theirs]
        common = {"name": name, "m": 1 if conv.per_example else batch, "shape": np.shape(grads[0]),
                  "expected_shape": shape, "convention": conv.name}
        if any(np.shape(g) != shape for g in grads):  # transposed (n_in, n_out), or not the parameter's shape
            transposed = name[0] == "W" and all(np.shape(g) == shape[::-1] for g in grads) \
                and rel(np.stack(grads).swapaxes(-1, -2), ref) <= TOL_TORCH
            checks.append(TensorCheck(verdict="wrong", diagnosis="transposed" if transposed else "shape",
                                      rel_err=math.inf, rel_err_fd=None, fd_ok=None, **common))
            continue
        g = np.stack(grads).astype(np.float64)  # (k, *shape)
        rel_err_fd = fd_ok = None
        if cost is not None and isinstance(tensors[t], np.ndarray) and tensors[t].shape == shape:
            # nielsen: d(sum_x C_x)/dw = sum_x dC_x/dw; rows: k = 1
            rel_err_fd, fd_ok = finite_difference_check(net, conv, x, y, loss, cost, tensors[t], g.sum(axis=0),
                                                        rng, entries)
        found = diagnose(g, ref, name[0] == "W", factors)
        if found["diagnosis"] == "ok" and fd_ok is False:
            found = {"diagnosis": "forward"}
        checks.append(TensorCheck(verdict="ok" if found["diagnosis"] == "ok" else "wrong", rel_err=rel(g, ref),
                                  rel_err_fd=rel_err_fd, fd_ok=fd_ok, **common, **found))
    return checks


SCALED_BECAUSE = {
    "1/m": "the 1/m of the average over the mini-batch is applied twice",
    "m": "the 1/m is missing: the rows convention's C is the average over the m examples of the batch, so "
         "every gradient carries a 1/m",
    "2": "twice the right gradient: C_x = 1/2 ||a - y||^2 gives dC/da = a - y, with no 2",
    "1/2": "half the right gradient: look for a stray 1/2 or a mean over two of something",
    "-1": "the sign is flipped, so a step would go uphill: dC/da is a - y, not y - a",
}


def bp_hint(check: TensorCheck, checks: list[TensorCheck]) -> str:
    """Where in the four equations to look for a gradient that is different in layer l."""
    layer = int(check.name[1:])
    last = max(int(c.name[1:]) for c in checks)
    if layer == last:
        return "this is the output layer: check delta^L = dC/dz^L for this loss and output activation (BP1)"
    if all(c.ok for c in checks if int(c.name[1:]) > layer):
        bp2 = ("(W_(l+1))^T delta^(l+1) * f'(z^l)" if check.convention == "nielsen"
               else "(delta^(l+1) W_(l+1)) * f'(z^l)")
        return (f"the layers after it are right, so the error goes wrong on its way back into layer {layer}: "
                f"BP2 is delta^l = {bp2}, with the activation's derivative f'")
    return "fix the layers after it first: their error flows back into this one"


def describe(check: TensorCheck, checks: list[TensorCheck]) -> tuple[str, str]:
    """(what, why) of one tensor, for a learner: what is wrong with it, and where to look ("" if ok)."""
    kind, name, err = check.diagnosis, check.name, f"rel_err {check.rel_err:.2g}"
    forward = "feedforward" if check.convention == "nielsen" else "forward"
    if kind == "ok":
        fd = "" if check.rel_err_fd is None else f" (finite differences {check.rel_err_fd:.0e})"
        return f"{name} ok {check.rel_err:.0e}{fd}", ""
    if kind == "transposed":
        product = "delta a^T, (n_out, 1) x (1, n_in)" if check.convention == "nielsen" \
            else "delta^T a, (n_out, m) x (m, n_in)"
        found = err if check.shape == check.expected_shape else f"shape {check.shape}"
        return (f"{name} WRONG: transposed ({found})",
                f"nabla_w holds (dC/dW)^T; BP4 is dC/dW = {product} -> (n_out, n_in), the shape of W")
    if kind == "scaled" and check.factor_name is None:
        return (f"{name} WRONG: scaled by {check.factor:.4g} ({err})",
                f"every entry is {check.factor:.4g} times the right one; look for a constant factor in backprop")
    if kind == "scaled":
        m = f" (m = {check.m})" if "m" in check.factor_name else ""
        return f"{name} WRONG: scaled by {check.factor_name}{m}", SCALED_BECAUSE[check.factor_name]
    if kind == "zero":
        bp = "BP3 gives dC/db^l = delta^l" if name[0] == "b" else "BP4 gives dC/dW^l = delta^l (a^(l-1))^T"
        return f"{name} WRONG: zero", f"nabla_{name[0].lower()} is all zeros where {bp}; is it ever filled in?"
    if kind == "shape":
        return (f"{name} WRONG: shape {check.shape} where {name} has shape {check.expected_shape}",
                "return each gradient shaped like its parameter, or the update broadcasts the parameter into "
                "another shape")
    if kind == "forward":
        return (f"{name} WRONG: agrees with torch ({check.rel_err:.0e}) but not with finite differences of your "
                f"{forward} (rel_err {check.rel_err_fd:.2g})",
                f"your {forward} computes something other than what your backprop differentiates; it should return "
                "the output activations a^L")
    if check.fd_ok:
        return (f"{name} WRONG: different from torch ({err}) but equal to finite differences of your {forward} "
                f"({check.rel_err_fd:.0e})",
                "your backprop is right for the function your network computes, which is not the twin's: check the "
                "activation and the loss you named")
    return f"{name} WRONG: different from torch ({err})", bp_hint(check, checks)


def format_checks(checks: list[TensorCheck]) -> str:
    """One line per tensor: `W1 ok 3e-16 (finite differences 2e-09)`, or `W2 WRONG: what: why`; a
    why already given for an earlier tensor is referred to (`b1 WRONG: scaled by 2; see W1`)."""
    lines, said = [], {}
    for check in checks:
        what, why = describe(check, checks)
        if not why:
            lines.append(what)
        elif why in said:
            lines.append(f"{what}; see {said[why]}")
        else:
            said[why] = check.name
            lines.append(f"{what}: {why}")
    return "\n".join(lines)


def exit_status(checks: list[TensorCheck]) -> int:
    """1 if any tensor is wrong, 0 otherwise."""
    return 0 if all(c.ok for c in checks) else 1

