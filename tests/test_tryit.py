"""The "Try it" canvas in headless Chromium: what the page computes from a drawing is what
experiments.tools.drawn_digits and scratch.Network compute from the same drawing saved as PNG.

Tolerances. The page and Python take the same canvas bytes through the same integer
arithmetic and make the same decisions (invert, crop, sizes, placement); they differ only in
the order of the sums of the area average and of the centre of mass, by under 1e-13 for
values at most 1: inputs must agree to 1e-12, far inside a grey level (1/255). The outputs
come from 784 + 16 + 16 products summed in other orders and exp to an ulp: under 1e-13 too;
1e-9 leaves room and still catches any slip of formula (a sigmoid for a softmax, a missing
bias), which moves outputs by 1e-3 or more."""
import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import scratch
from experiments.analysis.tryit import tryit_html
from experiments.errors import UsageError
from experiments.tools.drawn_digits import as_input, prepare, read_image

CHROMIUM = shutil.which("chromium")

# mouse strokes, in fractions of the canvas: a 7, a 1, and a 0 off-centre
ZERO = [(0.6 + 0.2 * np.sin(t), 0.45 + 0.3 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 17)]
STROKES = {"7": [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)], "1": [(0.5, 0.15), (0.5, 0.85)], "0": ZERO}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests drive Chromium with playwright "
                                   "(pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH for the browser tests (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def network(activation: str, loss: str, init: str) -> scratch.Network:
    """A 784-16-16-10 network of random weights and biases (the initialisation leaves biases 0,
    which would hide a forgotten bias)."""
    rng = np.random.default_rng(1)
    net = scratch.Network.create([784, 16, 16, 10], activation, loss, init, rng)
    return scratch.Network(net.weights, [rng.normal(0, 0.5, b.shape) for b in net.biases], activation, loss)


def test_the_fragment_holds_every_parameter_to_the_last_bit_and_fetches_nothing():
    """The JSON in the page gives back the very float64 numbers (shortest repr both ways), and
    nothing in the fragment points outside it (no src, href, url( or @import)."""
    net = network("sigmoid", "mse", "lecun")
    html = tryit_html(net.weights, net.biases, "sigmoid", "mse", "A <b>title</b>")
    params = json.loads(re.search(r'class="tryit-network">(.*?)</script>', html, re.S).group(1))
    assert params["activation"] == "sigmoid" and params["loss"] == "mse"
    for kept, given in zip(params["weights"] + params["biases"], net.weights + net.biases, strict=True):
        np.testing.assert_array_equal(np.array(kept), given)  # bit for bit
    assert not re.search(r"\bsrc=|\bhref=|url\(|@import", html)
    assert "A &lt;b&gt;title&lt;/b&gt;" in html


@pytest.mark.parametrize("change, says", [
    (lambda w, b: (w[:2], b[:2]), "not one per digit"),
    (lambda w, b: ([w[0].T] + w[1:], b), "layer 1"),
    (lambda w, b: (w, b[:1] + [b[1][:3]] + b[2:]), "layer 2"),
    (lambda w, b: ([w[0] * np.nan] + w[1:], b), "Out of range float values are not JSON compliant"),
])
def test_a_network_the_page_cannot_run_is_refused(change, says):
    net = network("relu", "ce", "he")
    weights, biases = change(net.weights, net.biases)
    with pytest.raises(ValueError, match=says):
        tryit_html(weights, biases, "relu", "ce")
    with pytest.raises(ValueError, match="tanh"):
        tryit_html(net.weights, net.biases, "tanh", "ce")


def open_page(browser, tmp_path: Path, net: scratch.Network, activation: str, loss: str):
    """The fragment in a page of its own, opened from its file; with the console errors, page
    errors and requests it gives rise to."""
    html = tryit_html(net.weights, net.biases, activation, loss, "Try it")
    path = tmp_path / "page.html"
    path.write_text(f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>Try it</title></head>"
                    f"<body>\n{html}</body></html>\n", encoding="utf-8")
    page = browser.new_page()
    seen = {"errors": [], "requests": []}
    page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.goto(path.as_uri())
    return page, seen


