/* The demo storefront's cart (desk/storefront.py renders the pages). A small cart kept in
 * localStorage and shown in the header; window.shopassistCart is always the cart's current
 * lines, and window.shopassistAddToCart is the hook the chat widget calls to add an item
 * (docs/widget.md, "Add to cart"): it answers a Promise that resolves with the cart's line
 * count once the line is stored, or rejects with the reason in the page's language. The
 * product page's in-stock sizes are buttons that add through the same function. A shop's
 * own storefront provides its own window.shopassistAddToCart instead. */
(function () {
  'use strict';
  var KEY = 'shopassist-demo-cart', MAX_UNITS = 99;
  var wordsEl = document.getElementById('cart-words');
  var W = wordsEl ? JSON.parse(wordsEl.textContent) : {};
  var lang = document.documentElement.lang === 'en' ? 'en' : 'zh';

  function read() {
    try {
      var v = JSON.parse(localStorage.getItem(KEY));
      return Array.isArray(v) ? v.filter(function (i) { return i && i.sku && i.quantity > 0; }) : [];
    } catch (e) { return []; }
  }
  // the same array object stays window.shopassistCart; its contents follow the store
  var lines = window.shopassistCart = [];
  function load() { lines.length = 0; read().forEach(function (i) { lines.push(i); }); }
  function store() { localStorage.setItem(KEY, JSON.stringify(lines)); }
  function units() { return lines.reduce(function (n, i) { return n + i.quantity; }, 0); }
  function money(v) { return '¥' + (Number(v) % 1 ? Number(v).toFixed(2) : Number(v).toFixed(0)); }

  function add(productId, sku, quantity, item) {
    item = item || {};
    quantity = Math.max(1, parseInt(quantity, 10) || 1);
    if (!sku) return Promise.reject(new Error(W.cart_no_variant || 'no variant'));
    load();
    var line = lines.filter(function (i) { return i.sku === sku; })[0];
    if ((line ? line.quantity : 0) + quantity > MAX_UNITS) return Promise.reject(new Error(W.cart_full || 'too many'));
    if (line) line.quantity += quantity;
    else {
      lines.push({product_id: productId, sku: sku, quantity: quantity,
        price: item.price != null ? Number(item.price) : null, name: item.name || productId, variant: item.variant || ''});
    }
    try { store(); } catch (e) { load(); return Promise.reject(e); }
    render();
    return Promise.resolve({count: units()});
  }
  function remove(sku) {
    load();
    for (var i = 0; i < lines.length; i++) if (lines[i].sku === sku) { lines.splice(i, 1); break; }
    store(); render();
  }
  window.shopassistAddToCart = add;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function render() {
    var n = document.getElementById('cart-n'), box = document.getElementById('cart-box');
    if (!n || !box) return;
    n.textContent = String(units());
    n.parentNode.setAttribute('aria-label', (W.cart || '') + ' (' + units() + ')');
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!lines.length) { box.appendChild(el('p', 'cart-empty', W.cart_empty)); return; }
    var ul = el('ul', 'cart-lines'), total = 0;
    lines.forEach(function (i) {
      var li = el('li');
      li.appendChild(el('span', 'cart-name', i.name + (i.variant ? (lang === 'zh' ? ' ' : ', ') + i.variant : '')));
      li.appendChild(el('span', 'cart-q', '×' + i.quantity + (i.price != null ? ' · ' + money(i.price * i.quantity) : '')));
      var rm = el('button', 'cart-rm', W.cart_remove);
      rm.type = 'button'; rm.setAttribute('aria-label', W.cart_remove + ': ' + i.name + ' ' + (i.variant || ''));
      rm.addEventListener('click', function () { remove(i.sku); });
      li.appendChild(rm); ul.appendChild(li);
      if (i.price != null) total += i.price * i.quantity;
    });
    box.appendChild(ul);
    box.appendChild(el('p', 'cart-total', W.cart_total + ' ' + money(total)));
  }
  function flash(text) {
    var s = document.getElementById('cart-said');
    if (!s) { s = el('p', 'cart-said'); s.id = 'cart-said'; s.setAttribute('role', 'status'); document.body.appendChild(s); }
    s.textContent = text; s.classList.add('on');
    clearTimeout(flash.tm); flash.tm = setTimeout(function () { s.classList.remove('on'); }, 2500);
  }

  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('button.add[data-sku]');
    if (!b) return;
    add(b.dataset.productId, b.dataset.sku, 1, {price: b.dataset.price, name: b.dataset.name, variant: b.dataset.variant})
      .then(function () { flash(W.cart_added + (lang === 'zh' ? '：' : ': ') + b.dataset.name + ' ' + b.dataset.variant); },
        function (err) { flash(err.message); });
  });
  // another tab changed the cart
  window.addEventListener('storage', function (e) { if (e.key === KEY) { load(); render(); } });
  load();
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', render); else render();
})();
