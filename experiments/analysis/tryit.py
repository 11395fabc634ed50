"""The "Try it" canvas: an HTML fragment in which one draws a digit and watches the network read it.

`tryit_html` gives a <section> holding its own style, the network's parameters as JSON and
the script tryit.js inlined, so that a report page that embeds it works from a file,
offline. The script prepares the drawing exactly as experiments.tools.drawn_digits prepares
an image file, and runs the network's forward pass in doubles, as scratch.Network does in
float64.
"""
import html
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).with_name("tryit.js")
HIDDEN_ACTIVATIONS = ("sigmoid", "relu")
OUTPUTS = {"ce": "softmax", "mse": "sigmoid", "bce": "sigmoid"}  # the output activation each loss assumes
PAD_SIDE = 280  # canvas pixels the digit is drawn in: ten per pixel of MNIST's 28

STYLE = """
section.tryit{margin:1.5rem 0}
section.tryit .tryit-row{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
section.tryit canvas.tryit-draw{border:1px solid #888;touch-action:none;cursor:crosshair;background:#fff}
section.tryit canvas.tryit-input{width:140px;height:140px;image-rendering:pixelated;border:1px solid #888}
section.tryit figure{margin:0}
section.tryit figcaption{color:#555;font-size:.9rem;max-width:25rem}
section.tryit figure.tryit-seen figcaption{max-width:142px}
section.tryit .tryit-pad{display:flex;flex-direction:column;gap:.5rem;align-items:flex-start}
section.tryit .tryit-guess{font-size:1.3rem;font-weight:bold}
"""


def network_json(weights: list[np.ndarray], biases: list[np.ndarray], activation: str, loss: str) -> str:
    """The parameters as JSON, every float as its shortest repr, which JSON.parse reads back to
    the same double: the page computes with the very float64 numbers of the network."""
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation {activation!r} is not one of {HIDDEN_ACTIVATIONS}")
    if loss not in OUTPUTS:
        raise ValueError(f"loss {loss!r} is not one of {tuple(OUTPUTS)}")
    sizes = [784] + [np.shape(w)[0] for w in weights]
    for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if np.shape(w) != (sizes[l + 1], sizes[l]) or np.shape(b) != (sizes[l + 1],):
            raise ValueError(f"layer {l + 1}: weights {np.shape(w)} and biases {np.shape(b)} do not make a network "
                             "that reads 784 pixels, weights (n_out, n_in) and biases (n_out,)")
    if sizes[-1] != 10:
        raise ValueError(f"the last layer has {sizes[-1]} outputs, not one per digit (10)")
    params = {"activation": activation, "loss": loss,
              "weights": [np.asarray(w, dtype=np.float64).tolist() for w in weights],
              "biases": [np.asarray(b, dtype=np.float64).tolist() for b in biases]}
    return json.dumps(params, allow_nan=False, separators=(",", ":"))  # a NaN or inf is refused


def tryit_html(weights: list[np.ndarray], biases: list[np.ndarray], activation: str, loss: str,
               title: str = "Try it: draw a digit") -> str:
    """A <section> in which one draws a digit and the network given by W_l (n_out, n_in) and
    b_l (n_out,), with hidden activation `activation` and the output activation of `loss`,
    reads it; self-contained (style, parameters and script inline)."""
    params = network_json(weights, biases, activation, loss)
    script = SCRIPT.read_text(encoding="utf-8")
    if "</script" in script.lower():
        raise ValueError(f"{SCRIPT} contains '</script', which would end its inline <script> early")
    hidden = [str(np.shape(w)[0]) for w in weights[:-1]]
    layers = (f"its hidden layer{'s' if len(hidden) > 1 else ''} of {' and '.join(hidden)} neurons ({activation})"
              if hidden else "no hidden layer")
    return f"""<section class="tryit">
<style>{STYLE}</style>
<h2>{html.escape(title)}</h2>
<p>Draw a digit with the mouse or a finger. As you draw, the drawing is prepared as MNIST's digits
were made (cropped, scaled to fit 20 &times; 20, centred by its centre of mass in 28 &times; 28)
and the network reads it: {layers} and its ten outputs ({OUTPUTS[loss]}).
Everything runs in this page; nothing is sent anywhere.</p>
<div class="tryit-row">
<div class="tryit-pad"><canvas class="tryit-draw" width="{PAD_SIDE}" height="{PAD_SIDE}"
 aria-label="drawing area"></canvas><button type="button" class="tryit-clear">Clear</button></div>
<figure class="tryit-seen"><canvas class="tryit-input" width="28" height="28"></canvas>
<figcaption>What the network sees: 28 &times; 28 inputs from 0 (black) to 1.</figcaption></figure>
<figure><canvas class="tryit-net" width="400" height="320"></canvas>
<figcaption>Each column a layer, each disc a neuron lit by its activation
{"(a ReLU layer relative to its largest)" if activation == "relu" else ""}; the last column the ten
outputs, the largest circled. Lines: the weights, blue positive, red negative.</figcaption></figure>
</div>
<p class="tryit-guess" aria-live="polite"></p>
<script type="application/json" class="tryit-network">{params}</script>
<script>
{script}</script>
</section>
"""
