/* "Try it": draw a digit and watch the network read it.

   Plain JavaScript, no library, nothing fetched: it works in a page opened from a file,
   offline. It mounts every <section class="tryit"> above it (experiments/analysis/tryit.py
   writes them), reading the network from the section's <script class="tryit-network">:
   {"activation": "sigmoid" | "relu", "loss": "mse" | "bce" | "ce",
    "weights": [W_1, W_2, ...] each (n_out, n_in), "biases": [b_1, b_2, ...]}.

   On every move of the pen the canvas's RGBA bytes are prepared exactly as
   experiments/tools/drawn_digits.py prepares an image (its docstring gives each step;
   greyLevels is step 0 of its read_image, and coverage, boxSize, placement and prepare its
   namesakes), and the network's forward pass runs in doubles, as scratch.Network's in float64:

       a^0 = x,   a^l = f(W_l a^(l-1) + b_l),   f the hidden activation, and for the last
       layer softmax (loss "ce") or sigmoid (losses "mse" and "bce").

   For tests, window.tryit holds the last mounted section's `input` (784 numbers, null while
   the canvas is blank), `outputs` (10 numbers or null), `toDataURL()` (the canvas as a PNG
   data URL), `read()` (read the canvas again, after drawing on it by its 2D context) and
   `clear()`. */
