/* Small SVG charts for the supervisor's dashboard (console.js). Plain JS, no library: each
 * function returns an <svg role="img"> whose aria-label says every value, so a screen reader
 * gets the figures and not a picture. Text is set with textContent only. Colours keep text
 * at 4.5:1 or more on white. */
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var INK = '#1f2328', MUTE = '#475467', GRID = '#e4e7ec', BAR = '#2563eb', BAR2 = '#c2410c';

  function svg(w, h, label) {
    var s = document.createElementNS(NS, 'svg');
    s.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    s.setAttribute('role', 'img');
    s.setAttribute('aria-label', label);
    s.setAttribute('class', 'chart');
    var title = document.createElementNS(NS, 'title'); title.textContent = label; s.appendChild(title);
    return s;
  }
  function node(tag, attrs, text) {
    var n = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text != null) n.textContent = String(text);
    return n;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function fmt(v) { return v == null ? '—' : Math.round(v * 10) / 10; }

  /* Vertical bars: items [{label, value}], with optional horizontal marks
   * [{value, label, color}] (e.g. 20 s and 30 s). opts: {title, unit, color, height} */
  function bars(items, opts) {
    opts = opts || {};
    var W = 560, H = opts.height || 200, L = 40, R = 10, T = 14, B = 34;
    var max = niceMax(Math.max.apply(null, items.map(function (i) { return i.value || 0; })
      .concat((opts.marks || []).map(function (m) { return m.value; }), [0])));
    var label = opts.title + ': ' + items.map(function (i) { return i.label + ' ' + fmt(i.value) + (opts.unit || ''); }).join(', ');
    var s = svg(W, H, label), y = function (v) { return T + (H - T - B) * (1 - v / max); };
    [0, 0.5, 1].forEach(function (f) {
      s.appendChild(node('line', {x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), stroke: GRID}));
      s.appendChild(node('text', {x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: MUTE}, fmt(max * f)));
    });
    var n = Math.max(1, items.length), slot = (W - L - R) / n, bw = Math.max(2, slot * 0.7);
    var every = Math.ceil(n / 12);
    items.forEach(function (it, i) {
      var x = L + i * slot + (slot - bw) / 2, v = it.value || 0;
      var r = node('rect', {x: x, y: y(v), width: bw, height: Math.max(0, y(0) - y(v)), fill: it.color || opts.color || BAR, rx: 2});
      r.appendChild(node('title', {}, it.label + ': ' + fmt(it.value) + (opts.unit || '')));
      s.appendChild(r);
      if (i % every === 0) s.appendChild(node('text', {x: x + bw / 2, y: H - B + 16, 'text-anchor': 'middle', 'font-size': 11, fill: MUTE}, it.label));
    });
    (opts.marks || []).forEach(function (m) {
      s.appendChild(node('line', {x1: L, x2: W - R, y1: y(m.value), y2: y(m.value), stroke: m.color || BAR2, 'stroke-dasharray': '5 4', 'stroke-width': 1.5}));
      s.appendChild(node('text', {x: W - R, y: y(m.value) - 4, 'text-anchor': 'end', 'font-size': 11, fill: m.color || BAR2}, m.label));
    });
    if (opts.xTitle) s.appendChild(node('text', {x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', 'font-size': 11, fill: MUTE}, opts.xTitle));
    return s;
  }

  /* A histogram over buckets [{from, to, label, count}] (to null: open-ended), drawn as
   * equal columns, with a mark at each bucket boundary named in opts.marks [{value,
   * label, color}] (20 s, 30 s); buckets from a mark on are coloured as late. */
  function histogram(buckets, opts) {
    opts = opts || {};
    var W = 560, H = 200, L = 40, R = 10, T = 22, B = 34;
    var max = niceMax(Math.max.apply(null, buckets.map(function (b) { return b.count; }).concat([0])));
    var label = opts.title + ': ' + buckets.map(function (b) { return b.label + (opts.unit || '') + ' ' + b.count; }).join(', ');
    var s = svg(W, H, label), n = Math.max(1, buckets.length), slot = (W - L - R) / n;
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var marks = (opts.marks || []).slice().sort(function (a, b) { return a.value - b.value; });
    [0, 0.5, 1].forEach(function (f) {
      s.appendChild(node('line', {x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), stroke: GRID}));
      s.appendChild(node('text', {x: L - 6, y: y(max * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: MUTE}, fmt(max * f)));
    });
    buckets.forEach(function (b, i) {
      var late = marks.filter(function (m) { return b.from >= m.value; }).pop();
      var x = L + i * slot;
      var r = node('rect', {x: x + 3, y: y(b.count), width: slot - 6, height: Math.max(0, y(0) - y(b.count)),
        fill: late ? late.color : BAR, rx: 2});
      r.appendChild(node('title', {}, b.label + (opts.unit || '') + ': ' + b.count));
      s.appendChild(r);
      s.appendChild(node('text', {x: x + slot / 2, y: H - B + 16, 'text-anchor': 'middle', 'font-size': 11, fill: MUTE}, b.label));
      if (b.count) s.appendChild(node('text', {x: x + slot / 2, y: y(b.count) - 3, 'text-anchor': 'middle', 'font-size': 11, fill: INK}, b.count));
      marks.forEach(function (m) {
        if (b.from !== m.value) return;
        s.appendChild(node('line', {x1: x, x2: x, y1: T - 8, y2: y(0), stroke: m.color, 'stroke-dasharray': '5 4', 'stroke-width': 1.5}));
        s.appendChild(node('text', {x: x + 3, y: T - 10, 'font-size': 11, fill: m.color}, m.label));
      });
    });
    if (opts.xTitle) s.appendChild(node('text', {x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', 'font-size': 11, fill: MUTE}, opts.xTitle));
    return s;
  }

  /* Horizontal bars of conversations per agent over the load bands:
   * rows [{label, value}], bands [{from, to, label, color}] (to may be null: open). */
  function bands(rows, bandList, opts) {
    opts = opts || {};
    var W = 560, rowH = 26, T = 22, L = 90, R = 10, H = T + rows.length * rowH + 8;
    var last = bandList[bandList.length - 1];
    var top = Math.max(last.from * 1.25, Math.max.apply(null, rows.map(function (r) { return r.value || 0; }).concat([0])) * 1.05);
    var label = opts.title + ': ' + rows.map(function (r) { return r.label + ' ' + r.value + (r.band ? ' (' + r.band + ')' : ''); }).join(', ');
    var s = svg(W, H, label), x = function (v) { return L + (W - L - R) * Math.min(v, top) / top; };
    bandList.forEach(function (b) {
      var to = b.to == null ? top : b.to;
      s.appendChild(node('rect', {x: x(b.from), y: T - 4, width: Math.max(0, x(to) - x(b.from)), height: rows.length * rowH + 4, fill: b.color}));
      s.appendChild(node('text', {x: (x(b.from) + x(to)) / 2, y: T - 8, 'text-anchor': 'middle', 'font-size': 10, fill: INK}, b.label));
    });
    rows.forEach(function (r, i) {
      var yy = T + i * rowH;
      s.appendChild(node('text', {x: L - 6, y: yy + rowH / 2 + 4, 'text-anchor': 'end', 'font-size': 12, fill: INK}, r.label));
      var bar = node('rect', {x: L, y: yy + 5, width: Math.max(0, x(r.value || 0) - L), height: rowH - 10, fill: INK, rx: 2});
      bar.appendChild(node('title', {}, r.label + ': ' + r.value));
      s.appendChild(bar);
      s.appendChild(node('text', {x: x(r.value || 0) + 4, y: yy + rowH / 2 + 4, 'font-size': 11, fill: INK}, r.value));
    });
    return s;
  }

  /* A funnel: steps [{label, value}], each bar with its count and its share of the first. */
  function funnel(steps, opts) {
    opts = opts || {};
    var W = 560, rowH = 30, L = 90, R = 110, H = steps.length * rowH + 6;
    var first = steps.length ? steps[0].value || 0 : 0, max = Math.max(1, first);
    var pct = function (v) { return first ? Math.round(v / first * 1000) / 10 + '%' : '—'; };
    var label = opts.title + ': ' + steps.map(function (st) { return st.label + ' ' + st.value + ' (' + pct(st.value) + ')'; }).join(', ');
    var s = svg(W, H, label);
    steps.forEach(function (st, i) {
      var yy = 3 + i * rowH, w = (W - L - R) * (st.value || 0) / max;
      s.appendChild(node('text', {x: L - 6, y: yy + rowH / 2 + 4, 'text-anchor': 'end', 'font-size': 12, fill: INK}, st.label));
      s.appendChild(node('rect', {x: L, y: yy + 4, width: Math.max(0, w), height: rowH - 8, fill: i ? BAR : BAR2, rx: 3}));
      s.appendChild(node('text', {x: L + w + 6, y: yy + rowH / 2 + 4, 'font-size': 12, fill: INK}, st.value + ' · ' + pct(st.value)));
    });
    return s;
  }

  window.ShopAssistCharts = {bars: bars, histogram: histogram, bands: bands, funnel: funnel};
})();
