"""A digit of one's own, drawn or scanned, prepared as MNIST's digits were made.

MNIST's makers took each black-on-white NIST digit, scaled it to fit a 20 x 20 box keeping
its aspect ratio (anti-aliasing gave the grey levels), and centred the box in a 28 x 28 frame
by the digit's centre of mass. A network trained on MNIST expects exactly that; this module
does the same to any image, in these steps:

  0. Read (`read_image`). A PNG or JPEG, at most MAX_SIDE = 4096 pixels on each side (the
     size is read from the file's header and a larger image refused before it is decoded),
     becomes grey levels g in [0, 1], 0 black and 1 white. A pixel (R, G, B, A) of 8-bit
     channels is put on white paper and weighed by the Rec. 601 luma, in thousandths:

         g = (A (299 R + 587 G + 114 B) + (255 - A) 255 * 1000) / (255 * 255 * 1000)

     Every product and sum is an integer below 2^31, exact in int32 as in the doubles of
     JavaScript; the one division is the only rounding, so a canvas's RGBA bytes give the
     same g to the last bit in both languages. A grey pixel L (R = G = B = L, A = 255) gives
     exactly the double nearest L / 255. A JPEG photo is first turned upright by its EXIF
     orientation; a 16-bit grey PNG gives g = L / 65535.
  1. Ink bright on dark (`prepare`). MNIST's digits are white (1) on black (0). The border
     pixels (first and last row and column) are the background: when more than half of them
     are lighter than mid-grey (g > 0.5), the image is dark ink on light paper and
     ink = 1 - g; otherwise ink = g.
  2. Crop to the ink: the smallest rectangle holding every pixel with ink > INK_THRESHOLD = 0,
     any ink at all. White paper (g = 1) and a canvas's white give ink exactly 0, and a digit
     of MNIST keeps its 20-pixel box with its faintest anti-aliased edge (a threshold of 0.02
     already changes 1.6% of them). The price: a speck of dirt or the faint ringing of a JPEG
     widens the box too, so draw on clean white and save as PNG. No ink at all: the image is
     blank, an error.
  3. Scale to fit 20 x 20, keeping the aspect ratio: an h x w crop becomes m_h x m_w with
     m = max(1, floor(20 n / max(h, w) + 1/2)) for n = h and for n = w (the long side 20).
     Each output pixel is the mean of the input area it covers (area averaging, with
     fractional coverage at its edges): it anti-aliases, as the makers' scaling did.
     Along an axis of n input pixels and m output pixels, in units of 1/m input pixel the
     input pixel j spans [j m, (j + 1) m) and the output pixel i spans [i n, (i + 1) n), so

         C[i, j] = overlap of the two spans / n           (coverage matrix, (m, n); rows sum to 1)
         small   = C_h  crop  C_w^T                       (m_h, h) x (h, w) x (w, m_w) -> (m_h, m_w)

     An integer ratio averages whole blocks; the same size copies the crop unchanged. The
     values are clipped to [0, 1] against the last bit of rounding.
  4. Centre by the centre of mass. The ink's centre of mass (rows and columns numbered from
     0, a pixel's weight its ink) is put on pixel (14, 14) of a 28 x 28 frame of zeros, as in
     MNIST (every digit of the sample has its centre of mass within half a pixel of there):
     the small image's top-left corner goes to row r0 = floor(14 - com_row + 1/2 + 1e-9),
     likewise the column c0, clamped to [0, 28 - m] so that no ink leaves the frame. Halves
     round up, and the 1e-9 makes an offset a half exactly (a symmetric digit) round up
     whatever the order of the sums, in Python as in JavaScript.

`as_input` then flattens the 28 x 28 frame row by row into the 784 inputs of the network.

The "Try it" canvas (experiments/analysis/tryit.js) repeats these steps line by line in
JavaScript, on the canvas's RGBA bytes; tests/test_tryit.py checks that both agree.
"""
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from experiments.errors import UsageError

FORMATS = ("PNG", "JPEG")
MAX_SIDE = 4096         # pixels per side, checked from the header before decoding
INK_THRESHOLD = 0.0     # ink above this (0 background, 1 full ink) is part of the digit
BOX = 20                # the digit is scaled to fit BOX x BOX ...
FRAME = 28              # ... and centred in a FRAME x FRAME image
CENTRE = 14             # the pixel (row and column) its centre of mass goes to
HALF_TIE = 1e-9         # an offset within this of a half is rounded up, in both languages