(function () {
  "use strict";

  const INK_THRESHOLD = 0.0; // as drawn_digits.py: any ink at all belongs to the digit
  const BOX = 20;            // the digit is scaled to fit BOX x BOX ...
  const FRAME = 28;          // ... and centred in a FRAME x FRAME image
  const CENTRE = 14;         // the pixel (row and column) its centre of mass goes to
  const HALF_TIE = 1e-9;     // an offset within this of a half is rounded up, as in Python
  const PEN_WIDTH = 18;      // canvas pixels: about 2 of the 20 of MNIST's box, as its strokes

  // Step 0: grey levels g in [0, 1] of RGBA bytes, put on white and weighed by the Rec. 601
  // luma in thousandths. Exact integers up to the one division, as in read_image.
  function greyLevels(rgba) {
    const grey = new Float64Array(rgba.length / 4);
    for (let p = 0; p < grey.length; p++) {
      const r = rgba[4 * p], g = rgba[4 * p + 1], b = rgba[4 * p + 2], a = rgba[4 * p + 3];
      grey[p] = (a * (299 * r + 587 * g + 114 * b) + (255 - a) * 255000) / 65025000;
    }
    return grey;
  }

  // C (m rows of n): the fraction of output pixel i that input pixel j covers.
  function coverage(n, m) {
    const rows = [];
    for (let i = 0; i < m; i++) {
      const row = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const overlap = Math.min((j + 1) * m, (i + 1) * n) - Math.max(j * m, i * n);
        row[j] = Math.max(overlap, 0) / n;
      }
      rows.push(row);
    }
    return rows;
  }

  function boxSize(n, longest) {
    return Math.max(1, Math.floor((2 * BOX * n + longest) / (2 * longest)));
  }

  function placement(mass, size) {
    let moment = 0, total = 0;
    for (let k = 0; k < size; k++) {
      moment += k * mass[k];
      total += mass[k];
    }
    const first = Math.floor(CENTRE - moment / total + 0.5 + HALF_TIE);
    return Math.min(Math.max(first, 0), FRAME - size);
  }

  // Steps 1-4: the 784 inputs (row by row), or null when the image holds no ink.
  function prepare(grey, width, height) {
    // 1. ink bright on dark: invert when more than half of the border is lighter than mid-grey
    let borderSize = 0, lightBorder = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (y === 0 || y === height - 1 || x === 0 || x === width - 1) {
          borderSize++;
          if (grey[y * width + x] > 0.5) lightBorder++;
        }
      }
    }
    const light = 2 * lightBorder > borderSize;
    const ink = light ? grey.map((g) => 1.0 - g) : grey;

    // 2. crop to the ink
    let top = height, bottom = -1, left = width, right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] > INK_THRESHOLD) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    if (bottom < 0) return null;
    const h = bottom - top + 1, w = right - left + 1;

    // 3. area-average into m_h x m_w, the long side BOX: small = C_h crop C_w^T
    const mH = boxSize(h, Math.max(h, w)), mW = boxSize(w, Math.max(h, w));
    const cH = coverage(h, mH), cW = coverage(w, mW);
    const squeezed = [];                      // C_h crop: (m_h, w)
    for (let i = 0; i < mH; i++) {
      const row = new Float64Array(w);
      for (let j = 0; j < h; j++) {
        const c = cH[i][j];
        if (c === 0) continue;
        const offset = (top + j) * width + left;
        for (let x = 0; x < w; x++) row[x] += c * ink[offset + x];
      }
      squeezed.push(row);
    }
    const small = [];                         // (C_h crop) C_w^T: (m_h, m_w)
    for (let i = 0; i < mH; i++) {
      const row = new Float64Array(mW);
      for (let k = 0; k < mW; k++) {
        let sum = 0;
        for (let x = 0; x < w; x++) sum += squeezed[i][x] * cW[k][x];
        row[k] = Math.min(Math.max(sum, 0.0), 1.0);
      }
      small.push(row);
    }

    // 4. centre of mass on pixel (CENTRE, CENTRE) of the frame
    const rowMass = small.map((row) => row.reduce((s, v) => s + v, 0));
    const colMass = new Float64Array(mW);
    for (let i = 0; i < mH; i++) for (let k = 0; k < mW; k++) colMass[k] += small[i][k];
    const r0 = placement(rowMass, mH), c0 = placement(colMass, mW);
    const input = new Float64Array(FRAME * FRAME);
    for (let i = 0; i < mH; i++) {
      for (let k = 0; k < mW; k++) input[(r0 + i) * FRAME + c0 + k] = small[i][k];
    }
    return input;
  }

  const HIDDEN = {
    sigmoid: (z) => 1.0 / (1.0 + Math.exp(-z)),
    relu: (z) => Math.max(z, 0.0),
  };

  function softmax(z) {
    const largest = Math.max(...z);
    const shifted = z.map((v) => v - largest);
    const logTotal = Math.log(shifted.reduce((s, v) => s + Math.exp(v), 0));
    return shifted.map((v) => Math.exp(v - logTotal));
  }

  const OUTPUT = {
    ce: softmax,
    mse: (z) => z.map(HIDDEN.sigmoid),
    bce: (z) => z.map(HIDDEN.sigmoid),
  };

  // Every layer's activations [a^0, a^1, ..., a^L]: z^l = W_l a^(l-1) + b_l.
  function forward(net, x) {
    const activations = [Array.from(x)];
    net.weights.forEach((weight, l) => {
      const previous = activations[activations.length - 1];
      const z = weight.map((row, i) => {
        let sum = 0;
        for (let j = 0; j < row.length; j++) sum += row[j] * previous[j];
        return sum + net.biases[l][i];
      });
      const last = l === net.weights.length - 1;
      activations.push(last ? OUTPUT[net.loss](z) : z.map(HIDDEN[net.activation]));
    });
    return activations;
  }

  // 3Blue1Brown's picture: a column of neurons per layer, lit by their activation, and
  // between columns the weights, blue positive and red negative, stronger ones more opaque.
  function drawNetwork(canvas, net, activations) {
    const ctx = canvas.getContext("2d");
    const layers = net.weights.map((w) => w.length);  // the columns: hidden layers and outputs
    const columnX = layers.map((_, c) => 30 + c * (canvas.width - 110) / Math.max(layers.length - 1, 1));
    const labelHeight = 22;
    const radius = Math.min(8, (canvas.height - labelHeight - 10) / (2.6 * Math.max(...layers)));
    const neuronY = (count, i) => (canvas.height + labelHeight) / 2 + (i - (count - 1) / 2) * 2.6 * radius;
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#ddd";
    ctx.font = "12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    layers.forEach((_, c) => {
      const label = c < layers.length - 1 ? `hidden ${c + 1}` : "outputs";
      ctx.fillText(label, columnX[c], 6);
    });
    ctx.textAlign = "start";
    for (let c = 1; c < layers.length; c++) {
      const weight = net.weights[c];
      const largest = Math.max(...weight.map((row) => Math.max(...row.map(Math.abs))));
      for (let i = 0; i < layers[c]; i++) {
        for (let j = 0; j < layers[c - 1]; j++) {
          const w = weight[i][j];
          ctx.strokeStyle = w > 0 ? "rgb(80, 150, 255)" : "rgb(255, 90, 70)";
          ctx.globalAlpha = 0.6 * Math.abs(w) / largest;
          ctx.beginPath();
          ctx.moveTo(columnX[c - 1], neuronY(layers[c - 1], j));
          ctx.lineTo(columnX[c], neuronY(layers[c], i));
          ctx.stroke();
        }
      }
    }
    ctx.globalAlpha = 1;
    const guess = activations ? argmax(activations[activations.length - 1]) : -1;
    layers.forEach((count, c) => {
      const a = activations ? activations[c + 1] : new Array(count).fill(0);
      const hidden = c < layers.length - 1;
      const scale = hidden && net.activation === "relu" ? Math.max(...a, 1e-12) : 1; // ReLU: unbounded
      for (let i = 0; i < count; i++) {
        const level = Math.round(255 * Math.min(a[i] / scale, 1));
        ctx.fillStyle = `rgb(${level}, ${level}, ${level})`;
        ctx.strokeStyle = i === guess && !hidden ? "#ffd400" : "#888";
        ctx.lineWidth = i === guess && !hidden ? 2.5 : 1;
        ctx.beginPath();
        ctx.arc(columnX[c], neuronY(count, i), radius, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
        if (!hidden) {
          ctx.fillStyle = i === guess ? "#ffd400" : "#ddd";
          ctx.font = `${Math.round(1.6 * radius)}px sans-serif`;
          ctx.textBaseline = "middle";
          const value = activations ? a[i].toFixed(2) : "";
          ctx.fillText(`${i}  ${value}`, columnX[c] + 2 * radius, neuronY(count, i));
        }
      }
      ctx.lineWidth = 1;
    });
  }

  function argmax(values) {
    let best = 0;
    values.forEach((v, i) => { if (v > values[best]) best = i; });
    return best;
  }

  function drawInput(canvas, input) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(FRAME, FRAME);
    for (let p = 0; p < FRAME * FRAME; p++) {
      const level = input ? Math.round(255 * input[p]) : 0;
      image.data.set([level, level, level, 255], 4 * p);
    }
    ctx.putImageData(image, 0, 0);
  }

  function mount(section) {
    section.dataset.mounted = "true";
    const net = JSON.parse(section.querySelector("script.tryit-network").textContent);
    const pad = section.querySelector("canvas.tryit-draw");
    const ctx = pad.getContext("2d", { willReadFrequently: true });
    const inputView = section.querySelector("canvas.tryit-input");
    const netView = section.querySelector("canvas.tryit-net");
    const guessView = section.querySelector(".tryit-guess");
    const state = { input: null, outputs: null };
    let last = null;  // the pen's last point while it is down

    function update() {
      const rgba = ctx.getImageData(0, 0, pad.width, pad.height).data;
      const input = prepare(greyLevels(rgba), pad.width, pad.height);
      const activations = input ? forward(net, input) : null;
      state.input = input ? Array.from(input) : null;
      state.outputs = activations ? activations[activations.length - 1] : null;
      drawInput(inputView, input);
      drawNetwork(netView, net, activations);
      if (state.outputs) {
        const guess = argmax(state.outputs);
        guessView.textContent = `The network reads ${guess} (output ${state.outputs[guess].toFixed(3)})`;
      } else {
        guessView.textContent = "Draw a digit, 0 to 9, in the white box.";
      }
    }

    function clear() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, pad.width, pad.height);
      update();
    }

    function point(event) {  // canvas pixels, whatever size the page shows the canvas at
      const rect = pad.getBoundingClientRect();  // the border's box: the drawing starts inside the border
      return [(event.clientX - rect.left - pad.clientLeft) * pad.width / pad.clientWidth,
              (event.clientY - rect.top - pad.clientTop) * pad.height / pad.clientHeight];
    }

    pad.addEventListener("pointerdown", (event) => {
      pad.setPointerCapture(event.pointerId);
      last = point(event);
      ctx.fillStyle = "#000";
      ctx.beginPath();
      ctx.arc(last[0], last[1], PEN_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      update();
    });
    pad.addEventListener("pointermove", (event) => {
      if (!last) return;
      const next = point(event);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = PEN_WIDTH;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(next[0], next[1]);
      ctx.stroke();
      last = next;
      update();
    });
    const lift = () => { last = null; };
    pad.addEventListener("pointerup", lift);
    pad.addEventListener("pointercancel", lift);
    section.querySelector("button.tryit-clear").addEventListener("click", clear);

    clear();
    window.tryit = {
      get input() { return state.input; },
      get outputs() { return state.outputs; },
      toDataURL: () => pad.toDataURL("image/png"),
      read: update,
      clear,
    };
  }

  document.querySelectorAll("section.tryit:not([data-mounted])").forEach(mount);
})();
