/* ConvLab: page-wide adjustments, loaded once on every page of the book.
 *
 * MathJax 3 does not break inline formulas across lines. An inline formula wider than its
 * paragraph (a long relation on a 390 px phone screen) would be cut off at the page's edge;
 * such formulas' span.math gets the class `cl-wide-math`, which gives them their own horizontal scrollbar
 * (book/_static/convlab.css). Checked again when the window is resized.
 */
(function () {
  "use strict";

  function fitInlineMath() {
    // The theme wraps each inline formula in span.math (inline-flex, max-width 100%,
    // overflow hidden): one wider than the paragraph is clipped there.
    var spans = document.querySelectorAll("span.math");
    for (var i = 0; i < spans.length; i++) {
      var span = spans[i];
      var math = span.querySelector("mjx-container");
      var parent = span.parentElement;
      if (!math || !parent) continue;
      span.classList.remove("cl-wide-math");
      if (math.getBoundingClientRect().width > parent.clientWidth + 1) {
        span.classList.add("cl-wide-math");
      }
    }
  }

  function whenTypeset() {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(fitInlineMath, function () { return null; });
    }
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    if (resizeTimer !== null) window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(fitInlineMath, 150);
  });
  if (document.readyState === "complete") {
    whenTypeset();
  } else {
    window.addEventListener("load", whenTypeset);
  }
})();
