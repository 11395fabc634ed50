"""experiments.tools.drawn_digits: an image file prepared as MNIST's digits were made.

Checked against MNIST itself (its digits are already prepared, so preparing them again must
leave them be), against the same digits enlarged and drawn dark on light, against a
preparation written here another way (supersampling and scipy's centre of mass), and
against Pillow's own compositing."""
import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import center_of_mass

import scratch
from experiments.data.datasets import SAMPLE
from experiments.errors import UsageError
from experiments.tools.drawn_digits import MAX_SIDE, as_input, prepare, read_image


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The project's sample of MNIST: images (5000, 784) uint8 and labels (5000,), the first
    500 training digits of each class. The only place this file loads them."""
    with np.load(SAMPLE, allow_pickle=False) as f:
        return f["images"], f["labels"].astype(np.int64)


@pytest.fixture(scope="module")
def held_out(digits) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels): 4,000 / 1,000 at random (seed 0)."""
    images, labels = digits
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[:4000], order[4000:]
    return images[train], labels[train], images[test], labels[test]


@pytest.fixture(scope="module")
def net(held_out) -> scratch.Network:
    """The 784-16-16-10 network trained 5 epochs on the 4,000 training digits: its predictions
    must be worth comparing, so it must predict most held-out digits right."""
    x_train, y_train, x_test, y_test = held_out
    rng = np.random.default_rng(0)
    network = scratch.Network.create([784, 16, 16, 10], "relu", "ce", "he", rng)
    for _ in scratch.train(network, x_train / 255, y_train, scratch.minibatches(4000, 10, 5, rng), lr=0.1):
        pass
    _, accuracy = scratch.evaluate(network, x_test / 255, y_test)
    assert accuracy > 0.85, "the network barely reads digits; agreement of its predictions would mean little"
    return network


def long_side(images: np.ndarray) -> np.ndarray:
    """(n,) the longer side of the box holding the ink (pixels above 0) of each digit (n, 784)."""
    inked = images.reshape(-1, 28, 28) > 0
    rows, cols = inked.any(axis=2), inked.any(axis=1)  # (n, 28) each
    height = 28 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    width = 28 - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    return np.maximum(height, width)


def png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def predict(network: scratch.Network, x: np.ndarray) -> np.ndarray:
    return network.logits(x).argmax(axis=1)


def test_an_mnist_digit_saved_as_png_reads_back_bit_for_bit(tmp_path, held_out):
    """A grey pixel L of an 8-bit PNG is read as the double nearest L / 255: the very number
    the network is fed in memory (experiments.data divides the uint8 pixels by 255), because
    step 0's luma weights in thousandths add up to exactly 1000 and the one division rounds."""
    images = held_out[2][:200].reshape(-1, 28, 28)
    read = np.stack([read_image(png(tmp_path / f"{k}.png", image)) for k, image in enumerate(images)])
    np.testing.assert_array_equal(read, images / 255)


def test_mnist_digits_are_already_prepared(tmp_path, held_out, net):
    """MNIST's digits were made by the very recipe `prepare` follows: their ink fits a 20-pixel
    box, centred by the centre of mass on (14, 14) (every digit of the sample has it within half
    a pixel of there). So a digit read from its PNG and prepared comes back unchanged, bit for
    bit, and the network reads what it reads in memory. The exceptions are digits whose box MNIST
    itself cut at the frame's edge (fewer than 20 pixels of ink on the long side): prepare
    scales those back up to 20. Their predictions must still agree."""
    images = held_out[2]
    prepared = np.stack([prepare(read_image(png(tmp_path / f"{k}.png", image.reshape(28, 28))))
                         for k, image in enumerate(images)])  # (1000, 28, 28)

    boxed = long_side(images) == 20
    assert boxed.mean() > 0.99
    unchanged = np.all(prepared == images.reshape(-1, 28, 28) / 255, axis=(1, 2))
    np.testing.assert_array_equal(unchanged, boxed)

    in_memory = predict(net, images / 255)
    from_png = predict(net, np.stack([as_input(p) for p in prepared]))
    np.testing.assert_array_equal(from_png, in_memory)


