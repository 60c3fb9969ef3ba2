/* WCAG 2.x contrast of every visible text element of the page, run in the browser by
 * tests/test_ui_contrast.py (page.evaluate). An element counts when it has a non-blank text
 * node of its own, is rendered (a box bigger than 1×1 px, visibility visible, not fully
 * transparent) and is not a disabled control (WCAG exempts inactive components). Its text
 * colour and its background are composited as the browser paints them: each ancestor's
 * background colour over the one behind it, from the page's white canvas up, and each
 * ancestor's opacity mixing everything inside it with what is behind. An element whose
 * background cannot be known this way (a background image on the way) is reported apart.
 * Large text (24 px, or 18.66 px bold; WCAG's 18 pt / 14 pt) needs 3:1, other text 4.5:1.
 * SVG text (the dashboard's charts) is taken with its fill, against the chart's box. 
 * Returns {checked, failures: [{text, ratio, need, fg, bg, where}], unknown: [...]}. */
(() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, under) => {           // top composited over an opaque `under`
    const a = top.a;
    return {r: top.r * a + under.r * (1 - a), g: top.g * a + under.g * (1 - a),
            b: top.b * a + under.b * (1 - a), a: 1};
  };
  const mix = (x, y, o) => ({r: x.r * o + y.r * (1 - o), g: x.g * o + y.g * (1 - o),
                             b: x.b * o + y.b * (1 - o), a: 1});
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const hex = (c) => '#' + [c.r, c.g, c.b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const where = (e) => {
    const parts = [];
    for (let n = e; n && n.nodeType === 1 && parts.length < 4; n = n.parentElement) {
      parts.unshift(n.tagName.toLowerCase() + (n.id ? '#' + n.id : '') +
        (typeof n.className === 'string' && n.className.trim() ? '.' + n.className.trim().split(/\s+/).join('.') : ''));
    }
    return parts.join(' > ');
  };

  // what this element's text and background look like, painted over `chain` from the root
  function paint(chain, i, backdrop) {
    const e = chain[i], cs = getComputedStyle(e);
    const o = parseFloat(cs.opacity);
    const bg = over(parse(cs.backgroundColor) || {r: 0, g: 0, b: 0, a: 0}, backdrop);
    let inner;
    if (i === chain.length - 1) {
      // SVG text is painted with `fill`; other text with `color`
      const ink = e instanceof SVGElement && cs.fill.startsWith('rgb') ? cs.fill : cs.color;
      inner = {bg: bg, fg: over(parse(ink), bg)};
    }
    else inner = paint(chain, i + 1, bg);
    return o < 1 ? {bg: mix(inner.bg, backdrop, o), fg: mix(inner.fg, backdrop, o)} : inner;
  }

  const out = {checked: 0, failures: [], unknown: []};
  const white = {r: 255, g: 255, b: 255, a: 1};
  for (const e of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'OPTION', 'SELECT', 'TEXTAREA'].includes(e.tagName)) continue;
    const own = [...e.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own.length) continue;
    const r = e.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;
    const cs = getComputedStyle(e);
    if (cs.visibility !== 'visible' || e.closest('[hidden]')) continue;
    if (e.closest('button:disabled, input:disabled, fieldset:disabled')) continue;
    const chain = [];
    for (let n = e; n; n = n.parentElement) chain.unshift(n);
    let opacity = 1, image = false;
    for (const n of chain) {
      const s = getComputedStyle(n);
      opacity *= parseFloat(s.opacity);
      if (s.backgroundImage && s.backgroundImage !== 'none') image = true;
    }
    if (opacity === 0) continue;
    const text = own.map((n) => n.textContent.trim()).join(' ').slice(0, 60);
    if (image) { out.unknown.push({text: text, where: where(e)}); continue; }
    const {fg, bg} = paint(chain, 0, white);
    const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const got = ratio(fg, bg);
    out.checked++;
    if (got + 1e-9 < need) {
      out.failures.push({text: text, ratio: Math.round(got * 100) / 100, need: need, fg: hex(fg), bg: hex(bg), where: where(e)});
    }
  }
  return out;
})()