def read_image(path: str | Path) -> np.ndarray:
    """Grey levels (H, W) float64 in [0, 1] (0 black, 1 white) of a PNG or JPEG file,
    transparency put on white (step 0 of the module docstring)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # a size Pillow warns of is refused below anyway
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise UsageError(f"{path} is too large to read ({e}); scale it down to at most {MAX_SIDE} x {MAX_SIDE} "
                         "pixels") from None
    except UnidentifiedImageError:
        raise UsageError(f"{path} is not a PNG or JPEG image; save the drawing as .png or .jpg") from None
    except OSError as e:
        raise UsageError(f"cannot read {path} ({e.strerror or e}); check the path") from None
    with image:
        width, height = image.size
        if width > MAX_SIDE or height > MAX_SIDE:
            raise UsageError(f"{path} is {width} x {height} pixels, larger than {MAX_SIDE} x {MAX_SIDE}; scale it "
                             "down (a digit needs only a few hundred pixels a side)")
        try:
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey
                return np.asarray(image, dtype=np.float64) / 65535
            rgba = np.asarray(image.convert("RGBA"), dtype=np.int32)  # (H, W, 4)
        except (OSError, ValueError, SyntaxError) as e:  # truncated or damaged data
            raise UsageError(f"{path} could not be decoded ({e}); save the image again") from None
    r, g, b, a = (rgba[..., k] for k in range(4))
    luma = 299 * r + 587 * g + 114 * b  # thousandths of a grey level 0-255
    return (a * luma + (255 - a) * 255_000) / 65_025_000


def coverage(n: int, m: int) -> np.ndarray:
    """C (m, n): C[i, j] is the fraction of output pixel i (of m) that input pixel j (of n)
    covers, when both span the same length; a row of C averages its output pixel's area."""
    i = np.arange(m)[:, None]
    j = np.arange(n)[None, :]
    overlap = np.minimum((j + 1) * m, (i + 1) * n) - np.maximum(j * m, i * n)  # in 1/m of an input pixel
    return np.maximum(overlap, 0) / n


def box_size(n: int, longest: int) -> int:
    """floor(BOX n / longest + 1/2), at least 1: the side n scaled as the longest side to BOX."""
    return max(1, (2 * BOX * n + longest) // (2 * longest))


def placement(mass: np.ndarray, size: int) -> int:
    """Where the first pixel of a profile `mass` (size,) goes for its centre of mass to land on
    CENTRE, rounded half up, keeping all `size` pixels inside the frame."""
    com = np.arange(size) @ mass / mass.sum()
    return int(np.clip(np.floor(CENTRE - com + 0.5 + HALF_TIE), 0, FRAME - size))


def prepare(grey: np.ndarray, source: str = "the image") -> np.ndarray:
    """The 28 x 28 input (float64 in [0, 1], ink 1 on background 0) that MNIST's makers would
    have made of grey levels (H, W) in [0, 1]: steps 1-4 of the module docstring. `source`
    names the image in the error raised when it holds no ink."""
    grey = np.asarray(grey, dtype=np.float64)
    if grey.ndim != 2 or grey.size == 0 or not np.all((grey >= 0) & (grey <= 1)):
        raise ValueError(f"grey levels must be a non-empty (H, W) array of values in [0, 1], not {grey.shape}")
    rows, cols = np.indices(grey.shape, sparse=True)
    border = grey[(rows == 0) | (rows == grey.shape[0] - 1) | (cols == 0) | (cols == grey.shape[1] - 1)]
    light = 2 * np.count_nonzero(border > 0.5) > border.size
    ink = 1.0 - grey if light else grey

    inked = ink > INK_THRESHOLD
    ink_rows, ink_cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if ink_rows.size == 0:
        paper, pen = ("white", "darker") if light else ("black", "lighter")
        raise UsageError(f"{source} is blank: no pixel is {pen} than its {paper} background; draw a digit, dark on "
                         "light or light on dark")
    crop = ink[ink_rows[0]:ink_rows[-1] + 1, ink_cols[0]:ink_cols[-1] + 1]  # (h, w)

    h, w = crop.shape
    m_h, m_w = box_size(h, max(h, w)), box_size(w, max(h, w))
    small = coverage(h, m_h) @ crop @ coverage(w, m_w).T  # (m_h, h) x (h, w) x (w, m_w) -> (m_h, m_w)
    small = np.clip(small, 0.0, 1.0)

    r0, c0 = placement(small.sum(axis=1), m_h), placement(small.sum(axis=0), m_w)
    frame = np.zeros((FRAME, FRAME))
    frame[r0:r0 + m_h, c0:c0 + m_w] = small
    return frame


def as_input(prepared: np.ndarray) -> np.ndarray:
    """The 784 inputs (784,) of a prepared 28 x 28 digit, row by row as MNIST's pixels; a
    batch of one is as_input(p)[None, :]."""
    if prepared.shape != (FRAME, FRAME):
        raise ValueError(f"a prepared digit is {FRAME} x {FRAME}, not {prepared.shape}")
    return prepared.reshape(FRAME * FRAME)
