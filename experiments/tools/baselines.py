"""The usual alternatives the benchmark measures the twins against (one epoch each).

  per_example  Nielsen's network.py: backprop one example at a time, as column vectors,
               inside each mini-batch, sigmoid units and the quadratic loss
  sklearn      scikit-learn's MLPClassifier(hidden_layer_sizes=(16, 16), logistic units,
               plain SGD without momentum)
"""
import numpy as np

from scratch.activations import sigmoid, sigmoid_prime


def per_example_epoch(weights, biases, x: np.ndarray, y: np.ndarray, batch_size: int, lr: float,
                      order: np.ndarray) -> None:
    """One epoch of the textbook loop; updates `weights` (out, in) and `biases` (out, 1) in place."""
    for k in range(0, len(x), batch_size):
        batch = order[k:k + batch_size]
        nabla_w = [np.zeros_like(w) for w in weights]
        nabla_b = [np.zeros_like(b) for b in biases]
        for i in batch:
            activation = x[i].reshape(-1, 1)
            activations, zs = [activation], []
            for w, b in zip(weights, biases, strict=True):
                z = w @ activation + b
                zs.append(z)
                activation = sigmoid(z)
                activations.append(activation)
            delta = (activations[-1] - y[i].reshape(-1, 1)) * sigmoid_prime(zs[-1])
            nabla_w[-1] += delta @ activations[-2].T
            nabla_b[-1] += delta
            for l in range(2, len(weights) + 1):
                delta = (weights[-l + 1].T @ delta) * sigmoid_prime(zs[-l])
                nabla_w[-l] += delta @ activations[-l - 1].T
                nabla_b[-l] += delta
        for w, b, nw, nb in zip(weights, biases, nabla_w, nabla_b, strict=True):
            w -= lr / len(batch) * nw
            b -= lr / len(batch) * nb


def sklearn_classifier(batch_size: int, lr: float, seed: int = 0):
    """An MLPClassifier set up to train one epoch per call of partial_fit."""
    from sklearn.neural_network import MLPClassifier  # the bench extra: only this baseline needs it
    return MLPClassifier(hidden_layer_sizes=(16, 16), activation="logistic", solver="sgd", momentum=0.0,
                         nesterovs_momentum=False, learning_rate_init=lr, batch_size=batch_size,
                         alpha=0.0, shuffle=True, random_state=seed)