def enlarged_on_paper(digit: np.ndarray, factor: int, shape: tuple[int, int], corner: tuple[int, int]) -> np.ndarray:
    """An 8-bit RGB picture (shape) of the MNIST digit (28, 28) uint8, each pixel a factor x factor
    block, dark ink on white paper, the digit's top-left corner at `corner`."""
    ink = np.kron(digit, np.ones((factor, factor), dtype=np.uint8))
    paper = np.full(shape, 255, dtype=np.uint8)
    paper[corner[0]:corner[0] + ink.shape[0], corner[1]:corner[1] + ink.shape[1]] = 255 - ink
    return np.repeat(paper[:, :, None], 3, axis=2)


def test_a_digit_drawn_larger_dark_on_light_and_off_centre_becomes_the_mnist_digit(tmp_path, held_out):
    """The MNIST digit drawn three times larger, black on white, near a corner of a larger
    page and saved as an RGB PNG: inverting, cropping, averaging 3 x 3 blocks back to one pixel
    and centring give the digit itself. Only rounding separates the two: 1 - (1 - L/255) and a
    mean of nine equal values are within a few units of 2^-53 of L/255, hence 1e-12."""
    images = held_out[2][:40]
    images = images[long_side(images) == 20].reshape(-1, 28, 28)  # a full box (see above): all of them but few
    assert len(images) >= 38
    for k, digit in enumerate(images):
        page = enlarged_on_paper(digit, 3, (150, 240), (10 + k, 150 - k))
        prepared = prepare(read_image(png(tmp_path / f"{k}.png", page)))
        np.testing.assert_allclose(prepared, digit / 255, rtol=0, atol=1e-12, err_msg=f"digit {k}")


def stroke(shape: tuple[int, int], points: list[tuple[float, float]], radius: float,
           supersample: int = 4) -> np.ndarray:
    """Ink coverage (shape) in [0, 1] of a pen of `radius` pixels drawn through `points` (row,
    column), anti-aliased by averaging supersample^2 sub-pixels per pixel."""
    h, w = shape
    offsets = (np.arange(supersample) + 0.5) / supersample
    ys = (np.arange(h)[:, None] + offsets).ravel()[:, None]  # (h s, 1) sub-pixel centres
    xs = (np.arange(w)[:, None] + offsets).ravel()[None, :]  # (1, w s)
    distance = np.full((h * supersample, w * supersample), np.inf)
    for (y0, x0), (y1, x1) in zip(points[:-1], points[1:], strict=True):
        t = ((ys - y0) * (y1 - y0) + (xs - x0) * (x1 - x0)) / ((y1 - y0) ** 2 + (x1 - x0) ** 2)
        t = np.clip(t, 0, 1)
        distance = np.minimum(distance, np.hypot(ys - (y0 + t * (y1 - y0)), xs - (x0 + t * (x1 - x0))))
    inside = (distance < radius).reshape(h, supersample, w, supersample)
    return inside.mean(axis=(1, 3))


def mnist_reference(ink: np.ndarray) -> np.ndarray:
    """MNIST's recipe written independently of drawn_digits, for ink (H, W) bright on dark:
    crop to the nonzero ink; fit the long side to 20 (the short one rounded half up, exactly,
    with fractions); area-average by supersampling, every pixel repeated m times along an axis
    of m outputs, then runs of n averaged; centre of mass by scipy, moved to (14, 14) by
    rolling the frame."""
    ys, xs = np.nonzero(ink)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    m_h, m_w = (max(1, int(Fraction(20 * n, max(h, w)) + Fraction(1, 2))) for n in (h, w))
    fine = np.repeat(np.repeat(crop, m_h, axis=0), m_w, axis=1)  # (h m_h, w m_w)
    small = fine.reshape(m_h, h, m_w, w).mean(axis=(1, 3))
    frame = np.zeros((28, 28))
    frame[:m_h, :m_w] = small
    centre = np.array(center_of_mass(frame))
    assert np.all(np.abs(centre % 1 - 0.5) > 1e-6), "a centre of mass a half from a pixel: rounding would decide"
    shift = np.floor(14 - centre + 0.5).astype(int)
    assert np.all(shift >= 0) and np.all(shift + (m_h, m_w) <= 28), "the digit would leave the frame"
    return np.roll(frame, tuple(shift), axis=(0, 1))