def draw(page, stroke: list[tuple[float, float]]) -> None:
    """The stroke drawn with the mouse, button down from its first point to its last."""
    left, top, width, height = page.evaluate("""() => {
        const pad = document.querySelector("canvas.tryit-draw"), box = pad.getBoundingClientRect();
        return [box.left + pad.clientLeft, box.top + pad.clientTop, pad.clientWidth, pad.clientHeight]; }""")
    at = [(left + fx * width, top + fy * height) for fx, fy in stroke]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=6)
    assert page.evaluate("window.tryit.input") is not None, "the page reads the digit as it is drawn"
    page.mouse.up()


def exported_png(page, path: Path) -> Path:
    url = page.evaluate("window.tryit.toDataURL()")
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64"
    path.write_bytes(base64.b64decode(data))
    return path


def assert_page_reads_as_python(page, net: scratch.Network, png: Path, name: str) -> np.ndarray:
    """The page's inputs and outputs against Python's on the canvas saved as PNG (tolerances:
    the module docstring); Python's inputs (784,)."""
    page_input = np.array(page.evaluate("window.tryit.input"))
    page_outputs = np.array(page.evaluate("window.tryit.outputs"))
    grey = read_image(exported_png(page, png))
    assert grey.shape == (280, 280) and grey.min() == 0.0, "the digit is on the canvas, black"
    x = as_input(prepare(grey))
    np.testing.assert_allclose(page_input, x, rtol=0, atol=1e-12, err_msg=f"the inputs of the {name}")
    outputs = net.forward(x[None, :])[1][-1][0]
    np.testing.assert_allclose(page_outputs, outputs, rtol=0, atol=1e-9, err_msg=f"the outputs of the {name}")
    assert f"reads {int(np.argmax(outputs))}" in page.locator(".tryit-guess").inner_text()
    return x


@pytest.mark.parametrize("activation, loss, init", [("relu", "ce", "he"), ("sigmoid", "bce", "lecun")])
def test_the_page_reads_a_drawing_as_python_reads_its_png(browser, tmp_path, activation, loss, init):
    """Three digits drawn with the mouse, one at a time, each read as Python reads the canvas
    saved as PNG; then Clear leaves a white canvas and nothing read. The page writes no error
    to the console and asks for nothing but its own file."""
    net = network(activation, loss, init)
    page, seen = open_page(browser, tmp_path, net, activation, loss)
    assert page.evaluate("window.tryit.input") is None  # nothing drawn yet

    for name, stroke in STROKES.items():
        page.click("button.tryit-clear")
        draw(page, stroke)
        x = assert_page_reads_as_python(page, net, tmp_path / f"{name}.png", name)
        assert x.sum() > 20, "a stroke across the canvas, not a dot"

    page.click("button.tryit-clear")
    assert page.evaluate("window.tryit.input") is None and page.evaluate("window.tryit.outputs") is None
    cleared = read_image(exported_png(page, tmp_path / "cleared.png"))
    assert np.all(cleared == 1.0), "Clear leaves the canvas white"
    with pytest.raises(UsageError, match="is blank"):
        prepare(cleared)

    assert seen["errors"] == []
    assert all(url.startswith(("file:", "data:")) for url in seen["requests"]), seen["requests"]
    page.close()


def test_a_centre_of_mass_a_half_from_a_pixel_is_rounded_up_in_both(browser, tmp_path):
    """A black bar of 40 x 200 canvas pixels, pixel-aligned, scales to 4 x 20 whose centre of
    mass is exactly (9.5, 1.5): the offsets 14 - 9.5 = 4.5 and 14 - 1.5 = 12.5 are ties, and
    both languages round them up (Python's round() would give 4 and 12), so the bar lands on
    rows 5-24 and columns 13-16."""
    net = network("relu", "ce", "he")
    page, seen = open_page(browser, tmp_path, net, "relu", "ce")
    page.evaluate("""() => {
        const pad = document.querySelector("canvas.tryit-draw").getContext("2d");
        pad.fillStyle = "#000";
        pad.fillRect(120, 40, 40, 200);
        window.tryit.read(); }""")
    x = assert_page_reads_as_python(page, net, tmp_path / "bar.png", "bar")
    expected = np.zeros((28, 28))
    expected[5:25, 13:17] = 1.0
    np.testing.assert_allclose(x.reshape(28, 28), expected, rtol=0, atol=1e-12)
    assert seen["errors"] == []
    page.close()
