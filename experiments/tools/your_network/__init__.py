"""Your network against the twin: a learner's own backprop checked against torch, and trained beside it.

Learners who follow Nielsen's book or 3Blue1Brown's videos write their own network.py. This
package loads such a network (`load_network`), finds how it lays out its numbers
(`find_convention`), checks its backprop tensor by tensor (`check_gradients`, `format_checks`),
and trains it beside the torch twin on the same mini-batches, step by step (`compare_training`).

Two conventions, told apart by the shapes of the lists `weights` and `biases`. In both, layer
l = 1 ... L has W_l = weights[l-1] of shape (n_l, n_(l-1)), as nn.Linear stores it:

  nielsen  Nielsen's network.py and network2.py: one example at a time, as column vectors.
           biases[l-1] (n_l, 1). backprop(x, y), x (n_0, 1), y (n_L, 1), returns
           (nabla_b, nabla_w): the gradient of that one example's cost C_x.
           feedforward(a) maps a (n_0, 1) to a^L (n_L, 1).
           update_mini_batch(mini_batch, eta), a list of (x, y) pairs: W <- W - eta/m sum_x dC_x/dW.
  rows     scratch.Network's: a mini-batch of m examples, one per row.
           biases[l-1] (n_l,). backprop(x, y), x (m, n_0), y (m, n_L), returns
           (nabla_w, nabla_b): the gradient of the average C = 1/m sum_x C_x.
           forward(x) returns a^L (m, n_L), or (zs, activations) as scratch.Network's does.
           sgd_step(x, y, lr) or step(x, y, lr): W <- W - lr dC/dW.

The cost C_x of one example, y one-hot and a = a^L (the `loss` argument; scratch/losses.py):
  mse  1/2 ||a - y||^2                                  a = sigmoid(z^L)
  bce  -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]      a = sigmoid(z^L)
  ce   -sum_j y_j ln a_j                                a = softmax(z^L)

Tolerances, from float64's precision (eps = 2.2e-16), on rel_err = ||g - g_ref|| / ||g_ref||:
  torch               sqrt(eps) = 1.5e-8. A right backprop differs from autograd on an exact
                      copy by rounding alone (~1e-15), a wrong one by O(1).
  finite differences  (C(w + h) - C(w - h)) / 2h with h = eps^(1/3) = 6e-6, the step that
                      balances truncation (h^2) against rounding (eps |C| / h), on `entries`
                      entries of each tensor: 1e-5 plus NOISE eps |C| / h relative to ||g_fd||.
                      (With ReLU, a step that crosses a kink, z^l = 0, would spoil an entry;
                      with random inputs the chance is of order h per entry and example.)

The user's own code runs inside `call`: an exception it raises becomes a UserCodeError, a
UsageError whose message is one summary line and then the traceback cut down to the user's
frames (`user_traceback`).
"""
from experiments.tools.your_network.conventions import find_convention
from experiments.tools.your_network.gradients import TensorCheck, check_gradients, exit_status, format_checks
from experiments.tools.your_network.side_by_side import Comparison, compare_training, format_comparison
from experiments.tools.your_network.user_code import UserCodeError, load_network

__all__ = ["Comparison", "TensorCheck", "UserCodeError", "check_gradients", "compare_training", "exit_status",
           "find_convention", "format_checks", "format_comparison", "load_network"]
