"""The two conventions of from-scratch MNIST networks, told apart by the shapes of their weights
and biases: Nielsen's (one example at a time, column vectors, summed cost) and rows (a mini-batch
one example per row, averaged cost, as scratch.Network)."""
import numpy as np

from experiments.errors import UsageError
from experiments.tools.your_network.user_code import call


def parameters(net: object) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The user's own W_l and b_l arrays (not copies: finite differences change them in place)."""
    try:
        weights, biases = list(net.weights), list(net.biases)
    except (AttributeError, TypeError):
        raise UsageError("the network has no lists `weights` and `biases`; both conventions keep W_l and b_l "
                         "there, as Nielsen's network.py does") from None
    return weights, biases


def shapes_of(sizes: list[int], convention: str) -> tuple[list[tuple], list[tuple]]:
    """The shapes of W_l (n_l, n_(l-1)) and of b_l, (n_l, 1) for nielsen, (n_l,) for rows."""
    weights = [(n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [(n_out, 1) if convention == "nielsen" else (n_out,) for n_out in sizes[1:]]
    return weights, biases


def tensor_names(layers: int) -> list[str]:
    return [f"{kind}{l}" for l in range(1, layers + 1) for kind in "Wb"]


def interleaved(weights: list, biases: list) -> list:
    """[W1, b1, W2, b2, ...]"""
    return [t for pair in zip(weights, biases, strict=True) for t in pair]


def listed(shapes) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)


def find_convention(net: object, sizes: list[int], convention: str | None = None) -> str:
    """"nielsen" or "rows", from the shapes of the network's weights and biases; `convention`
    forces one, and must fit. Raises UsageError when the shapes fit neither (or not the one forced)."""
    if convention is not None and convention not in CONVENTIONS:
        raise UsageError(f"unknown convention {convention!r}; choose from {', '.join(CONVENTIONS)}")
    weights, biases = parameters(net)
    found = ([np.shape(w) for w in weights], [np.shape(b) for b in biases])
    fits = [c for c in CONVENTIONS if found == shapes_of(sizes, c)]
    if fits and convention in (None, *fits):
        return convention or fits[0]
    asked = [convention] if convention else list(CONVENTIONS)
    expected = "; ".join(f"{c} keeps weights {listed(w)} and biases {listed(b)}"
                         for c in asked for w, b in [shapes_of(sizes, c)])
    which = "neither convention" if convention is None else f"not the {convention} convention"
    raise UsageError(f"the network's weights have shapes {listed(found[0])} and its biases {listed(found[1])}, "
                     f"which fit {which} for sizes {'-'.join(map(str, sizes))}: {expected}. W_l is stored "
                     "(n_out, n_in), as in Nielsen's network.py")


def method(net: object, names: tuple[str, ...], convention: str, signature: str) -> str:
    """The first of `names` the network has, or a UsageError naming what the convention expects."""
    for name in names:
        if callable(getattr(net, name, None)):
            return name
    raise UsageError(f"the network has no {' or '.join(names)} method; the {convention} convention expects "
                     f"{names[0]}{signature}")


def gradient_pair(result, names: tuple[str, str], shapes: tuple[list[tuple], list[tuple]], convention: str):
    """backprop's two lists, named `names` and shaped `shapes` by the convention, checked for their
    number of layers and their order."""
    layers = len(shapes[0])
    if not (isinstance(result, (tuple, list)) and len(result) == 2
            and all(isinstance(r, (list, tuple)) and len(r) == layers for r in result)):
        kind = f"a {type(result).__name__}" + (f" of {len(result)} items" if isinstance(result, (tuple, list)) else "")
        raise UsageError(f"backprop(x, y) returned {kind}; the {convention} convention returns "
                         f"({names[0]}, {names[1]}): two lists of {layers} arrays, one per layer")
    found = tuple([np.shape(g) for g in r] for r in result)
    if found == (shapes[1], shapes[0]) and shapes[0] != shapes[1]:
        raise UsageError(f"backprop(x, y) returned ({names[1]}, {names[0]}), going by their shapes; the "
                         f"{convention} convention returns ({names[0]}, {names[1]})")
    return result


class Nielsen:
    """network.py's layout: one example at a time, as column vectors; costs summed over examples."""
    name = "nielsen"
    per_example = True

    def backprop(self, net, x: np.ndarray, y: np.ndarray, expected) -> list[list[np.ndarray]]:
        """One list [dC_x/dW1, dC_x/db1, dC_x/dW2, ...] per example x of the batch."""
        grads = []
        for x_i, y_i in zip(x, y, strict=True):
            result = call(net, "backprop", x_i[:, None], y_i[:, None])  # (n_0, 1), (n_L, 1)
            nabla_b, nabla_w = gradient_pair(result, ("nabla_b", "nabla_w"), (expected[1], expected[0]), self.name)
            grads.append(interleaved(nabla_w, nabla_b))
        return grads

    def outputs(self, net, x: np.ndarray) -> np.ndarray | None:
        """a^L (m, n_L), one feedforward per example; None without feedforward."""
        if not callable(getattr(net, "feedforward", None)):
            return None
        return np.stack([np.ravel(call(net, "feedforward", x_i[:, None])) for x_i in x])

    def cost(self, summed: float, m: int) -> float:
        return summed  # backprop's gradients, summed over the examples, are those of sum_x C_x

    def step(self, net, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        method(net, ("update_mini_batch",), self.name, "(mini_batch, eta)")
        call(net, "update_mini_batch", list(zip(x[:, :, None], y[:, :, None], strict=True)), lr)


class Rows:
    """scratch.Network's layout: the mini-batch one example per row; the cost averaged."""
    name = "rows"
    per_example = False

    def backprop(self, net, x: np.ndarray, y: np.ndarray, expected) -> list[list[np.ndarray]]:
        """One list [dC/dW1, dC/db1, dC/dW2, ...] for the whole batch, C = 1/m sum_x C_x."""
        nabla_w, nabla_b = gradient_pair(call(net, "backprop", x, y), ("nabla_w", "nabla_b"), expected, self.name)
        return [interleaved(nabla_w, nabla_b)]

    def outputs(self, net, x: np.ndarray) -> np.ndarray | None:
        """a^L (m, n_L) from forward(x), which returns it or (zs, activations); None without forward."""
        if not callable(getattr(net, "forward", None)):
            return None
        out = call(net, "forward", x)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], (list, tuple)):
            out = out[1][-1]  # (zs, activations): a^L is the last activation
        return np.asarray(out)

    def cost(self, summed: float, m: int) -> float:
        return summed / m

    def step(self, net, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        call(net, method(net, ("sgd_step", "step"), self.name, "(x, y, lr)"), x, y, lr)


CONVENTIONS = {"nielsen": Nielsen(), "rows": Rows()}