@pytest.mark.parametrize("points, radius", [
    ([(30, 130), (22, 150), (30, 172), (60, 168), (112, 128), (112, 182)], 6.5),  # a 2, taller than wide
    ([(60, 20), (70, 90), (50, 160), (75, 190)], 4.2),                            # a wide wavy stroke
])
def test_a_drawn_digit_gets_the_input_mnists_recipe_gives(points, radius):
    """A stroke drawn black on white, off-centre, at a scale that is no whole multiple of 20,
    against the reference written here another way. Both compute the same sums of the same
    numbers in other orders; a sum of at most a few hundred terms of at most 1 is off by
    under 1e-13."""
    coverage = stroke((140, 220), points, radius)
    paper = 1.0 - coverage
    expected = mnist_reference(coverage)
    np.testing.assert_allclose(prepare(paper), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(prepare(coverage), expected, rtol=0, atol=1e-12)  # light on dark: not inverted


def test_transparency_is_put_on_white_as_pillow_does_it(tmp_path):
    """RGBA pixels composited on white by Pillow and turned grey by Pillow's own integer luma:
    each of its two steps rounds to a whole 8-bit level, so the two agree within 1/255."""
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(30, 40, 4), dtype=np.uint8)
    rgba[:5, :, 3] = 0  # fully transparent rows: white
    path = png(tmp_path / "rgba.png", rgba)
    white = Image.new("RGBA", (40, 30), (255, 255, 255, 255))
    pillow = np.asarray(Image.alpha_composite(white, Image.open(path)).convert("L")) / 255
    grey = read_image(path)
    np.testing.assert_allclose(grey, pillow, rtol=0, atol=1 / 255 + 1e-12)
    assert np.all(grey[:5] == 1.0)


def test_a_16_bit_png_and_a_sideways_jpeg(tmp_path):
    """A 16-bit grey PNG gives L / 65535; a JPEG whose EXIF says "turn me 90 degrees clockwise"
    (orientation 6), as phones save photos, is read upright."""
    levels = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)
    Image.fromarray(levels).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), levels / 65535)

    stored = np.full((20, 40), 255, dtype=np.uint8)
    stored[:, :20] = 0  # the left half dark, as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "photo.jpg", quality=95, exif=exif)
    upright = np.rot90(stored, k=-1) / 255  # turned clockwise: the left half becomes the top
    np.testing.assert_allclose(read_image(tmp_path / "photo.jpg"), upright, rtol=0, atol=8 / 255)


def test_as_input_reads_row_by_row():
    prepared = np.random.default_rng(0).random((28, 28))
    x = as_input(prepared)
    assert x.shape == (784,)
    assert all(x[28 * r + c] == prepared[r, c] for r, c in [(0, 0), (0, 27), (1, 0), (27, 3)])


def png_header(width: int, height: int) -> bytes:
    """The bytes of a PNG that claims width x height pixels of 8-bit grey, with no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def valid_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, says", [
    ("missing.png", None, "cannot read"),
    ("notes.png", b"seven, written in words\n", "is not a PNG or JPEG image"),
    ("moving.gif", "gif", "is not a PNG or JPEG image"),
    ("cut.png", "truncated", "could not be decoded"),
    ("huge.png", png_header(100_000, 100_000), "too large"),
    ("long.png", png_header(MAX_SIDE + 1, 3), f"{MAX_SIDE + 1} x 3 pixels, larger than {MAX_SIDE} x {MAX_SIDE}"),
])
def test_a_file_that_is_no_usable_image_is_refused(tmp_path, name, content, says):
    """Each refusal is one line naming the file and what to do. The 10^5 x 10^5 PNG (10^10
    pixels, 10 GB as 8-bit grey) is a 60-byte header: refused from it, nothing is decoded."""
    path = tmp_path / name
    if content == "gif":
        Image.new("L", (8, 8)).save(path, "GIF")
    elif content == "truncated":
        path.write_bytes(valid_png()[:2000])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=says) as error:
        read_image(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("level", [255, 0])
def test_a_blank_canvas_is_refused(tmp_path, level):
    """White paper with nothing drawn, or a black screen: no ink, nothing to crop to."""
    path = png(tmp_path / "blank.png", np.full((50, 80), level, dtype=np.uint8))
    with pytest.raises(UsageError, match="is blank") as error:
        prepare(read_image(path), source=str(path))
    assert str(path) in str(error.value)
