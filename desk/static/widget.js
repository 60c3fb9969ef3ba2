/* ShopAssist storefront chat widget. One tag:
 *   <script src="/widget.js" data-locale="zh" data-product-id="P001" defer></script>
 * Optional: data-desk (the desk's origin), data-customer-id with data-customer-sig (the
 * id's HMAC-SHA256 with the shop's secret; without it the shopper is anonymous).
 * Cart: window.shopassistCart.
 * Plain JS, no dependencies; the only global is window.ShopAssist. Message data is only
 * ever written with textContent. API: docs/desk-api.md; this widget: docs/widget.md. */
(function () {
  'use strict';
  if (window.ShopAssist && window.ShopAssist.version) return;
  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var ds = (script && script.dataset) || {};
  var DESK = (ds.desk || (script && script.src ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, '');
  var KEY = 'shopassist:' + DESK;

  var T = {
    zh: {
      launcher: '在线客服', title: '小助手', subtitle: '库存·发货·价格·订单', close: '关闭聊天',
      toggle: 'EN', toggleLabel: 'Switch to English', log: '聊天记录', input: '输入消息',
      placeholder: '输入您的问题，例如：42码有货吗？', send: '发送', dialog: '在线客服聊天',
      welcome: '亲，您好～库存、发货、价格、订单都可以问我哦！', quick: '快捷回复',
      typing: '小助手正在输入…', agentTyping: '{name}正在输入…', sending: '发送中…',
      failed: '发送失败，点击重试', retry: '重新发送', offline: '连接中断，正在重连…',
      joined: '{name}已加入对话，将为您服务', you: '我', bot: '小助手', agent: '客服',
      queued: '正在为您转接人工客服，您现在排第{n}位，预计等待约{m}分钟',
      queuedNext: '正在为您转接人工客服，下一位就是您～',
      queuedShort: '排队中：第{n}位，约{m}分钟', queuedShortNext: '排队中：下一位就是您', queuedShortNobody: '排队中：第{n}位，客服暂时都不在线', serving: '{name}正在为您服务',
      resolved: '本次对话已结束，有问题可以继续发消息哦～', unread: '{n}条新消息', newBelow: '{n}条新消息',
      newBelowLabel: '下面有{n}条新消息，点击查看',
      stock: '库存', soldOut: '售罄', inStock: '有货', units: '{n}件', color: '颜色', size: '尺码',
      price: '价格', ships: '发货日期', carrier: '快递', delivery: '预计送达', to: '至',
      order: '订单', status: '状态', tracking: '物流单号', recs: '为您推荐',
      more: '了解更多', add: '加入购物车', addAsk: '加入购物车：{name}', moreText: '介绍一下{name}',
      cartAdding: '正在加入购物车…', cartDone: '已加入购物车：{item}', cartTotal: '（购物车里共{n}件）',
      cartFailed: '没能加入购物车：{why}。可以在商品页上直接加购，或在这里告诉我们～',
      cartNoHook: '本店的购物车不支持从聊天里加购',
      rateTitle: '亲，给本次服务打个分吧～', rateStars: '{n}分', rateComment: '还有什么想说的（选填）', rateSend: '提交评价',
      rateThanks: '感谢您的评价！我们会继续努力的～', rateErr: '评价没提交成功，请再试一次', rateScale: '1分很不满意，5分非常满意', cartUnchanged: '购物车没有确认加购', cartError: '购物车出错了',
      leaveTitle: '客服暂时不在线（服务时间 {hours}）。请留言，我们上班后会尽快联系您。',
      leaveNobody: '请留下联系方式和问题，客服上线后会第一时间联系您。',
      contact: '联系方式（手机或邮箱）', question: '留言内容', leaveSend: '提交留言',
      leaveDone: '留言已收到，客服会尽快联系您～', leaveErr: '提交失败，请稍后再试',
      split: '分包裹发出', city: '目的地',
      st: {pending_payment: '待付款', paid: '已付款，待发货', shipped: '已发货', delivered: '已签收',
        cancelled: '已取消', refunded: '已退款', not_found: '未找到'}
    },
    en: {
      launcher: 'Chat with us', title: 'Shop assistant', subtitle: 'Stock · shipping · prices · orders',
      close: 'Close chat', toggle: '中', toggleLabel: '切换到中文', log: 'Conversation',
      input: 'Message', placeholder: 'Ask a question, e.g. is size 42 in stock?', send: 'Send',
      dialog: 'Shop assistant chat', welcome: "Hi! Ask me about stock, shipping, prices or your order.",
      quick: 'Quick replies', typing: 'The assistant is typing…', agentTyping: '{name} is typing…',
      sending: 'Sending…', failed: 'Not sent. Tap to retry', retry: 'Send again',
      offline: 'Connection lost, reconnecting…', joined: '{name} has joined and will help you',
      you: 'You', bot: 'Assistant', agent: 'Agent',
      queued: "Connecting you to our team: you're number {n} in the queue, about {m} min wait",
      queuedNext: "Connecting you to our team: you're next",
      queuedShort: 'In queue: #{n}, about {m} min', queuedShortNext: "In queue: you're next", queuedShortNobody: 'In queue: #{n}; nobody from our team is online right now', serving: '{name} is helping you',
      resolved: 'This conversation is resolved. Write again any time.', unread: '{n} new messages',
      newBelow: '{n} new messages', newBelow1: '1 new message', newBelowLabel: '{n} new below: show them',
      stock: 'Stock', soldOut: 'sold out', inStock: 'in stock', units: '{n} left', color: 'Colour',
      size: 'Size', price: 'Price', ships: 'Ships', carrier: 'Carrier', delivery: 'Arrives', to: 'to',
      order: 'Order', status: 'Status', tracking: 'Tracking no.', recs: 'You may also like',
      more: 'Tell me more', add: 'Add to cart', addAsk: 'Add to cart: {name}', moreText: 'Tell me about {name}',
      cartAdding: 'Adding to your cart…', cartDone: 'Added to your cart: {item}', cartTotal: ' ({n} in your cart now)',
      cartFailed: "Couldn't add it to your cart: {why}. You can add it on the product page, or tell us here.",
      cartNoHook: "this shop's cart can't be reached from the chat",
      rateTitle: 'How did we do? Please rate this chat.', rateStars: '{n} out of 5', rateComment: 'Anything else to tell us? (optional)',
      rateSend: 'Send rating', rateThanks: 'Thank you for your rating!', rateErr: "Your rating wasn't sent, please try again",
      rateScale: '1 is very unhappy, 5 is very happy', cartUnchanged: "the cart didn't confirm it", cartError: 'the cart reported an error',
      leaveTitle: "Our team is offline now (hours {hours}). Leave a message and we'll get back to you.",
      leaveNobody: "Leave your contact details and your question, and we'll get back to you as soon as someone is in.",
      contact: 'Your phone or email', question: 'Your message', leaveSend: 'Send message',
      leaveDone: "Thanks, we got your message and will contact you soon.", leaveErr: 'Could not send, please try again',
      split: 'ships in several parcels', city: 'To',
      st: {pending_payment: 'awaiting payment', paid: 'paid, to be shipped', shipped: 'shipped',
        delivered: 'delivered', cancelled: 'cancelled', refunded: 'refunded', not_found: 'not found'}
    }
  };
  var COLORS = {black: '黑色', white: '白色', grey: '灰色', navy: '藏青色', blue: '蓝色', red: '红色',
    green: '绿色', orange: '橙色', yellow: '黄色', pink: '粉色', khaki: '卡其色', purple: '紫色'};
  var CARRIERS = {SF: ['顺丰速运', 'SF Express'], ZTO: ['中通快递', 'ZTO Express'], YTO: ['圆通速递', 'YTO Express']};

  var saved = load();
  var S = {
    locale: (saved.locale && saved.page === ds.locale) ? saved.locale : (ds.locale === 'en' || ds.locale === 'zh' ? ds.locale :
      (/^zh/i.test(navigator.language || '') ? 'zh' : 'en')),
    id: saved.id || null, token: saved.token || null, state: 'bot', agent: null, queue: null,
    msgs: {}, lastId: 0, titles: {}, busy: 0, typing: null, ws: null, wsTries: 0, open: false,
    unread: 0, leaveShown: false, retrying: [], unseen: [], carts: saved.carts || {}, rated: saved.rated || {}
  };
  function load() { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; } }
  function save() {
    try {
      localStorage.setItem(KEY, JSON.stringify({id: S.id, token: S.token, locale: S.locale, page: ds.locale, carts: S.carts, rated: S.rated}));
    } catch (e) { /* private mode */ }
  }
  function t(k, v) {
    var s = T[S.locale][k] || T.en[k] || k;
    return v ? s.replace(/\{(\w+)\}/g, function (_, n) { return v[n] == null ? '' : v[n]; }) : s;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); (window.crypto || {getRandomValues: function (a) {
      for (var i = 0; i < a.length; i++) a[i] = Math.random() * 256 | 0; return a; }}).getRandomValues(b);
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function el(tag, cls, text, attrs) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function emit(name, detail) {
    try { document.dispatchEvent(new CustomEvent('shopassist:' + name, {detail: detail})); } catch (e) { /* old browser */ }
  }
  function money(p, cur) { return (cur && cur !== 'CNY' ? cur + ' ' : '¥') + Number(p).toFixed(Number(p) % 1 ? 2 : 0); }
  function colorName(c) { return S.locale === 'zh' ? (COLORS[c] || c) : c; }
  function sizeName(z) { return z === 'ONE' ? (S.locale === 'zh' ? '均码' : 'one size') : z; }
  function carrier(c) { return CARRIERS[c] ? CARRIERS[c][S.locale === 'zh' ? 0 : 1] : c; }
  function day(iso) {
    if (!iso) return '';
    var d = new Date(iso.length === 10 ? iso + 'T12:00:00' : iso);
    if (isNaN(d)) return iso;
    return S.locale === 'zh' ? (d.getMonth() + 1) + '月' + d.getDate() + '日' :
      d.toLocaleDateString('en-GB', {weekday: 'short', day: 'numeric', month: 'short'});
  }

  /* ---------- styles (all under .sa-root) ---------- */
  // colours: text on them at least 4.5:1 (WCAG AA): white on --sa-c 5.2:1, --sa-mute on --sa-soft 5.4:1
  var CSS = '.sa-root{--sa-c:#c2410c;--sa-c-dark:#9a3412;--sa-ink:#1f2328;--sa-mute:#5b6474;--sa-bg:#fff;--sa-soft:#f3f4f6;' +
    'font:14px/1.45 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:var(--sa-ink);' +
    'position:fixed;right:20px;bottom:20px;z-index:2147483000}' +
    '.sa-root *{box-sizing:border-box;font:inherit}' +
    '.sa-root button{cursor:pointer;border:0;background:none;color:inherit}' +
    '.sa-root :focus-visible{outline:3px solid #2563eb;outline-offset:2px}' +
    '.sa-launch{display:flex;align-items:center;gap:8px;background:var(--sa-c)!important;color:#fff!important;' +
    'border-radius:28px!important;padding:12px 18px!important;box-shadow:0 6px 20px rgba(0,0,0,.2);font-weight:600!important;position:relative}' +
    '.sa-launch svg{width:20px;height:20px;fill:currentColor}' +
    '.sa-badge{position:absolute;top:-6px;right:-4px;background:#111;color:#fff;border-radius:10px;min-width:20px;' +
    'padding:0 6px;font-size:12px;line-height:20px;text-align:center}' +
    '.sa-panel{position:absolute;right:0;bottom:0;width:370px;height:min(600px,calc(100vh - 40px));background:var(--sa-bg);' +
    'border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}' +
    '.sa-panel[hidden],.sa-root [hidden]{display:none!important}' +
    '.sa-head{background:var(--sa-c);color:#fff;padding:10px 12px;display:flex;align-items:center;gap:8px}' +
    '.sa-head h2{margin:0;font-size:16px;font-weight:700}.sa-head p{margin:0;font-size:12px}' +
    '.sa-head .sa-grow{flex:1}.sa-head button{color:#fff;padding:4px 8px;border-radius:6px;font-weight:600}' +
    '.sa-head button:hover{background:rgba(255,255,255,.2)}.sa-x{font-size:20px!important;line-height:1}' +
    '.sa-bar{background:#fff7ed;color:#9a3412;font-size:13px;padding:6px 12px;border-bottom:1px solid #fed7aa}' +
    '.sa-bar.sa-ok{background:#ecfdf5;color:#065f46;border-color:#a7f3d0}' +
    '.sa-logwrap{flex:1;min-height:0;position:relative;display:flex;flex-direction:column}' +
    '.sa-log{flex:1;overflow-y:auto;padding:12px;background:var(--sa-soft);display:flex;flex-direction:column;gap:8px;position:relative}' +
    '.sa-new{position:absolute;left:50%;bottom:10px;transform:translateX(-50%);background:var(--sa-ink)!important;color:#fff!important;' +
    'border-radius:16px!important;padding:6px 14px!important;font-size:13px!important;font-weight:600!important;box-shadow:0 4px 14px rgba(0,0,0,.25)}' +
    '.sa-cartst{font-size:12px;margin:4px 4px 0;color:var(--sa-mute)}.sa-cartst.sa-ok{color:#166534;font-weight:600}.sa-cartst.sa-bad{color:#b42318}' +
    '.sa-msg{display:flex;flex-direction:column;max-width:88%;align-self:flex-start}' +
    '.sa-msg.sa-shopper{align-self:flex-end;align-items:flex-end}' +
    '.sa-who{font-size:11px;color:var(--sa-mute);margin:0 4px 2px}' +
    '.sa-bub{background:#fff;border-radius:12px;padding:8px 11px;white-space:pre-wrap;word-wrap:break-word;' +
    'overflow-wrap:anywhere;box-shadow:0 1px 1px rgba(0,0,0,.06)}' +
    '.sa-shopper .sa-bub{background:var(--sa-c);color:#fff}.sa-agent .sa-bub{background:#e0ecff}' +
    '.sa-pending .sa-bub{background:#fff;color:var(--sa-c-dark);outline:1px dashed var(--sa-c)}.sa-failed .sa-bub{background:#b42318}' +
    '.sa-state{font-size:11px;color:var(--sa-mute);margin-top:2px}' +
    '.sa-failed .sa-state{color:#b42318;text-decoration:underline;cursor:pointer}' +
    '.sa-note{align-self:center;max-width:95%;text-align:center;font-size:12px;color:var(--sa-mute);' +
    'background:#fff;border-radius:10px;padding:4px 10px}' +
    '.sa-qr{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}' +
    '.sa-qr button,.sa-btn{border:1px solid var(--sa-c)!important;color:var(--sa-c)!important;background:#fff!important;' +
    'border-radius:16px!important;padding:4px 11px!important;font-size:13px!important}' +
    '.sa-qr button:hover,.sa-btn:hover{background:#fff1ec!important;color:var(--sa-c-dark)!important}' +
    '.sa-card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:8px 10px;margin-top:6px;font-size:13px;min-width:220px}' +
    '.sa-card h3{margin:0 0 4px;font-size:14px;font-weight:700}.sa-card .sa-p{color:var(--sa-c);font-weight:700}' +
    '.sa-card dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0}.sa-card dt{color:var(--sa-mute)}.sa-card dd{margin:0}' +
    '.sa-tw{overflow-x:auto}.sa-card table{border-collapse:collapse;font-size:12px}' +
    '.sa-card th,.sa-card td{border:1px solid #eef0f3;padding:2px 6px;text-align:center}.sa-card th{background:#fafafa;font-weight:600}' +
    '.sa-card td.sa-out,.sa-chip.sa-out{color:#5b6474;text-decoration:line-through;background:#f9fafb}' +
    '.sa-card td.sa-low{color:#b45309;font-weight:700}' +
    '.sa-chips{display:flex;flex-wrap:wrap;gap:4px}.sa-chip{border:1px solid #d1d5db;border-radius:12px;padding:1px 8px;font-size:12px}' +
    '.sa-chip.sa-in{border-color:#16a34a;color:#166534}' +
    '.sa-recs{display:flex;flex-direction:column;gap:6px}.sa-rec{border:1px solid #eef0f3;border-radius:8px;padding:6px 8px}' +
    '.sa-rec b{display:block}.sa-rec small{color:var(--sa-mute);display:block}.sa-rec .sa-qr{margin-top:4px}' +
    '.sa-typing{display:flex;gap:4px;align-items:center;font-size:12px;color:var(--sa-mute);padding:0 14px 4px;background:var(--sa-soft)}' +
    '.sa-dots i{display:inline-block;width:6px;height:6px;border-radius:50%;background:#9ca3af;margin-right:3px;animation:sa-b 1s infinite}' +
    '.sa-dots i:nth-child(2){animation-delay:.15s}.sa-dots i:nth-child(3){animation-delay:.3s}' +
    '@keyframes sa-b{0%,80%,100%{opacity:.3}40%{opacity:1}}' +
    '.sa-form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}' +
    '.sa-form input,.sa-leave input,.sa-leave textarea{flex:1;border:1px solid #d1d5db;border-radius:8px;padding:8px 10px;min-width:0;width:100%;background:#fff;color:inherit}' +
    '.sa-send{background:var(--sa-c)!important;color:#fff!important;border-radius:8px!important;padding:8px 14px!important;font-weight:600!important}' +
    '.sa-send:hover,.sa-launch:hover{background:var(--sa-c-dark)!important}' +
    '.sa-leave{background:#fff;border:1px solid #fed7aa;border-radius:10px;padding:10px;display:flex;flex-direction:column;gap:6px;font-size:13px}' +
    '.sa-leave label{display:flex;flex-direction:column;gap:2px;color:var(--sa-mute)}' +
    '.sa-rate{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:10px;display:flex;flex-direction:column;gap:8px;font-size:13px}' +
    '.sa-rate p{margin:0}.sa-stars{display:flex;gap:6px}.sa-stars button{border:1px solid #d1d5db!important;border-radius:8px!important;' +
    'min-width:40px;min-height:40px;font-size:15px!important;font-weight:700!important;color:var(--sa-ink)!important;background:#fff!important}' +
    '.sa-stars button[aria-checked=true]{background:var(--sa-c)!important;color:#fff!important;border-color:var(--sa-c)!important}' +
    '.sa-rate textarea{border:1px solid #d1d5db;border-radius:8px;padding:6px 8px;width:100%;resize:vertical;color:inherit;background:#fff}' +
    '.sa-rate label{display:flex;flex-direction:column;gap:2px;color:var(--sa-mute)}.sa-rate .sa-send{align-self:flex-start}' +
    '.sa-sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    '@media (max-width:480px){.sa-root{right:12px;bottom:12px}.sa-root.sa-on{inset:0}' +
    '.sa-on .sa-panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}.sa-form input{font-size:16px}}' +
    '@media (prefers-reduced-motion:reduce){.sa-dots i{animation:none}}';

  /* ---------- DOM ---------- */
  var root, launcher, badge, panel, h2, sub, tog, xbtn, bar, log, newBtn, typingEl, typingTxt, form, input, sendBtn, inLabel, live;
  function build() {
    var st = el('style', null, CSS); st.setAttribute('data-shopassist', ''); document.head.appendChild(st);
    root = el('div', 'sa-root');
    launcher = el('button', 'sa-launch', null, {type: 'button', 'aria-expanded': 'false'});
    launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
    launcher.appendChild(el('span', 'sa-ll'));
    badge = el('span', 'sa-badge', '', {hidden: ''}); launcher.appendChild(badge);
    panel = el('div', 'sa-panel', null, {role: 'dialog', 'aria-modal': 'false', hidden: '', id: 'sa-panel'});
    launcher.setAttribute('aria-controls', 'sa-panel');
    var head = el('div', 'sa-head'), g = el('div', 'sa-grow');
    h2 = el('h2', null, null, {id: 'sa-title'}); sub = el('p');
    g.appendChild(h2); g.appendChild(sub); head.appendChild(g);
    tog = el('button', 'sa-lang', null, {type: 'button'});
    xbtn = el('button', 'sa-x', '×', {type: 'button'});
    head.appendChild(tog); head.appendChild(xbtn);
    bar = el('div', 'sa-bar', null, {hidden: ''});
    log = el('div', 'sa-log', null, {role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0'});
    var logWrap = el('div', 'sa-logwrap');
    newBtn = el('button', 'sa-new', null, {type: 'button', hidden: ''});
    logWrap.appendChild(log); logWrap.appendChild(newBtn);
    typingEl = el('div', 'sa-typing', null, {hidden: ''});
    var dots = el('span', 'sa-dots', null, {'aria-hidden': 'true'});
    dots.appendChild(el('i')); dots.appendChild(el('i')); dots.appendChild(el('i'));
    typingTxt = el('span'); typingEl.appendChild(dots); typingEl.appendChild(typingTxt);
    form = el('form', 'sa-form');
    inLabel = el('label', 'sa-sr', null, {'for': 'sa-input'});
    input = el('input', null, null, {id: 'sa-input', type: 'text', autocomplete: 'off', maxlength: '2000', enterkeyhint: 'send'});
    sendBtn = el('button', 'sa-send', null, {type: 'submit'});
    form.appendChild(inLabel); form.appendChild(input); form.appendChild(sendBtn);
    live = el('div', 'sa-sr', null, {role: 'status', 'aria-live': 'polite'});
    [head, bar, logWrap, typingEl, form, live].forEach(function (x) { panel.appendChild(x); });
    root.appendChild(panel); root.appendChild(launcher);
    document.body.appendChild(root);

    launcher.onclick = function () { setOpen(!S.open); };
    xbtn.onclick = function () { setOpen(false); };
    newBtn.onclick = showUnseen;
    log.addEventListener('scroll', seeUnseen, {passive: true});
    tog.onclick = function () { S.locale = S.locale === 'zh' ? 'en' : 'zh'; save(); labels(); rerender(); };
    document.addEventListener('keydown', function (e) {
      var a = document.activeElement;
      if (e.key === 'Escape' && S.open && (!a || a === document.body || root.contains(a))) { e.preventDefault(); setOpen(false); }
    });
    form.onsubmit = function (e) {
      e.preventDefault();
      var v = input.value.trim();
      if (!v) return;
      input.value = ''; typingOut(false); send(v);
    };
    var tmo;
    input.addEventListener('input', function () {
      typingOut(true); clearTimeout(tmo); tmo = setTimeout(function () { typingOut(false); }, 3000);
    });
    labels();
  }
  function labels() {
    root.setAttribute('lang', S.locale === 'zh' ? 'zh-CN' : 'en');
    launcher.querySelector('.sa-ll').textContent = t('launcher');
    launcher.setAttribute('aria-label', t('launcher') + (S.unread ? ' (' + t('unread', {n: S.unread}) + ')' : ''));
    panel.setAttribute('aria-label', t('dialog'));
    h2.textContent = t('title'); sub.textContent = t('subtitle');
    tog.textContent = t('toggle'); tog.setAttribute('aria-label', t('toggleLabel'));
    xbtn.setAttribute('aria-label', t('close')); xbtn.title = t('close');
    log.setAttribute('aria-label', t('log'));
    inLabel.textContent = t('input'); input.placeholder = t('placeholder');
    sendBtn.textContent = t('send');
    newSign(); statusBar();
  }
  function setOpen(o) {
    S.open = o; panel.hidden = !o; launcher.hidden = o;
    root.classList.toggle('sa-on', o);
    launcher.setAttribute('aria-expanded', String(o));
    try { sessionStorage.setItem(KEY + ':open', o ? '1' : ''); } catch (e) { /* ignore */ }
    if (o) {
      S.unread = 0; badge.hidden = true; labels();
      if (!log.firstChild) log.appendChild(el('div', 'sa-note sa-welcome', t('welcome')));
      if (S.unseen.length) { log.scrollTop = S.unseen[0].offsetTop - 8; seeUnseen(); } else toBottom();
      input.focus();
    } else launcher.focus();
    emit(o ? 'open' : 'close', {});
  }
  /* Following the conversation. At the bottom, a new message is brought into view from its
   * start (a tall card or a long answer on a phone is read from the top); scrolled up, or
   * with the panel closed, it is counted as unseen until its first line has been in view,
   * and the "n new messages" sign under the log says so and takes the shopper there. The
   * log itself is an ARIA live region, so screen readers hear each new message. */
  function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; }
  function toBottom() { log.scrollTop = log.scrollHeight; S.unseen = []; newSign(); }
  function scroll(force) { if (force || atBottom()) toBottom(); }
  function startInView(n) {             // .sa-log is the message's offset parent
    return n.offsetTop < log.scrollTop + log.clientHeight - 24;
  }
  function arrived(node, follow) {
    if (S.open && follow && !S.unseen.length)
      log.scrollTop = Math.min(node.offsetTop - 8, log.scrollHeight - log.clientHeight);
    if (!S.open || !startInView(node)) S.unseen.push(node);
    newSign();
  }
  function seeUnseen() {
    if (!S.open) return;
    var before = S.unseen.length;
    S.unseen = S.unseen.filter(function (n) { return n.isConnected && !startInView(n); });
    if (S.unseen.length !== before) newSign();
  }
  function newSign() {
    var n = S.unseen.length;
    newBtn.hidden = !n || !S.open;
    newBtn.textContent = '↓ ' + t(n === 1 && T[S.locale].newBelow1 ? 'newBelow1' : 'newBelow', {n: n});
    newBtn.setAttribute('aria-label', t('newBelowLabel', {n: n}));
  }
  function showUnseen() {
    var first = S.unseen[0];
    if (!first) { toBottom(); return; }
    log.scrollTop = first.offsetTop - 8;
    first.tabIndex = -1; first.focus({preventScroll: true});
    seeUnseen();
  }

  /* ---------- rendering ---------- */
  function noticeText(m) {
    var c = m.custom || {};
    if (c.type === 'agent_joined') return t('joined', {name: c.agent_name || m.agent_name || t('agent')});
    // the desk words the queue notice (place, wait, "you're next", nobody online)
    if (c.type === 'queued') return m.text || ((c.position || 1) <= 1 ? t('queuedNext') :
      t('queued', {n: c.position, m: mins(c.estimated_wait_s)}));
    if (c.type === 'resolved') return t('resolved');
    return m.text || '';
  }
  function mins(s) { return Math.max(1, Math.round((s || 60) / 60)); }
  function render(m) {
    if (m.sender === 'system') {
      var n = el('div', 'sa-note', noticeText(m)); n.dataset.id = m.id; return n;
    }
    var w = el('div', 'sa-msg sa-' + m.sender);
    if (m.id != null) w.dataset.id = m.id;
    var who = m.sender === 'agent' ? (m.agent_name || t('agent')) : m.sender === 'bot' ? t('bot') : t('you');
    w.appendChild(el('span', 'sa-who', who));
    var txt = m.text || '';
    if (m.sender === 'shopper' && S.titles[txt]) txt = S.titles[txt];
    if (txt) w.appendChild(el('div', 'sa-bub', txt));
    var c = m.custom;
    if (c && m.sender !== 'shopper') { var card = cardFor(c); if (card) w.appendChild(card); }
    if (m.buttons && m.buttons.length && m.sender !== 'shopper' && !(c && c.type === 'recommendations')) w.appendChild(quick(m.buttons));
    return w;
  }
  function quick(btns) {
    var q = el('div', 'sa-qr', null, {role: 'group', 'aria-label': t('quick')});
    btns.forEach(function (b) {
      S.titles[b.payload] = b.title;
      var x = el('button', null, b.title, {type: 'button'});
      x.onclick = function () { send(b.payload || b.title, b.title); };
      q.appendChild(x);
    });
    return q;
  }
  function dl(pairs) {
    var d = el('dl');
    pairs.forEach(function (p) { if (p[1] == null || p[1] === '') return; d.appendChild(el('dt', null, p[0])); d.appendChild(el('dd', null, p[1])); });
    return d;
  }
  function cardFor(c) {
    var k = el('div', 'sa-card sa-card-' + c.type);
    if (c.type === 'stock' && c.variants) {
      k.setAttribute('aria-label', t('stock'));
      var h = el('h3', null, c.name || c.product_id); k.appendChild(h);
      if (c.price != null) h.appendChild(el('span', 'sa-p', ' ' + money(c.price, c.currency)));
      var colors = uniq(c.variants, 'color'), sizes = uniq(c.variants, 'size');
      if (colors.length > 1 && sizes.length > 1) {
        var tb = el('table'), tr = el('tr'), by = {};
        c.variants.forEach(function (v) { by[v.color + '|' + v.size] = v; });
        tr.appendChild(el('th', null, t('color') + '\\' + t('size'), {scope: 'col'}));
        sizes.forEach(function (z) { tr.appendChild(el('th', null, sizeName(z), {scope: 'col'})); });
        tb.appendChild(tr);
        colors.forEach(function (col) {
          var r = el('tr'); r.appendChild(el('th', null, colorName(col), {scope: 'row'}));
          sizes.forEach(function (z) {
            var v = by[col + '|' + z];
            if (!v) { r.appendChild(el('td', null, '–')); return; }
            var out = v.available <= 0;
            r.appendChild(el('td', out ? 'sa-out' : v.available <= 5 ? 'sa-low' : 'sa-in', out ? t('soldOut') : v.available,
              {title: colorName(col) + ' ' + sizeName(z) + ': ' + (out ? t('soldOut') : t('units', {n: v.available}))}));
          });
          tb.appendChild(r);
        });
        var tw = el('div', 'sa-tw'); tw.appendChild(tb); k.appendChild(tw);
      } else {
        var ch = el('div', 'sa-chips');
        c.variants.forEach(function (v) {
          var out = v.available <= 0;
          ch.appendChild(el('span', 'sa-chip ' + (out ? 'sa-out' : 'sa-in'),
            [colorName(v.color), sizeName(v.size)].filter(Boolean).join(' / ') + ' · ' + (out ? t('soldOut') : t('units', {n: v.available}))));
        });
        k.appendChild(ch);
      }
      return k;
    }
    if (c.type === 'price') {
      k.appendChild(el('h3', null, c.name || c.product_id));
      k.appendChild(dl([[t('price'), money(c.price, c.currency)]])); return k;
    }
    if (c.type === 'shipping' && c.ship_date) {
      k.appendChild(dl([[t('ships'), day(c.ship_date) + (c.split ? ' (' + t('split') + ')' : '')], [t('carrier'), c.carrier_name || carrier(c.carrier)],
        [t('city'), c.city_name || c.city || ''],
        [t('delivery'), c.delivery_earliest ? day(c.delivery_earliest) + (c.delivery_latest && c.delivery_latest !== c.delivery_earliest ? ' – ' + day(c.delivery_latest) : '') : '']]));
      return k;
    }
    if (c.type === 'order_status' && c.status !== 'not_found') {
      k.appendChild(dl([[t('order'), c.order_id], [t('status'), T[S.locale].st[c.status] || c.status],
        [t('carrier'), c.carrier_name || (c.carrier ? carrier(c.carrier) : '')], [t('tracking'), c.tracking_no || '']]));
      return k;
    }
    if (c.type === 'recommendations' && c.items && c.items.length) {
      k.appendChild(el('h3', null, t('recs')));
      var rs = el('div', 'sa-recs');
      c.items.slice(0, 3).forEach(function (it) {
        var r = el('div', 'sa-rec'); r.appendChild(el('b', null, it.name));
        r.appendChild(el('span', 'sa-p', money(it.price, it.currency)));
        if (it.reason) r.appendChild(el('small', null, it.reason));
        var q = el('div', 'sa-qr'), more = el('button', null, t('more'), {type: 'button', 'aria-label': t('more') + ': ' + it.name}),
          add = el('button', null, t('add'), {type: 'button', 'aria-label': t('add') + ': ' + it.name});
        var pm = '/product_details{"product": "' + it.product_id + '"}', pa = '/add_to_cart{"product": "' + it.product_id + '"}';
        S.titles[pm] = t('moreText', {name: it.name}); S.titles[pa] = t('addAsk', {name: it.name});
        more.onclick = function () { send(pm, S.titles[pm]); };
        add.onclick = function () {
          // the bot picks the variant (asking for the size or colour) and answers with the
          // add_to_cart request the widget carries out; an agent gets the shopper's words
          if (S.state === 'assigned') send(S.titles[pa]); else send(pa, S.titles[pa]);
        };
        q.appendChild(more); q.appendChild(add); r.appendChild(q); rs.appendChild(r);
      });
      k.appendChild(rs); return k;
    }
    return null;
  }
  /* ---------- add to cart ----------
   * The bot's `add_to_cart` answer (custom: product_id, sku, quantity, price, name, variant)
   * is a request that the widget carries out on the page's cart through
   * window.shopassistAddToCart(product_id, sku, quantity, item). The hook confirms by
   * returning (or resolving to) anything but false/undefined, or by the item's quantity
   * growing in window.shopassistCart; it refuses by throwing, rejecting or returning false.
   * "Added" is said only after that; a refusal is said too. Each request is carried out
   * once (its outcome is kept with the conversation, so a reload shows it, never redoes it). */
  function cartUnits(sku, pid) {
    var cart = window.shopassistCart;
    if (!Array.isArray(cart)) return null;
    return cart.reduce(function (n, i) {
      var match = !sku && !pid ? true : sku ? i && i.sku === sku : i && i.product_id === pid;
      return n + (match ? Number(i.quantity) || 0 : 0);
    }, 0);
  }
  function addToCart(c, mid, node) {
    if (S.carts[mid]) { cartOutcome(node, S.carts[mid]); return; }
    var item = {product_id: c.product_id, sku: c.sku || null, quantity: c.quantity || 1, price: c.price,
      currency: c.currency, name: c.name || c.product_id, variant: c.variant || ''};
    var hook = window.shopassistAddToCart, before = cartUnits(item.sku, item.product_id);
    var finish = function (o) {
      S.carts[mid] = o; save(); cartOutcome(node, o);
      if (o.ok) emit('add-to-cart', {product_id: item.product_id, sku: item.sku, quantity: item.quantity});
    };
    if (typeof hook !== 'function') { finish({ok: false, why: t('cartNoHook')}); return; }
    cartOutcome(node, {adding: true});
    var res;
    try { res = hook(item.product_id, item.sku, item.quantity, item); } catch (e) { res = Promise.reject(e); }
    Promise.resolve(res).then(function (r) {
      var after = cartUnits(item.sku, item.product_id);
      var grew = after !== null && before !== null && after > before;
      if (r === false || (!grew && (r === undefined || r === null))) { finish({ok: false, why: t('cartUnchanged')}); return; }
      var total = cartUnits(null, null);
      var zh = S.locale === 'zh';
      finish({ok: true, item: [item.name, item.variant].filter(Boolean).join(zh ? '' : ', ') + (zh ? '×' : ' ×') + item.quantity,
        n: total !== null ? total : (r && r.count != null ? r.count : null)});
    }, function (e) {
      finish({ok: false, why: (e && e.message) || t('cartError')});
    });
  }
  function cartOutcome(node, o) {
    if (!node || !o) return;
    var st = node.querySelector('.sa-cartst');
    if (!st) { st = el('p', 'sa-cartst'); node.appendChild(st); }
    var txt = o.adding ? t('cartAdding') : o.ok ? t('cartDone', {item: o.item}) + (o.n != null ? t('cartTotal', {n: o.n}) : '')
      : t('cartFailed', {why: o.why});
    st.textContent = (o.ok ? '✓ ' : '') + txt;
    st.className = 'sa-cartst' + (o.adding ? '' : o.ok ? ' sa-ok' : ' sa-bad');
    if (!o.adding && !S.replay) live.textContent = txt;
  }
  function uniq(vs, f) { var o = []; vs.forEach(function (v) { if (v[f] != null && o.indexOf(v[f]) < 0) o.push(v[f]); }); return o; }
  function place(node, id) {
    var kids = log.children;
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i], kid = k.dataset.id;
      if ((kid && Number(kid) > id) || (!kid && k.dataset.cid)) { log.insertBefore(node, k); return; }
    }
    log.appendChild(node);
  }
  function merge(m) {
    if (!m || m.id == null) return;
    var old = S.msgs[m.id];
    S.msgs[m.id] = m;
    if (m.id > S.lastId) S.lastId = m.id;
    if (m.client_id) {
      var p = log.querySelector('[data-cid="' + cssq(m.client_id) + '"]');
      if (p) p.remove();
    }
    if (old) return;
    if (m.buttons) m.buttons.forEach(function (b) { S.titles[b.payload] = b.title; });
    var follow = atBottom(), node = render(m);
    place(node, m.id);
    var c = m.custom || {};
    if (m.sender === 'system') {
      if (c.type === 'agent_joined') setState('assigned', c.agent_name || m.agent_name);
      else if (c.type === 'queued') setState('queued', null, {position: c.position, estimated_wait_s: c.estimated_wait_s});
      else if (c.type === 'resolved') setState('resolved');
    }
    if (c.type === 'offline') { S.offAt = m.id; S.hours = c.hours; }
    if (c.type === 'contact_ack') S.ackAt = m.id;
    if (!S.replay) {
      if (c.type === 'handoff') checkHours();
      if (c.type === 'offline' && c.contact_form !== false) leaveForm(c.hours);
      else if (c.type === 'queued' && c.contact_form) leaveForm(null);   // in hours, nobody in
      if (c.type === 'add_to_cart') addToCart(c, m.id, node);
      if (c.type === 'resolved') rateForm(m.id);
    } else if (c.type === 'add_to_cart') cartOutcome(node, S.carts[m.id]);
    if (m.sender !== 'shopper' && !S.replay) {
      if (!S.open) { S.unread++; badge.textContent = S.unread; badge.hidden = false; labels(); }
      emit('message', m);
    }
    if (m.sender === 'agent' || m.sender === 'bot') setTyping(null);
    if (S.replay) return;
    if (m.sender === 'shopper') toBottom(); else arrived(node, follow);
  }
  function cssq(s) { return String(s).replace(/["\\]/g, '\\$&'); }
  function rerender() {
    var ids = Object.keys(S.msgs).map(Number).sort(function (a, b) { return a - b; });
    Array.prototype.slice.call(log.children).forEach(function (k) { if (k.dataset.id || k.classList.contains('sa-welcome')) k.remove(); });
    if (!ids.length && !log.firstChild) log.appendChild(el('div', 'sa-note sa-welcome', t('welcome')));
    ids.forEach(function (i) {
      var node = render(S.msgs[i]); place(node, i);
      if ((S.msgs[i].custom || {}).type === 'add_to_cart') cartOutcome(node, S.carts[i]);
    });
    toBottom();
  }
  function setState(state, agent, queue) {
    var was = S.state;
    if (state) S.state = state;
    if (agent !== undefined && agent !== null) S.agent = agent;
    S.queue = state === 'queued' ? (queue || S.queue) : null;
    statusBar();
    if (state !== was) emit('state', {state: state, agent_name: S.agent, queue: S.queue});
  }
  function statusBar() {
    if (!bar) return;
    var txt = '', ok = false;
    if (S.offline) txt = t('offline');
    else if (S.state === 'queued' && S.queueText && S.queueText.locale === S.locale) txt = S.queueText.text;   // the desk's words
    else if (S.state === 'queued' && S.queue) txt = (S.queue.position || 1) <= 1 ? t('queuedShortNext') :
      S.queue.estimated_wait_s == null ? t('queuedShortNobody', {n: S.queue.position}) :
      t('queuedShort', {n: S.queue.position, m: mins(S.queue.estimated_wait_s)});
    else if (S.state === 'assigned' && S.agent) { txt = t('serving', {name: S.agent}); ok = true; }
    bar.textContent = txt; bar.hidden = !txt; bar.classList.toggle('sa-ok', ok);
  }
  function setTyping(who) {
    S.typing = who; clearTimeout(S.typingTm);
    var show = who || S.busy > 0;
    typingEl.hidden = !show;
    typingTxt.textContent = who && who !== 'bot' ? t('agentTyping', {name: S.agent || t('agent')}) : t('typing');
    if (who) S.typingTm = setTimeout(function () { setTyping(null); }, 10000);
    if (show) scroll();
  }

  /* ---------- network ---------- */
  function api(method, path, body, auth, full) {
    var h = {'Accept': 'application/json'};
    if (body) h['Content-Type'] = 'application/json';
    if (auth && S.token) h.Authorization = 'Bearer ' + S.token;
    return fetch(DESK + path, {method: method, headers: h, body: body ? JSON.stringify(body) : undefined, credentials: 'omit'})
      .then(function (r) {
        return r.text().then(function (tx) {
          var j = null; try { j = tx ? JSON.parse(tx) : null; } catch (e) { /* not json */ }
          if (!r.ok) { var err = new Error((j && j.error) || r.statusText); err.status = r.status; throw err; }
          return full ? {body: j, headers: r.headers} : j;
        });
      }, function (e) { e.status = 0; throw e; });
  }
  function page() {
    return {product_id: ds.productId || null, url: location.href, title: document.title};
  }
  var creating = null;
  function ensureConv() {
    if (S.id) return Promise.resolve();
    if (!creating) {
      var body = {locale: S.locale, page: page()};
      if (ds.customerId) { body.customer_id = ds.customerId; body.customer_sig = ds.customerSig || ''; }
      creating = api('POST', '/api/conversations', body).then(function (r) {
        S.id = r.conversation_id; S.token = r.token; S.state = r.state || 'bot'; save(); creating = null; connect();
      }, function (e) { creating = null; throw e; });
    }
    return creating;
  }
  function forget() { S.id = S.token = null; S.lastId = 0; S.carts = {}; S.rated = {}; if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; } save(); }
  function send(text, shown) {
    var cid = uuid();
    var w = el('div', 'sa-msg sa-shopper sa-pending');
    w.dataset.cid = cid;
    w.appendChild(el('span', 'sa-who', t('you')));
    w.appendChild(el('div', 'sa-bub', shown || text));
    var stEl = el('span', 'sa-state', t('sending'));
    w.appendChild(stEl);
    log.appendChild(w); toBottom();
    if (shown) S.titles[text] = shown;
    post({cid: cid, text: text, el: w, st: stEl, tries: 0});
  }
  function post(p) {
    S.busy++; setTyping(S.typing);
    var cart = Array.isArray(window.shopassistCart) ? window.shopassistCart : undefined;
    ensureConv().then(function () {
      return api('POST', '/api/conversations/' + encodeURIComponent(S.id) + '/messages',
        {text: p.text, client_id: p.cid, metadata: {page: page(), cart: cart, locale: S.locale}}, true, true);
    }).then(function (r) {
      // the contract's answer: the list of replies; our stored message's id, the state and
      // the queue place are headers (the shopper socket never echoes our own messages)
      S.busy--; setTyping(S.typing);
      var h = r.headers, mid = Number(h.get('X-Message-Id'));
      if (mid) merge({id: mid, sender: 'shopper', text: p.text, client_id: p.cid, custom: null, buttons: [],
        created_at: new Date().toISOString()});
      else if (p.el.parentNode) p.el.remove();
      (Array.isArray(r.body) ? r.body : []).forEach(merge);
      var st = h.get('X-Conversation-State'), qp = h.get('X-Queue-Position');
      if (st) setState(st, undefined, qp ? {position: Number(qp), estimated_wait_s: Number(h.get('X-Queue-Wait')) || 0} : null);
    }, function (e) {
      S.busy--; setTyping(S.typing);
      if ((e.status === 401 || e.status === 404) && !p.reset) { p.reset = true; forget(); return post(p); }
      if ((e.status === 0 || e.status >= 500 || e.status === 429) && p.tries < 6) {
        p.tries++; S.retrying.push(p);
        p.timer = setTimeout(function () { S.retrying = S.retrying.filter(function (x) { return x !== p; }); post(p); },
          Math.min(16000, 1000 * Math.pow(2, p.tries - 1)));
        return;
      }
      p.el.classList.remove('sa-pending'); p.el.classList.add('sa-failed');
      p.st.textContent = t('failed'); p.st.setAttribute('role', 'button'); p.st.tabIndex = 0;
      var again = function () {
        p.el.classList.add('sa-pending'); p.el.classList.remove('sa-failed'); p.st.textContent = t('sending');
        p.st.removeAttribute('role'); p.st.onclick = p.st.onkeydown = null; p.tries = 0; post(p);
      };
      p.st.onclick = again;
      p.st.onkeydown = function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); again(); } };
    });
  }
  function catchUp() {
    if (!S.id) return Promise.resolve();
    var q = S.lastId ? '?after=' + S.lastId : '';
    var first = !S.lastId;
    return api('GET', '/api/conversations/' + encodeURIComponent(S.id) + '/messages' + q, null, true).then(function (ms) {
      S.replay = first; (ms || []).forEach(merge); S.replay = false;
      return api('GET', '/api/conversations/' + encodeURIComponent(S.id), null, true);
    }).then(function (c) {
      setState(c.state, c.agent ? c.agent.display_name : null, c.queue);
      if (S.offAt > (S.ackAt || 0) && c.state === 'bot') leaveForm();
      if (c.state === 'resolved') {           // resolved while the page was away: still ask
        var ids = Object.keys(S.msgs).map(Number).filter(function (i) { return (S.msgs[i].custom || {}).type === 'resolved'; });
        if (ids.length) rateForm(Math.max.apply(null, ids));
      }
    }).catch(function (e) { S.replay = false; if (e.status === 401 || e.status === 404) forget(); });
  }
  function connect() {
    if (!S.id || S.ws || !window.WebSocket) return;
    var url = DESK.replace(/^http/, 'ws') + '/api/conversations/' + encodeURIComponent(S.id) + '/ws?token=' + encodeURIComponent(S.token);
    var ws = new WebSocket(url);
    S.ws = ws;
    ws.onopen = function () {
      var again = S.wsTries > 0 || S.offline;
      S.wsTries = 0; S.offline = false; statusBar();
      if (again || S.lastId) catchUp();
    };
    ws.onmessage = function (ev) {
      var d; try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (d.type === 'message') merge(d.message);
      else if (d.type === 'typing') setTyping(d.on ? (d.sender || 'bot') : null);
      else if (d.type === 'status') { S.queueText = d.state === 'queued' && d.text ? {text: d.text, locale: S.locale} : null; setState(d.state, d.agent_name, d.queue); }
    };
    ws.onclose = function () {
      if (S.ws !== ws) return;
      S.ws = null;
      if (!S.id) return;
      S.wsTries++;
      if (S.wsTries > 1) { S.offline = true; statusBar(); }
      var delay = Math.min(30000, 500 * Math.pow(2, S.wsTries)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }
  // the browser knows when the network goes and comes back: say so at once, and on return
  // reconnect and resend now instead of waiting out the backoff
  window.addEventListener('offline', function () { S.offline = true; statusBar(); });
  window.addEventListener('online', function () {
    var waiting = S.retrying; S.retrying = [];
    waiting.forEach(function (p) { clearTimeout(p.timer); post(p); });
    if (!S.id) { S.offline = false; statusBar(); return; }
    if (S.ws && S.ws.readyState === 1) { S.offline = false; statusBar(); catchUp(); }
    else if (!S.ws) { S.wsTries = 1; connect(); }
  });
  var lastTyping = false;
  function typingOut(on) {
    if (on === lastTyping || !S.ws || S.ws.readyState !== 1) return;
    lastTyping = on;
    try { S.ws.send(JSON.stringify({type: 'typing', on: on})); } catch (e) { /* closed */ }
  }

  /* ---------- out of hours ---------- */
  function checkHours() {
    if (S.leaveShown) return;
    api('GET', '/api/desk/status?locale=' + S.locale).then(function (s) {
      if (s && s.open === false && !S.leaveShown) leaveForm(s.hours);
    }, function () { /* ignore */ });
  }
  // the contact form: out of hours it names the hours; in hours with nobody online (or no
  // hours known) it says only what happens to the message
  function leaveForm(hours) {
    if (S.leaveShown) return;
    S.leaveShown = true;
    var title = hours ? t('leaveTitle', {hours: hours}) : t('leaveNobody');
    var f = el('form', 'sa-leave', null, {'aria-label': title});
    f.appendChild(el('p', null, title, {style: 'margin:0'}));
    var l1 = el('label', null, t('contact')), c = el('input', null, null, {type: 'text', required: '', autocomplete: 'email', maxlength: '200'});
    var l2 = el('label', null, t('question')), q = el('textarea', null, null, {rows: '3', required: '', maxlength: '2000'});
    l1.appendChild(c); l2.appendChild(q);
    var b = el('button', 'sa-send', t('leaveSend'), {type: 'submit'}), err = el('span', 'sa-state', '', {role: 'alert'});
    [l1, l2, b, err].forEach(function (x) { f.appendChild(x); });
    f.onsubmit = function (e) {
      e.preventDefault();
      if (!c.value.trim() || !q.value.trim()) return;
      b.disabled = true;
      api('POST', '/api/conversations/' + encodeURIComponent(S.id) + '/contact', {contact: c.value.trim(), text: q.value.trim()}, true)
        .then(function (r) {
          f.replaceWith(el('div', 'sa-note', t('leaveDone'))); live.textContent = t('leaveDone'); input.focus();
          if (r && r.message) { merge(r.message); (r.replies || []).forEach(merge); if (r.state) setState(r.state); }
        },
          function () { b.disabled = false; err.textContent = t('leaveErr'); });
    };
    log.appendChild(f); scroll(true);
    if (S.open) c.focus();
  }

  /* ---------- satisfaction, asked after resolve ----------
   * 1–5 (a radio group of five buttons, arrow keys move) and an optional comment, posted
   * once per resolved cycle to POST /api/conversations/{id}/rating; the resolved notice's
   * id marks the cycle, kept with the conversation so a reload does not ask again. */
  var RATE_PATH = '/rating';
  function rateForm(resolvedId) {
    if (S.rated[resolvedId] || log.querySelector('.sa-rate')) return;
    var f = el('form', 'sa-rate', null, {'aria-label': t('rateTitle')}), score = 0;
    f.appendChild(el('p', null, t('rateTitle')));
    var stars = el('div', 'sa-stars', null, {role: 'radiogroup', 'aria-label': t('rateTitle') + ' ' + t('rateScale')});
    var btns = [1, 2, 3, 4, 5].map(function (n) {
      var b = el('button', null, String(n), {type: 'button', role: 'radio', 'aria-checked': 'false',
        'aria-label': t('rateStars', {n: n}), tabindex: n === 1 ? '0' : '-1'});
      b.onclick = function () { pick(n); };
      b.onkeydown = function (e) {
        var d = e.key === 'ArrowRight' || e.key === 'ArrowUp' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowDown' ? -1 : 0;
        if (d) { e.preventDefault(); pick(Math.min(5, Math.max(1, (score || n) + d))); btns[score - 1].focus(); }
      };
      stars.appendChild(b); return b;
    });
    function pick(n) {
      score = n;
      btns.forEach(function (b, i) { b.setAttribute('aria-checked', String(i + 1 === n)); b.tabIndex = i + 1 === n ? 0 : -1; });
      send.disabled = false;
    }
    f.appendChild(stars);
    f.appendChild(el('small', null, t('rateScale')));
    var lab = el('label', null, t('rateComment')), note = el('textarea', null, null, {rows: '2', maxlength: '1000'});
    lab.appendChild(note); f.appendChild(lab);
    var send = el('button', 'sa-send', t('rateSend'), {type: 'submit'}), err = el('span', 'sa-state', '', {role: 'alert'});
    send.disabled = true;
    f.appendChild(send); f.appendChild(err);
    f.onsubmit = function (e) {
      e.preventDefault();
      if (!score) return;
      send.disabled = true; err.textContent = '';
      var body = {score: score};
      if (note.value.trim()) body.comment = note.value.trim();
      api('POST', '/api/conversations/' + encodeURIComponent(S.id) + RATE_PATH, body, true).then(function () {
        S.rated[resolvedId] = score; save();
        var done = el('div', 'sa-note', t('rateThanks'));
        f.replaceWith(done); live.textContent = t('rateThanks');
      }, function (x) {
        if (x.status === 409) { S.rated[resolvedId] = true; save(); f.remove(); return; }
        send.disabled = false; err.textContent = t('rateErr');
      });
    };
    var follow = atBottom();
    log.appendChild(f); arrived(f, follow);
  }

  /* ---------- start ---------- */
  function start() {
    build();
    if (S.id) catchUp().then(function () { connect(); });
    var o = false; try { o = sessionStorage.getItem(KEY + ':open') === '1'; } catch (e) { /* ignore */ }
    if (o) setOpen(true);
  }
  window.ShopAssist = {
    version: '1.0',
    open: function () { setOpen(true); }, close: function () { setOpen(false); },
    send: function (text) { send(String(text)); },
    setLocale: function (l) { if (T[l]) { S.locale = l; save(); labels(); rerender(); } },
    get conversationId() { return S.id; }, get state() { return S.state; }
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
