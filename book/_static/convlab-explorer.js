/* ConvLab: the convolution-arithmetic explorer.
 *
 * Drives every element marked `data-convlab-explorer` (markup written by the book's Sphinx
 * extension, book/_ext/convlab_book.py): reads the form fields, shows "output size: N" or a
 * sentence saying why the settings give no output, and animates where the window lands.
 *
 * The relations are those of convlab.analysis (one spatial dimension, square drawings):
 *   convolution:  out = floor((n + 2p - d(k-1) - 1) / s) + 1,   needs n + 2p >= d(k-1) + 1
 *   transposed:   out = (n-1)s - 2p + d(k-1) + output_padding + 1,
 *                 needs output_padding < s or output_padding < d, and out >= 1
 * Plain JavaScript and SVG; nothing is loaded from anywhere.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  /** Drawings larger than this many cells a side are not drawn (the numbers still are). */
  var MAX_CELLS = 40;
  var FRAME_MS = 700;

  var FIELDS = [
    { key: "size", label: "input size", min: 1 },
    { key: "kernel", label: "kernel size", min: 1 },
    { key: "stride", label: "stride", min: 1 },
    { key: "padding", label: "padding", min: 0 },
    { key: "dilation", label: "dilation", min: 1 },
    { key: "output_padding", label: "output padding", min: 0, transposedOnly: true },
  ];

  /** A field's value as an integer >= min, or a sentence saying what is wrong with it. */
  function readInt(text, field) {
    var t = String(text).trim();
    var rule = field.min === 0 ? "0 or more" : "1 or more";
    if (!/^[0-9]+$/.test(t)) {
      return { error: "The " + field.label + " must be a whole number, " + rule + "." };
    }
    var v = parseInt(t, 10);
    if (!Number.isSafeInteger(v)) {
      return { error: "The " + field.label + " is too large to compute with." };
    }
    if (v < field.min) {
      return { error: "The " + field.label + " must be " + rule + "; it is " + v + "." };
    }
    return { value: v };
  }

  /**
   * The output size for settings `a` ({size, kernel, stride, padding, dilation,
   * output_padding}) in `mode` ("conv" or "transposed"): {out, formula} or {error}.
   */
  function outputSize(mode, a) {
    var n = a.size, k = a.kernel, s = a.stride, p = a.padding, d = a.dilation;
    var span = d * (k - 1) + 1;
    if (mode === "conv") {
      var padded = n + 2 * p;
      if (padded < span) {
        return {
          error: "No output: the window spans d(k\u22121)+1 = " + span + " pixels, more than "
            + "the padded input n+2p = " + padded + ", so it fits nowhere.",
        };
      }
      var out = Math.floor((padded - span) / s) + 1;
      return {
        out: out,
        formula: "\u230a(" + n + " + 2\u00b7" + p + " \u2212 " + d + "\u00b7(" + k + "\u22121) \u2212 1) / "
          + s + "\u230b + 1 = " + out,
      };
    }
    var op = a.output_padding;
    if (op >= s && op >= d) {
      return {
        error: "No output: the output padding (" + op + ") must be smaller than the stride ("
          + s + ") or the dilation (" + d + "); it only chooses among the input sizes that a convolution with stride " + s
          + " maps to one output size.",
      };
    }
    var full = (n - 1) * s + span;
    var outT = full - 2 * p + op;
    if (outT < 1) {
      return {
        error: "No output: the padding crops 2p = " + 2 * p + " pixels from a full output of "
          + "(n\u22121)s + d(k\u22121) + 1 + output padding = " + (full + op) + " pixels, "
          + "leaving none.",
      };
    }
    return {
      out: outT,
      formula: "(" + n + "\u22121)\u00b7" + s + " \u2212 2\u00b7" + p + " + " + d + "\u00b7(" + k
        + "\u22121) + " + op + " + 1 = " + outT,
    };
  }

  function el(name, attrs) {
    var node = document.createElementNS(SVG_NS, name);
    for (var key in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, key)) node.setAttribute(key, attrs[key]);
    }
    return node;
  }

  function rect(group, x, y, cell, cls, extra) {
    var attrs = { x: x * cell, y: y * cell, width: cell, height: cell, "class": cls };
    for (var key in extra || {}) attrs[key] = extra[key];
    var r = el("rect", attrs);
    group.appendChild(r);
    return r;
  }

  function label(svg, x, y, text) {
    var t = el("text", { x: x, y: y, "class": "cx-caption" });
    t.textContent = text;
    svg.appendChild(t);
  }

  /**
   * The frames of the animation: for a convolution, each output position (i, j) and the
   * input cells its window reads; for a transposed convolution, each input position and the
   * output-canvas cells its kernel stamp writes.
   */
  function frames(mode, a, out) {
    var list = [];
    var count = mode === "conv" ? out : a.size;
    for (var i = 0; i < count; i++) {
      for (var j = 0; j < count; j++) list.push([i, j]);
    }
    return list;
  }

  function Explorer(root) {
    this.root = root;
    this.form = root.querySelector("form");
    this.result = root.querySelector(".cx-result");
    this.formula = root.querySelector(".cx-formula");
    this.drawing = root.querySelector(".cx-drawing");
    this.playButton = root.querySelector(".cx-play");
    this.stepButton = root.querySelector(".cx-step");
    this.frameText = root.querySelector(".cx-frame");
    this.timer = null;
    this.frame = 0;
    this.state = null;
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    this.playing = !reduce;
    var self = this;
    this.form.addEventListener("input", function () { self.update(); });
    this.form.addEventListener("change", function () { self.update(); });
    this.form.addEventListener("submit", function (e) { e.preventDefault(); });
    this.playButton.addEventListener("click", function () {
      self.playing = !self.playing;
      self.schedule();
    });
    this.stepButton.addEventListener("click", function () {
      self.playing = false;
      self.advance();
      self.schedule();
    });
    this.update();
  }

  Explorer.prototype.mode = function () {
    var checked = this.form.querySelector("input[name$='-mode']:checked");
    return checked ? checked.value : "conv";
  };

  Explorer.prototype.read = function (mode) {
    var values = {};
    for (var f = 0; f < FIELDS.length; f++) {
      var field = FIELDS[f];
      var wrap = this.form.querySelector("[data-field='" + field.key + "']");
      if (field.transposedOnly) {
        wrap.hidden = mode !== "transposed";
        if (mode !== "transposed") { values[field.key] = 0; continue; }
      }
      var parsed = readInt(wrap.querySelector("input").value, field);
      if (parsed.error) return { error: parsed.error };
      values[field.key] = parsed.value;
    }
    return { values: values };
  };

  Explorer.prototype.update = function () {
    var mode = this.mode();
    this.root.setAttribute("data-mode", mode);
    var read = this.read(mode);
    var res = read.error ? { error: read.error } : outputSize(mode, read.values);
    if (res.error) {
      this.result.textContent = res.error;
      this.result.classList.add("cx-impossible");
      this.formula.textContent = "";
      this.state = null;
    } else {
      this.result.textContent = "output size: " + res.out;
      this.result.classList.remove("cx-impossible");
      this.formula.textContent = res.formula;
      this.state = { mode: mode, a: read.values, out: res.out,
                     frames: frames(mode, read.values, res.out) };
    }
    this.frame = 0;
    this.draw();
    this.schedule();
  };

  Explorer.prototype.schedule = function () {
    if (this.timer !== null) { window.clearInterval(this.timer); this.timer = null; }
    var drawable = this.state && this.state.drawn;
    this.playButton.textContent = this.playing ? "pause" : "play";
    this.playButton.disabled = !drawable;
    this.stepButton.disabled = !drawable;
    if (this.playing && drawable && this.state.frames.length > 1) {
      var self = this;
      this.timer = window.setInterval(function () { self.advance(); }, FRAME_MS);
    }
  };

  Explorer.prototype.advance = function () {
    if (!this.state || !this.state.drawn) return;
    this.frame = (this.frame + 1) % this.state.frames.length;
    this.show();
  };

  /** Build the SVG for the current settings; `show` then marks the current frame. */
  Explorer.prototype.draw = function () {
    this.drawing.textContent = "";
    this.frameText.textContent = "";
    var st = this.state;
    if (!st) return;
    var a = st.a, k = a.kernel, s = a.stride, p = a.padding, d = a.dilation;
    var span = d * (k - 1) + 1;
    var left, right, leftTitle, rightTitle, legend;
    if (st.mode === "conv") {
      left = a.size + 2 * p;
      right = st.out;
      leftTitle = "input (padded)";
      rightTitle = "output";
      legend = "Light blue: the input; dashed: padding; dark: the taps the window reads; "
        + "orange: the output cell it writes.";
    } else {
      var full = (a.size - 1) * s + span;
      left = a.size;
      right = Math.max(full, p + st.out);
      leftTitle = "input";
      rightTitle = "output";
      legend = "Orange: the input cell; dark: the kernel stamp it adds; green: the output, "
        + "darker where stamps overlap; grey, dashed: cropped by the padding.";
    }
    if (left > MAX_CELLS || right > MAX_CELLS) {
      st.drawn = false;
      var note = document.createElement("p");
      note.className = "cx-note";
      note.textContent = "The drawing is shown for up to " + MAX_CELLS + " cells a side.";
      this.drawing.appendChild(note);
      return;
    }
    st.drawn = true;
    var cell = Math.max(8, Math.min(32, Math.floor(640 / (left + right + 2))));
    var gap = Math.max(2 * cell, 40), top = 22;
    var width = (left + right) * cell + gap;
    var height = Math.max(left, right) * cell + top;
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, role: "img",
                          "class": "cx-svg", width: width, height: height });
    var title = el("title", {});
    svg.appendChild(title);
    label(svg, 0, 14, leftTitle);
    label(svg, left * cell + gap, 14, rightTitle);
    var gl = el("g", { transform: "translate(0," + top + ")" });
    var gr = el("g", { transform: "translate(" + (left * cell + gap) + "," + top + ")" });
    svg.appendChild(gl);
    svg.appendChild(gr);
    var leftCells = [], rightCells = [];
    var x, y;
    for (y = 0; y < left; y++) {
      leftCells.push([]);
      for (x = 0; x < left; x++) {
        var pad = st.mode === "conv" && (x < p || y < p || x >= p + a.size || y >= p + a.size);
        leftCells[y].push(rect(gl, x, y, cell, pad ? "cx-cell cx-pad" : "cx-cell cx-in"));
      }
    }
    for (y = 0; y < right; y++) {
      rightCells.push([]);
      for (x = 0; x < right; x++) {
        var cls = "cx-cell cx-out";
        if (st.mode === "transposed") {
          var inside = x >= p && y >= p && x < p + st.out && y < p + st.out;
          cls = inside ? "cx-cell cx-out" : "cx-cell cx-crop";
        }
        rightCells[y].push(rect(gr, x, y, cell, cls));
      }
    }
    var outline = el("rect", { "class": "cx-span", width: span * cell, height: span * cell });
    (st.mode === "conv" ? gl : gr).appendChild(outline);
    st.svg = { root: svg, title: title, leftCells: leftCells, rightCells: rightCells,
               outline: outline, cell: cell, hits: null };
    this.drawing.appendChild(svg);
    var caption = document.createElement("p");
    caption.className = "cx-legend";
    caption.textContent = legend;
    this.drawing.appendChild(caption);
    this.show();
  };

  /** Mark the current frame: the window (or stamp) and the output (or input) cell. */
  Explorer.prototype.show = function () {
    var st = this.state;
    if (!st || !st.drawn) return;
    var g = st.svg, a = st.a, s = a.stride, d = a.dilation, k = a.kernel;
    var ij = st.frames[this.frame];
    var i = ij[0], j = ij[1], u, v, row, col;
    var clear = function (cells) {
      for (var y = 0; y < cells.length; y++) {
        for (var x = 0; x < cells[y].length; x++) {
          cells[y][x].classList.remove("cx-tap", "cx-here");
          cells[y][x].removeAttribute("data-hits");
          cells[y][x].style.removeProperty("fill-opacity");
        }
      }
    };
    clear(g.leftCells);
    clear(g.rightCells);
    if (st.mode === "conv") {
      for (u = 0; u < k; u++) {
        for (v = 0; v < k; v++) {
          g.leftCells[i * s + u * d][j * s + v * d].classList.add("cx-tap");
        }
      }
      g.rightCells[i][j].classList.add("cx-here");
      g.outline.setAttribute("x", j * s * g.cell);
      g.outline.setAttribute("y", i * s * g.cell);
      g.title.textContent = "The window for output row " + (i + 1) + ", column " + (j + 1)
        + " reads " + k + "\u00d7" + k + " input cells " + d + " apart.";
    } else {
      g.leftCells[i][j].classList.add("cx-here");
      // Overlap so far: how many stamps (frames 0..current) wrote each output-canvas cell.
      var hits = {};
      var most = 1;
      for (var f = 0; f <= this.frame; f++) {
        var fi = st.frames[f][0], fj = st.frames[f][1];
        for (u = 0; u < k; u++) {
          for (v = 0; v < k; v++) {
            var key = (fi * s + u * d) + "," + (fj * s + v * d);
            hits[key] = (hits[key] || 0) + 1;
            if (hits[key] > most) most = hits[key];
          }
        }
      }
      for (var key2 in hits) {
        if (!Object.prototype.hasOwnProperty.call(hits, key2)) continue;
        var rc = key2.split(",");
        var c = g.rightCells[+rc[0]][+rc[1]];
        c.setAttribute("data-hits", hits[key2]);
        c.style.setProperty("fill-opacity", String(0.25 + 0.75 * hits[key2] / most));
      }
      for (u = 0; u < k; u++) {
        for (v = 0; v < k; v++) {
          row = i * s + u * d;
          col = j * s + v * d;
          g.rightCells[row][col].classList.add("cx-tap");
        }
      }
      g.outline.setAttribute("x", j * s * g.cell);
      g.outline.setAttribute("y", i * s * g.cell);
      g.title.textContent = "Input row " + (i + 1) + ", column " + (j + 1) + " adds a "
        + k + "\u00d7" + k + " stamp of the kernel, taps " + d + " apart, at output offset "
        + (i * s - a.padding) + ", " + (j * s - a.padding) + ".";
    }
    g.root.setAttribute("aria-label", g.title.textContent);
    g.root.setAttribute("data-frame", String(this.frame));
    this.frameText.textContent = "step " + (this.frame + 1) + " of " + st.frames.length;
  };

  function start() {
    var roots = document.querySelectorAll("[data-convlab-explorer]");
    for (var r = 0; r < roots.length; r++) {
      if (!roots[r].convlabExplorer) roots[r].convlabExplorer = new Explorer(roots[r]);
    }
  }

  window.convlabExplorer = { outputSize: outputSize, FIELDS: FIELDS };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
