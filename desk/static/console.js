/* ShopAssist agent console (served at /console). Plain JS, no dependencies.
 * API: docs/desk-api.md ("Agent console API"); this page: docs/console.md.
 * Every piece of conversation data is written with textContent, never innerHTML. */
(function () {
  'use strict';

  var I18N = {
    zh: {
      skip: '跳到对话', loginTitle: '客服登录', username: '用户名', password: '密码', login: '登录',
      loginBad: '用户名或密码不对', loginErr: '登录失败：{e}', console: '客服工作台', logout: '退出',
      lists: '对话列表', mine: '我的对话', queue: '排队中', openById: '按编号打开对话', open: '打开',
      noConv: '请选择左侧的对话', resolve: '结束对话', transcript: '对话记录', shopperTyping: '顾客正在输入…',
      canned: '快捷短语', cannedPick: '选择…', reply: '回复', replyPh: '输入回复，Ctrl+Enter发送', send: '发送',
      side: '上下文与建议', suggestions: '建议回复', context: '顾客信息', reassign: '转派（主管）',
      agentId: '客服编号', reason: '原因', reassignBtn: '转派', online: '在线', away: '离开',
      goOnline: '当前：离开（点击上线）', goAway: '当前：在线（点击离开）',
      connected: '已连接', reconnecting: '连接中断，正在重连…', role_agent: '客服', role_supervisor: '主管',
      st_bot: '机器人', st_queued: '排队', st_assigned: '处理中', st_resolved: '已结束',
      s_shopper: '顾客', s_bot: '机器人', s_agent: '客服', s_system: '系统',
      noMsgs: '暂无消息', noSug: '暂无建议（顾客下一条消息后生成）', kind_answer: '回答', kind_crosssell: '关联推荐',
      useSend: '发送', useEdit: '编辑', useSkip: '跳过', facts: '依据', editing: '正在编辑建议 #{id}', cancelEdit: '取消编辑',
      changed: '这条建议起草后，数据变了：', sendAnyway: '仍然发送', editIt: '编辑', sent: '已发送', skipped: '已跳过',
      page: '商品页', cart: '购物车', language: '语言', intent: '识别意图', entities: '实体', customer: '顾客编号',
      orders: '历史订单', cartValue: '购物车金额', contact: '留言联系方式', none: '无', handoff: '转人工原因', askedPct: '顾客要求优惠{n}%', unread: '{n}条未读',
      newAssign: '新对话分配给您：{who}', newMsg: '新消息：{text}', titleNew: '【新消息】', shopper: '顾客',
      resolved: '对话已结束', reassigned: '已转派', sendErr: '发送失败：{e}', failed: '操作失败：{e}',
      empty: '（空）', lang_zh: '中文', lang_en: '英文', facts_none: '无数据依据', joined: '{name}已加入对话',
      queuedN: '排队第{n}位，预计{m}分钟', resolvedNote: '对话已结束', loading: '加载中…',
      assignedTo: '{who}已分配给{agent}', movedAway: '此对话已转给{agent}，您不能再回复', soundOff: '提示音未开启：点击页面任意处开启',
      metrics: '今日指标（主管）', mxDay: '日期', mxLoad: '刷新', mxConv: '对话', mxStarted: '新对话', mxBotOnly: '机器人独立解决',
      mxHanded: '转人工', mxRate: '机器人解决率', mxReasons: '转人工原因', mxTimes: '时效（中位 / 90%）', mxWait: '排队等待',
      mxFirst: '首次响应', mxResolve: '解决用时', mxAgents: '客服', mxAgent: '客服', mxReceived: '今日接待', mxBand: '负荷',
      mxActive: '当前', mxSent: '发送', band_idle: '空闲', band_healthy: '正常', band_add_people: '需加人',
      mxSug: '建议回复', mxShown: '展示', mxAccepted: '直接发送', mxEdited: '编辑后发送', mxRejected: '跳过',
      mxQa: '问答比（每条顾客消息的回复数）', mxNone: '—', mxErr: '指标加载失败：{e}',
      keysBtn: '快捷键 ?', keysTitle: '键盘快捷键', close: '关闭',
      keysNote: '在输入框里打字时，按住Alt再按字母；Esc关闭弹窗或取消。',
      key_next: '下一个等待回复的对话', key_send: '发送第一条建议回复', key_edit: '编辑第一条建议回复',
      key_skip: '跳过第一条建议回复', key_search: '搜索快捷短语', key_resolve: '结束对话',
      key_reply: '发送输入框里的回复', key_help: '打开或关闭本帮助', key_or: '或',
      cannedSearch: '搜索短语 /', cannedSearchLabel: '搜索快捷短语（标题和内容，中英文）',
      cannedSearchPh: '输入关键词，↑↓选择，回车插入', cannedNone: '没有匹配的快捷短语',
      noWaiting: '没有等待回复的对话', waited: '顾客已等待{t}', answered: '已回复', shopperN: '顾客{id}',
      why_requested: '顾客要求人工', why_complaint: '投诉', why_repeated_fallback: '机器人连续没听懂',
      why_action_failure: '机器人查询出错', why_cart_value: '大额购物车', why_discount: '要求优惠',
      why_rasa_unavailable: '机器人暂时不可用', why_contact: '非工作时间留言',
      awayNoLink: '离开（连接中断，重连后恢复在线）', why_not_away: '不在线', why_not_at_cap: '已满', why_not_daily_cap: '今日已满',
      why_not_language: '语言不符', why_not_owner: '当前负责人', reassignRefused: '不能转给{agent}：{why}',
      raChoose: '选择客服…', raNobody: '现在没有可转派的客服',
      dashFigures: '主要指标', mxOf: '共{n}条顾客消息', mxBought: '{m}位转人工的顾客中{n}位3天内下单', mxBotOf: '{m}个对话中{n}个由机器人独立解决', mxEditedNote: '另有{n}编辑后发送',
      cap_available: '有空位', cap_full: '已满', cap_away: '离开',
      mxRespShort: '平均响应', mxQaShort: '问答比',
      dashOpen: '数据看板', dashClose: '回到对话', dashTitle: '数据看板', dashByHour: '每小时对话数', dashRespByHour: '每小时平均响应时间（秒）',
      dashHour: '时', dashSeconds: '秒', dashDist: '响应时间分布', dashLoad: '客服今日接待量与负荷区间', dashFunnel: '关联推荐转化漏斗',
      csv: '导出CSV', mxRespAvg: '平均响应时间', mxOver30: '超过30秒的占比', mxConversion: '询单转化率', mxAccept: '建议回复采纳率',
      mxSat: '满意度', mxN: '{n}条评价', band_normal: '正常', band_full: '饱和', band_strained: '吃紧', band_hire: '需招人',
      fShown: '展示', fClicked: '点击', fAdded: '加购', fBought: '购买',
      notes: '备注与标签（仅客服可见）', labelAdd: '加标签', labelRemove: '去掉标签“{x}”', noteAdd: '添加备注',
      notePh: '写一条备注，顾客看不到', noNotes: '还没有备注', labelPh: '例如：VIP、退货',
      redraft: '按新数据改好的草稿：', sugFor: '回复“{text}”',
      noSugNow: '没有可用的建议回复', resolveAnyway: '仍然结束', cancel: '取消', useNew: '用新数据发送',
      reviews: '待复核', rvHelp: '选中一条：回车确认机器人的判断，1–9改选意图',
      rvWhy_not_understood: '没听懂', rvWhy_before_handoff: '转人工前', rvWhy_draft_edited: '建议被改', rvWhy_draft_skipped: '建议被跳过',
      rvBot: '机器人：{intent}{conf}', rvOther: '其他意图…', rvDone: '已标为“{intent}”', rvNone: '暂无待复核消息',
      rvFigures: '已复核{reviewed}条，待复核{pending}条', rvSince: '当前模型以来机器人判断正确{share}（{n}条）',
      rvWeek: '{week}：{share}（{n}条）', rvUnknown: '（未识别）', key_review: '跳到待复核列表',
      key_rvConfirm: '（在待复核的一条上）确认机器人的判断', key_rvPick: '（在待复核的一条上）改选第几个意图',
      in_greet: '打招呼', in_goodbye: '再见', in_thank: '感谢', in_affirm: '肯定', in_deny: '否定', in_check_stock: '问库存',
      in_ask_shipping: '问发货', in_ask_price: '问价格', in_ask_discount: '问优惠', in_product_details: '问商品详情',
      in_ask_recommendation: '求推荐', in_order_status: '查订单', in_return_policy: '退换货', in_request_human: '找人工',
      in_complaint: '投诉', in_out_of_scope: '无关话题', in_inform: '补充信息', in_add_to_cart: '加购', in_nlu_fallback: '没听懂'
    },
    en: {
      skip: 'Skip to conversation', loginTitle: 'Agent log-in', username: 'User name', password: 'Password', login: 'Log in',
      loginBad: 'Wrong user name or password', loginErr: 'Log-in failed: {e}', console: 'Agent console', logout: 'Log out',
      lists: 'Conversations', mine: 'My conversations', queue: 'Queue', openById: 'Open conversation by id', open: 'Open',
      noConv: 'Pick a conversation on the left', resolve: 'Resolve', transcript: 'Transcript', shopperTyping: 'The shopper is typing…',
      canned: 'Canned replies', cannedPick: 'Pick…', reply: 'Reply', replyPh: 'Type a reply, Ctrl+Enter sends', send: 'Send',
      side: 'Context and suggestions', suggestions: 'Suggested replies', context: 'Context', reassign: 'Reassign (supervisor)',
      agentId: 'Agent id', reason: 'Reason', reassignBtn: 'Reassign', online: 'Online', away: 'Away',
      goOnline: 'Away (click to go online)', goAway: 'Online (click to go away)',
      connected: 'Connected', reconnecting: 'Connection lost, reconnecting…', role_agent: 'agent', role_supervisor: 'supervisor',
      st_bot: 'bot', st_queued: 'queued', st_assigned: 'assigned', st_resolved: 'resolved',
      s_shopper: 'Shopper', s_bot: 'Bot', s_agent: 'Agent', s_system: 'System',
      noMsgs: 'No messages yet', noSug: "No suggestions (drafted after the shopper's next message)", kind_answer: 'answer',
      kind_crosssell: 'cross-sell', useSend: 'Send', useEdit: 'Edit', useSkip: 'Skip', facts: 'Facts',
      editing: 'Editing suggestion #{id}', cancelEdit: 'Cancel editing',
      changed: 'The facts changed since this was drafted:', sendAnyway: 'Send anyway', editIt: 'Edit', sent: 'Sent', skipped: 'Skipped',
      page: 'Product page', cart: 'Cart', language: 'Language', intent: 'Intent', entities: 'Entities', customer: 'Customer',
      orders: 'Past orders', cartValue: 'Cart value', contact: 'Contact left', none: 'none', handoff: 'Handoff reason', askedPct: 'asked for {n}% off', unread: '{n} unread',
      newAssign: 'New conversation assigned: {who}', newMsg: 'New message: {text}', titleNew: '(New) ', shopper: 'shopper',
      resolved: 'Conversation resolved', reassigned: 'Reassigned', sendErr: 'Not sent: {e}', failed: 'Failed: {e}',
      empty: '(empty)', lang_zh: 'Chinese', lang_en: 'English', facts_none: 'no catalog facts', joined: '{name} joined',
      queuedN: 'queue #{n}, ~{m} min', resolvedNote: 'Conversation resolved', loading: 'Loading…',
      assignedTo: '{who} assigned to {agent}', movedAway: 'This conversation now belongs to {agent}; you can no longer reply',
      soundOff: 'Sound is off: click anywhere on the page to turn it on',
      metrics: "Today's figures (supervisor)", mxDay: 'Day', mxLoad: 'Refresh', mxConv: 'Conversations', mxStarted: 'Started',
      mxBotOnly: 'Bot alone', mxHanded: 'Handed off', mxRate: 'Bot resolution rate', mxReasons: 'Handoff reasons',
      mxTimes: 'Times (median / 90%)', mxWait: 'Queue wait', mxFirst: 'First response', mxResolve: 'Resolution',
      mxAgents: 'Agents', mxAgent: 'Agent', mxReceived: 'Received', mxBand: 'Load', mxActive: 'Now', mxSent: 'Sent',
      band_idle: 'idle', band_healthy: 'healthy', band_add_people: 'add people', mxSug: 'Suggestions', mxShown: 'Shown',
      mxAccepted: 'Sent as drafted', mxEdited: 'Edited', mxRejected: 'Skipped',
      mxQa: 'Q&A ratio (replies per shopper message)', mxNone: '—', mxErr: 'Could not load the figures: {e}',
      keysBtn: 'Keys ?', keysTitle: 'Keyboard shortcuts', close: 'Close',
      keysNote: 'While typing in a field, hold Alt with the letter; Esc closes a popup or cancels.',
      key_next: 'Next chat waiting for an answer', key_send: 'Send the first suggestion', key_edit: 'Edit the first suggestion',
      key_skip: 'Skip the first suggestion', key_search: 'Search canned replies', key_resolve: 'Resolve the conversation',
      key_reply: 'Send the reply in the box', key_help: 'Show or hide this help', key_or: 'or',
      cannedSearch: 'Search /', cannedSearchLabel: 'Search canned replies (title and text, both languages)',
      cannedSearchPh: 'Type to search; ↑↓ to pick, Enter inserts', cannedNone: 'No canned reply matches',
      noWaiting: 'No chat is waiting for an answer', waited: 'Shopper waiting {t}', answered: 'answered', shopperN: 'Shopper {id}',
      why_requested: 'asked for a person', why_complaint: 'complaint', why_repeated_fallback: 'the bot did not understand twice',
      why_action_failure: 'a bot look-up failed', why_cart_value: 'large cart', why_discount: 'discount',
      why_rasa_unavailable: 'the bot was unavailable', why_contact: 'message left out of hours',
      awayNoLink: 'Away (connection lost; online again once reconnected)', why_not_away: 'away', why_not_at_cap: 'full',
      why_not_daily_cap: 'full for today', why_not_language: 'other language', why_not_owner: 'the owner', reassignRefused: "Can't reassign to {agent}: {why}",
      raChoose: 'Choose an agent…', raNobody: 'Nobody can take it now',
      dashFigures: 'Figures', mxOf: 'of {n} shopper messages', mxBought: '{n} of {m} handed-off customers ordered within 3 days',
      mxBotOf: '{n} of {m} conversations by the bot alone', mxEditedNote: '{n} more sent edited', cap_available: 'free', cap_full: 'full', cap_away: 'away',
      mxRespShort: 'Response', mxQaShort: 'Q&A',
      dashOpen: 'Dashboard', dashClose: 'Back to chats', dashTitle: 'Dashboard', dashByHour: 'Conversations by hour',
      dashRespByHour: 'Average response time by hour (s)', dashHour: 'hour', dashSeconds: 'seconds', dashDist: 'Response times',
      dashLoad: "Conversations per agent today, against the load bands", dashFunnel: 'Cross-sell funnel', csv: 'CSV',
      mxRespAvg: 'Response time, average', mxOver30: 'Answered after 30 s', mxConversion: 'Inquiry conversion',
      mxAccept: 'Suggestions accepted', mxSat: 'Satisfaction', mxN: '{n} ratings', band_normal: 'normal', band_full: 'full',
      band_strained: 'strained', band_hire: 'hire', fShown: 'shown', fClicked: 'clicked', fAdded: 'added', fBought: 'bought',
      notes: 'Notes and labels (agents only)', labelAdd: 'Add a label', labelRemove: 'Remove label “{x}”', noteAdd: 'Add note',
      notePh: 'Write a note; the shopper never sees it', noNotes: 'No notes yet', labelPh: 'e.g. VIP, return',
      redraft: 'The draft with the new figures:', sugFor: 'For “{text}”',

      noSugNow: 'No suggestion to use', resolveAnyway: 'Resolve anyway', cancel: 'Cancel', useNew: 'Use the new figure',
      reviews: 'To review', rvHelp: 'On a message: Enter confirms the bot, 1–9 pick another intent',
      rvWhy_not_understood: 'not understood', rvWhy_before_handoff: 'before a handoff', rvWhy_draft_edited: 'draft edited',
      rvWhy_draft_skipped: 'draft skipped', rvBot: 'bot: {intent} {conf}', rvOther: 'Other intent…',
      rvDone: 'Labelled "{intent}"', rvNone: 'Nothing to review', rvFigures: '{reviewed} reviewed, {pending} to review',
      rvSince: 'since the current model the bot was right in {share} ({n} messages)', rvWeek: '{week}: {share} ({n})',
      rvUnknown: '(none)', key_review: 'Go to the review list', key_rvConfirm: '(on a message to review) confirm the bot',
      key_rvPick: '(on a message to review) pick that intent instead',
      in_greet: 'greeting', in_goodbye: 'goodbye', in_thank: 'thanks', in_affirm: 'yes', in_deny: 'no', in_check_stock: 'stock',
      in_ask_shipping: 'shipping', in_ask_price: 'price', in_ask_discount: 'discount', in_product_details: 'product details',
      in_ask_recommendation: 'recommendation', in_order_status: 'order status', in_return_policy: 'returns',
      in_request_human: 'a person', in_complaint: 'complaint', in_out_of_scope: 'off topic', in_inform: 'more details',
      in_add_to_cart: 'add to cart', in_nlu_fallback: 'not understood'
    }
  };
  var COLORS = {black: '黑色', white: '白色', grey: '灰色', navy: '藏青色', blue: '蓝色', red: '红色', green: '绿色',
    orange: '橙色', yellow: '黄色', pink: '粉色', khaki: '卡其色', purple: '紫色'};

  var LANG_KEY = 'shopassist-console-lang';
  var S = {
    lang: localStorage.getItem(LANG_KEY) || (/^zh/i.test(navigator.language || '') ? 'zh' : 'en'),
    csrf: null, me: null, mine: [], queue: [], cur: null, detail: null, msgIds: {}, editing: null,
    conflict: null, ws: null, wsTries: 0, canned: {}, titleTimer: null, baseTitle: document.title, audio: null,
    rows: {}
  };
  var $ = function (id) { return document.getElementById(id); };

  function t(k, v) {
    var s = I18N[S.lang][k]; if (s == null) s = I18N.en[k]; if (s == null) s = k;
    return v ? s.replace(/\{(\w+)\}/g, function (_, n) { return v[n] == null ? '' : v[n]; }) : s;
  }
  function el(tag, cls, text, attrs) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); }
  function fmtTime(iso) {
    var d = new Date(iso); if (isNaN(d)) return '';
    return d.toLocaleTimeString(S.lang === 'zh' ? 'zh-CN' : 'en-GB', {hour: '2-digit', minute: '2-digit'});
  }

  /* ---------- i18n of the static page ---------- */
  function applyLang() {
    document.documentElement.lang = S.lang === 'zh' ? 'zh-CN' : 'en';
    document.title = 'ShopAssist · ' + t('console'); S.baseTitle = document.title;
    document.querySelectorAll('[data-i18n]').forEach(function (n) { n.textContent = t(n.getAttribute('data-i18n')); });
    document.querySelectorAll('[data-i18n-label]').forEach(function (n) { n.setAttribute('aria-label', t(n.getAttribute('data-i18n-label'))); });
    document.querySelectorAll('[data-i18n-ph]').forEach(function (n) { n.placeholder = t(n.getAttribute('data-i18n-ph')); });
    document.querySelectorAll('[data-lang-toggle]').forEach(function (b) {
      b.textContent = S.lang === 'zh' ? 'EN' : '中';
      b.setAttribute('aria-label', S.lang === 'zh' ? 'Switch to English' : '切换到中文');
    });
    if (S.me) { renderMe(); renderLists(); renderDetail(); renderConn(); renderDash(); renderReviews(); }
    if (!$('dash-toggle').hidden) $('dash-toggle').textContent = $('dash').hidden ? t('dashOpen') : t('dashClose');
  }
  function renderConn() {
    if (!S.conn) return;
    $('conn').textContent = t(S.conn); $('conn').className = 'conn ' + (S.conn === 'connected' ? 'ok' : 'bad');
  }
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-lang-toggle]');
    if (!b) return;
    S.lang = S.lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem(LANG_KEY, S.lang);
    applyLang();
  });

  /* ---------- HTTP ---------- */
  function api(method, path, body) {
    var h = {'Accept': 'application/json'};
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (method !== 'GET' && S.csrf) h['X-CSRF-Token'] = S.csrf;
    return fetch(path, {method: method, headers: h, credentials: 'same-origin',
      body: body !== undefined ? JSON.stringify(body) : undefined}).then(function (r) {
      return r.text().then(function (tx) {
        var j = null; try { j = tx ? JSON.parse(tx) : null; } catch (e) { /* not json */ }
        if (!r.ok) { var err = new Error((j && j.error) || r.status + ' ' + r.statusText); err.status = r.status; err.body = j; throw err; }
        return j;
      });
    });
  }

  /* ---------- notices: toast, beep, title flash ---------- */
  // notices stack in their own corner (never over the transcript, the composer or the
  // suggestions); at most TOASTS_SHOWN at once, the oldest goes first
  var TOASTS_SHOWN = 3;
  function toast(text, kind) {
    var box = $('toasts'), n = el('div', 'toast' + (kind ? ' ' + kind : ''), text, {title: text});
    box.appendChild(n);
    while (box.children.length > TOASTS_SHOWN) box.removeChild(box.firstChild);
    setTimeout(function () { n.classList.add('out'); setTimeout(function () { n.remove(); }, 400); }, 5000);
  }
  function unlockAudio() {
    try { if (!S.audio) S.audio = new (window.AudioContext || window.webkitAudioContext)(); if (S.audio.state === 'suspended') S.audio.resume(); } catch (e) { S.audio = null; }
  }
  function beep() {
    var a = S.audio;
    if (!a || a.state === 'suspended') {
      // browsers allow sound only after a click or key press on the page (e.g. after a reload)
      if (!S.soundHinted) { S.soundHinted = true; toast(t('soundOff'), 'bad'); }
      if (!a) return;
    }
    try {
      [0, 0.18].forEach(function (off, i) {
        var o = a.createOscillator(), g = a.createGain(), at = a.currentTime + off;
        o.type = 'sine'; o.frequency.value = i ? 1175 : 880;
        g.gain.setValueAtTime(0.0001, at); g.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, at + 0.15);
        o.connect(g); g.connect(a.destination); o.start(at); o.stop(at + 0.16);
      });
    } catch (e) { /* no audio */ }
  }
  function flashTitle() {
    if (S.titleTimer) return;
    var on = false, n = 0;
    S.titleTimer = setInterval(function () {
      on = !on; n++;
      document.title = on ? t('titleNew') + S.baseTitle : S.baseTitle;
      if (n > 6 && document.hasFocus()) stopFlash();
    }, 900);
  }
  function stopFlash() { clearInterval(S.titleTimer); S.titleTimer = null; document.title = S.baseTitle; }
  window.addEventListener('focus', function () { setTimeout(stopFlash, 3000); });
  function notify(text) { toast(text, 'note'); beep(); flashTitle(); }
  document.addEventListener('pointerdown', unlockAudio);
  document.addEventListener('keydown', unlockAudio);

  /* ---------- log-in ---------- */
  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault(); unlockAudio();
    $('login-error').textContent = '';
    api('POST', '/api/agent/login', {username: $('login-user').value.trim(), password: $('login-pass').value})
      .then(function (r) { $('login-pass').value = ''; started(r); })
      .catch(function (err) { $('login-error').textContent = err.status === 401 ? t('loginBad') : t('loginErr', {e: err.message}); });
  });
  $('logout').addEventListener('click', function () {
    api('POST', '/api/agent/logout', {}).catch(function () {}).then(function () {
      S.csrf = S.me = null; if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
      $('app').hidden = true; $('login').hidden = false; $('login-user').focus();
    });
  });
  function started(r) {
    S.csrf = r.csrf_token; S.me = r.agent;
    $('login').hidden = true; $('app').hidden = false;
    $('reassign-box').hidden = S.me.role !== 'supervisor';
    $('open-form').hidden = S.me.role !== 'supervisor';
    $('dash-toggle').hidden = S.me.role !== 'supervisor';
    renderMe(); refreshLists(); connect(); loadReviews();
    var first = document.querySelector('#mine button, #queue button');
    (first || $('status-toggle')).focus();
  }

  /* ---------- me / status ---------- */
  function renderMe() {
    var m = S.me; if (!m) return;
    $('me').textContent = m.display_name + ' · ' + t('role_' + m.role) + ' · ' + (m.active || 0) + '/' + (m.cap || '-');
    // honest: the desk counts an agent online only while this page's socket is connected
    // (and beating); with the socket down the toggle says away, whatever was chosen
    var b = $('status-toggle'), chosen = m.status === 'online', up = S.conn === 'connected', on = chosen && up;
    b.textContent = on ? t('goAway') : chosen ? t('awayNoLink') : t('goOnline');
    b.setAttribute('aria-pressed', String(on));
    b.classList.toggle('on', on);
    b.classList.toggle('lost', chosen && !up);
  }
  $('status-toggle').addEventListener('click', function () {
    var next = S.me.status === 'online' ? 'away' : 'online';
    api('POST', '/api/agent/status', {status: next}).then(function (a) { S.me = a; renderMe(); refreshLists(); })
      .catch(function (e) { toast(t('failed', {e: e.message}), 'bad'); });
  });

  /* ---------- lists ---------- */
  function refreshLists() {
    return api('GET', '/api/agent/conversations').then(function (r) {
      // a supervisor sees every owned conversation (to reassign when an owner cannot go on)
      S.mine = ((r.assigned && r.assigned.length) ? r.assigned : (r.mine || [])).map(stamp);
      S.queue = (r.queue || []).map(stamp); renderLists();
    }).catch(authFail);
  }
  function authFail(e) {
    if (e && e.status === 401) { S.me = null; $('app').hidden = true; $('login').hidden = false; }
    else if (e) toast(t('failed', {e: e.message}), 'bad');
  }
  function upsert(list, s) {
    for (var i = 0; i < list.length; i++) if (list[i].conversation_id === s.conversation_id) { list[i] = s; return; }
    list.unshift(s);
  }
  function drop(list, id) { return list.filter(function (x) { return x.conversation_id !== id; }); }
  /* The lists, for eight chats at once: each row says who (shopper label, product, place
   * and language), what they asked last, how long they have waited for an answer (a live
   * timer: amber from 20 s, red from 30 s) and how many of their messages are unread.
   * Sorted by that wait, longest first; answered conversations follow, latest first.
   * The waits come from the desk's clock (`waiting_s` when the list was sent); the timer
   * adds the time passed since on this page's monotonic clock. */
  var WAIT_AMBER_S = 20, WAIT_RED_S = 30;
  function stamp(s) { s._at = performance.now(); return s; }
  function waitedNow(s) {
    if (!s || s.waiting_s == null) return null;
    return s.waiting_s + Math.max(0, (performance.now() - (s._at || performance.now())) / 1000);
  }
  function fmtWait(sec) {
    sec = Math.floor(sec);
    var h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), x = sec % 60;
    return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (x < 10 ? '0' : '') + x;
  }
  function byWait(a, b) {
    var wa = waitedNow(a), wb = waitedNow(b);
    if (wa != null || wb != null) return wa == null ? 1 : wb == null ? -1 : wb - wa;
    var ta = a.last_message ? a.last_message.id : 0, tb = b.last_message ? b.last_message.id : 0;
    return tb - ta;
  }
  function sortedMine() { return S.mine.slice().sort(byWait); }
  function renderLists() {
    [['mine', sortedMine()], ['queue', S.queue.slice().sort(byWait)]].forEach(function (p) {
      var ul = $(p[0]); clear(ul);
      $(p[0] + '-count').textContent = '(' + p[1].length + ')';
      if (!p[1].length) ul.appendChild(el('li', 'empty', t('none')));
      p[1].forEach(function (s) { ul.appendChild(convItem(s)); });
    });
    tickTimers();
  }
  function tickTimers() {
    document.querySelectorAll('.convs .timer').forEach(function (n) {
      var s = S.rows[n.dataset.cid], w = waitedNow(s);
      if (w == null) { n.hidden = true; return; }
      n.hidden = false;
      n.textContent = fmtWait(w);
      n.setAttribute('aria-label', t('waited', {t: fmtWait(w)}));
      n.className = 'timer' + (w >= WAIT_RED_S ? ' late' : w >= WAIT_AMBER_S ? ' slow' : '');
    });
  }
  setInterval(tickTimers, 1000);
  function shopperLabel(s) {
    return s.shopper_label || (s.customer_id ? String(s.customer_id) : t('shopperN', {id: s.conversation_id.slice(0, 4)}));
  }
  function productOf(s) { return (s.page && (s.page.title || s.page.product_id)) || ''; }
  function convItem(s) {
    S.rows[s.conversation_id] = s;
    var li = el('li'), b = el('button', 'conv' + (s.conversation_id === S.cur ? ' current' : ''), null, {type: 'button'});
    b.dataset.cid = s.conversation_id;
    if (s.conversation_id === S.cur) b.setAttribute('aria-current', 'true');
    var top = el('span', 'conv-top');
    top.appendChild(el('span', 'conv-name', shopperLabel(s)));
    top.appendChild(el('span', 'timer', null, {'data-cid': s.conversation_id, hidden: ''}));
    if (s.unread) top.appendChild(el('span', 'badge', s.unread, {'aria-label': t('unread', {n: s.unread})}));
    b.appendChild(top);
    var where = [productOf(s), s.city || '', (s.locale || '').toUpperCase()].filter(Boolean).join(' · ');
    var sub = el('span', 'conv-sub');
    sub.appendChild(el('span', 'conv-where', where));
    if (s.state !== 'assigned') sub.appendChild(el('span', 'pill st-' + s.state, t('st_' + s.state)));
    b.appendChild(sub);
    var pv = s.last_shopper_message;
    b.appendChild(el('span', 'conv-last', pv ? msgText(pv) : t('noMsgs')));
    if (s.labels && s.labels.length) {
      var lb = el('span', 'conv-labels');
      s.labels.forEach(function (x) { lb.appendChild(el('span', 'label', x)); });
      b.appendChild(lb);
    }
    // a supervisor sees whose it is, and when that owner is away (closed console, chose away)
    if (s.agent_name && S.me && S.me.role === 'supervisor') {
      var away = s.agent_status === 'away';
      b.appendChild(el('span', 'conv-agent' + (away ? ' away' : ''), s.agent_name + (away ? ' · ' + t('away') : '')));
    }
    b.addEventListener('click', function () { openConv(s.conversation_id); });
    li.appendChild(b);
    return li;
  }
  function msgText(m) {
    var c = m.custom || {};
    if (m.sender === 'system') {
      if (c.type === 'agent_joined') return t('joined', {name: c.agent_name || m.agent_name || ''});
      if (c.type === 'queued') return t('queuedN', {n: c.position, m: Math.max(1, Math.round((c.estimated_wait_s || 60) / 60))});
      if (c.type === 'resolved') return t('resolvedNote');
    }
    return m.text || '';
  }
  $('open-form').addEventListener('submit', function (e) {
    e.preventDefault(); var v = $('open-id').value.trim(); if (v) openConv(v);
  });

  /* ---------- one conversation ---------- */
  function openConv(id) {
    if (S.cur !== id) { S.editing = null; S.conflict = null; S.resolveAsk = null; closeCannedSearch(false); }
    S.cur = id;
    [S.mine, S.queue].forEach(function (l) { l.forEach(function (s) { if (s.conversation_id === id) s.unread = 0; }); });
    renderLists();
    // while the detail is on its way, a message or a draft of this conversation may come
    // over the socket after the desk read the detail: noted (S.missed) and read again, so
    // nothing that arrived meanwhile is lost, nor shown in the conversation still on screen
    var seq = S.openSeq = (S.openSeq || 0) + 1;
    S.loading = true; S.missed = false;
    return api('GET', '/api/agent/conversations/' + encodeURIComponent(id)).then(function (d) {
      if (S.cur !== id || seq !== S.openSeq) return;
      S.loading = false;
      if (S.missed) { S.missed = false; return openConv(id); }
      S.detail = d; S.msgIds = {};
      if (S.me && S.me.role === 'supervisor') loadAgents(id);
      d.pendingIds = (d.pending || []).map(function (p) { return p.message.id; });
      d.messages.forEach(function (m) { S.msgIds[m.id] = true; });
      loadCanned(d.conversation.locale || d.context.locale || 'zh');
      renderDetail();
      var tr = $('transcript'); tr.scrollTop = tr.scrollHeight;
    }).catch(function (e) { if (seq === S.openSeq) S.loading = false; authFail(e); });
  }
  function renderDetail() {
    var d = S.detail, has = !!d;
    renderComposer();
    if (!has) return;
    var c = d.conversation;
    $('conv-title').textContent = [shopperLabel(c), productOf(c), (c.locale || '').toUpperCase()].filter(Boolean).join(' · ');
    $('conv-state').textContent = t('st_' + c.state) + (c.agent_name ? ' · ' + c.agent_name : '');
    $('conv-state').className = 'state pill st-' + c.state;
    var tr = $('transcript'); clear(tr);
    if (!d.messages.length) tr.appendChild(el('p', 'empty', t('noMsgs')));
    d.messages.forEach(function (m) { tr.appendChild(msgNode(m)); });
    renderContext(); renderSuggestions(); renderNotes(); renderEditing(); renderConflict(); renderResolveAsk();
  }
  function canWrite() {          // only the owner of an assigned conversation writes in it
    var c = S.detail && S.detail.conversation;
    return !!(c && S.me && c.state === 'assigned' && c.agent_id === S.me.agent_id);
  }
  function renderComposer() {
    var c = S.detail && S.detail.conversation, sup = S.me && S.me.role === 'supervisor';
    $('reply').disabled = $('send').disabled = !canWrite();
    $('resolve').disabled = !(c && c.state === 'assigned' && (canWrite() || sup));
  }
  function msgNode(m) {
    if (m.sender === 'system') return el('div', 'msg system', msgText(m), {'data-id': m.id});
    var w = el('div', 'msg ' + m.sender, null, {'data-id': m.id});
    var meta = el('div', 'meta');
    meta.appendChild(el('span', 'who', m.sender === 'agent' ? (m.agent_name || t('s_agent')) : t('s_' + m.sender)));
    meta.appendChild(el('time', null, fmtTime(m.created_at), {datetime: m.created_at || ''}));
    w.appendChild(meta);
    w.appendChild(el('div', 'text', m.text || (m.custom ? '' : t('empty'))));
    if (m.custom) { var f = factsNode(m.custom); if (f) w.appendChild(f); }
    if (m.buttons && m.buttons.length) {
      w.appendChild(el('div', 'btns', m.buttons.map(function (b) { return '[' + b.title + ']'; }).join(' ')));
    }
    return w;
  }
  function appendMessage(m) {
    if (!S.detail || S.msgIds[m.id]) return;
    S.msgIds[m.id] = true;
    S.detail.messages.push(m);
    var tr = $('transcript'), near = tr.scrollHeight - tr.scrollTop - tr.clientHeight < 150;
    var empty = tr.querySelector('.empty'); if (empty) empty.remove();
    tr.appendChild(msgNode(m));
    if (near || m.sender === 'agent') tr.scrollTop = tr.scrollHeight;
    var pend = S.detail.pendingIds || (S.detail.pendingIds = []);
    if (m.sender === 'shopper') { pend.push(m.id); $('shopper-typing').hidden = true; markRead(m.id); }
    if (m.sender === 'agent') S.detail.pendingIds = [];
    if (m.sender === 'shopper' || m.sender === 'agent') renderSuggestions();
  }

  // the owner has seen the open conversation up to this message (unread counts follow)
  // (answered with the conversation's fresh summary: after a send, the row's wait and
  // order follow from it)
  function markRead(upto, evenUnfocused) {
    var c = S.detail && S.detail.conversation;
    if (!c || !S.me || c.agent_id !== S.me.agent_id || !(evenUnfocused || document.hasFocus())) return;
    api('POST', '/api/agent/conversations/' + encodeURIComponent(c.conversation_id) + '/read', {upto: upto})
      .then(upsertSummary).catch(function () { /* the next open marks it */ });
  }
  window.addEventListener('focus', function () {
    var ms = S.detail ? S.detail.messages : [];
    if (ms.length) markRead(ms[ms.length - 1].id);
  });

  /* why a conversation left the bot: "discount · asked for 15% off" */
  function handoffText(reason, pct) {
    if (reason === 'discount' && pct != null) return t('askedPct', {n: pct});
    return I18N[S.lang]['why_' + reason] ? t('why_' + reason) : reason;
  }

  /* facts behind a message or a suggestion, one compact line each */
  function colorName(c) { return S.lang === 'zh' ? (COLORS[c] || c) : c; }
  function factLines(c) {
    var L = [], money = function (p) { return '¥' + p; };
    switch (c.type) {
      case 'stock':
        (c.variants || []).slice(0, 8).forEach(function (v) {
          L.push((S.lang === 'zh' ? '库存' : 'stock') + ': ' + [colorName(v.color), v.size].filter(Boolean).join('/') + ' → ' + v.available);
        });
        if ((c.variants || []).length > 8) L.push('+' + (c.variants.length - 8) + '…');
        if (c.product_id) L.unshift((c.name ? c.name + ' ' : '') + c.product_id + (c.price != null ? ' · ' + money(c.price) : ''));
        break;
      case 'price': L.push((S.lang === 'zh' ? '价格' : 'price') + ': ' + (c.name || c.product_id) + ' → ' + money(c.price)); break;
      case 'shipping':
        L.push((S.lang === 'zh' ? '发货' : 'ships') + ': ' + (c.ship_date || '—') + ' · ' + (c.carrier_name || c.carrier || '') + (c.city ? ' → ' + (c.city_name || c.city) : '') + (c.split ? ' · split' : ''));
        if (c.city) L.push(c.city + ': ' + c.delivery_earliest + ' – ' + c.delivery_latest);
        break;
      case 'order_status':
        L.push((S.lang === 'zh' ? '订单' : 'order') + ' ' + c.order_id + ': ' + c.status + (c.carrier ? ' · ' + (c.carrier_name || c.carrier) + ' ' + (c.tracking_no || '') : ''));
        break;
      case 'recommendations':
        (c.items || []).forEach(function (i) { L.push((S.lang === 'zh' ? '推荐' : 'rec') + ': ' + i.product_id + ' ' + i.name + ' ' + money(i.price)); });
        break;
      case 'handoff': L.push(t('handoff') + ': ' + handoffText(c.reason, c.requested_discount_pct)); break;
      case 'agent_joined': case 'queued': case 'resolved': break;
      default:
        Object.keys(c).forEach(function (k) {
          if (k === 'type') return;
          var v = c[k]; L.push(k + ': ' + (typeof v === 'object' ? JSON.stringify(v) : v));
        });
        if (L.length) L.unshift(c.type);
    }
    return L;
  }
  function factsNode(c) {
    var L = factLines(c); if (!L.length) return null;
    var ul = el('ul', 'facts', null, {'aria-label': t('facts')});
    L.forEach(function (x) { ul.appendChild(el('li', null, x)); });
    return ul;
  }

  /* ---------- context ---------- */
  function renderContext() {
    var dl = $('context'); clear(dl);
    var d = S.detail, x = d.context || {}, c = d.conversation;
    function row(k, v) {
      dl.appendChild(el('dt', null, t(k)));
      var dd = el('dd'); if (v instanceof Node) dd.appendChild(v); else dd.textContent = v == null || v === '' ? t('none') : v;
      dl.appendChild(dd);
    }
    var p = x.page || c.page || {};
    var pg = el('span');
    if (p.url && /^https?:/i.test(p.url)) {
      var a = el('a', null, p.title || p.product_id || p.url, {href: p.url, target: '_blank', rel: 'noopener noreferrer'});
      pg.appendChild(a); if (p.product_id) pg.appendChild(document.createTextNode(' (' + p.product_id + ')'));
    } else pg.textContent = [p.title, p.product_id].filter(Boolean).join(' · ');
    row('page', pg.textContent ? pg : '');
    var cart = x.cart || [];
    row('cart', cart.length ? cart.map(function (i) {
      return (i.sku || i.product_id) + ' ×' + (i.quantity || 1) + (i.price != null ? ' ¥' + i.price : '');
    }).join('; ') : '');
    if (x.cart_value) row('cartValue', '¥' + x.cart_value);
    if (x.contact || c.contact) row('contact', x.contact || c.contact);
    var lang = x.locale || c.locale;
    row('language', lang ? t('lang_' + lang) : '');
    var it = x.intent;
    row('intent', it ? (typeof it === 'string' ? it : it.name + (it.confidence != null ? ' (' + Math.round(it.confidence * 100) + '%)' : '')) : '');
    var ents = x.entities || [];
    row('entities', Array.isArray(ents) ? ents.map(function (e) { return typeof e === 'string' ? e : (e.entity + '=' + e.value); }).join(', ')
      : Object.keys(ents).map(function (k) { return k + '=' + ents[k]; }).join(', '));
    if (c.handoff_reason) row('handoff', handoffText(c.handoff_reason, c.requested_discount_pct));
    row('customer', x.customer_id || '');
    var po = x.past_orders || [];
    var ol = el('ul', 'orders');
    po.slice(0, 5).forEach(function (o) {
      ol.appendChild(el('li', null, o.order_id + ' · ' + o.status + (o.created_at ? ' · ' + String(o.created_at).slice(0, 10) : '') +
        (o.total != null ? ' · ¥' + o.total : '')));
    });
    row('orders', po.length ? ol : '');
  }

  /* ---------- private notes and labels (agents only; never shown to the shopper) ---------- */
  function renderNotes() {
    var d = S.detail, box = $('notes'), lb = $('labels'); clear(box); clear(lb);
    $('notes-box').hidden = !d;
    if (!d) return;
    var labels = d.conversation.labels || [];
    labels.forEach(function (x) {
      var chip = el('span', 'label');
      chip.appendChild(document.createTextNode(x));
      var rm = el('button', 'link', '×', {type: 'button', 'aria-label': t('labelRemove', {x: x}), title: t('labelRemove', {x: x})});
      rm.addEventListener('click', function () { setLabels(labels.filter(function (y) { return y !== x; })); });
      chip.appendChild(rm); lb.appendChild(chip);
    });
    (d.notes || []).forEach(function (n) {
      var li = el('li', 'note-item');
      var meta = el('span', 'meta', (n.agent_name || '') + ' · ' + fmtTime(n.created_at));
      li.appendChild(meta); li.appendChild(el('span', 'note-text', n.text)); box.appendChild(li);
    });
    if (!(d.notes || []).length) box.appendChild(el('li', 'empty', t('noNotes')));
  }
  function setLabels(list) {
    var id = S.cur;
    api('POST', '/api/agent/conversations/' + encodeURIComponent(id) + '/labels', {labels: list}).then(function (sm) {
      upsertSummary(sm);
    }).catch(function (e) { toast(t('failed', {e: e.message}), 'bad'); });
  }
  $('label-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var v = $('label-in').value.trim(), d = S.detail;
    if (!v || !d) return;
    var list = (d.conversation.labels || []).concat([v]);
    $('label-in').value = ''; setLabels(list);
  });
  $('note-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var v = $('note-in').value.trim(), id = S.cur;
    if (!v || !id) return;
    api('POST', '/api/agent/conversations/' + encodeURIComponent(id) + '/notes', {text: v}).then(function (n) {
      $('note-in').value = ''; addNote(n);
    }).catch(function (err) { toast(t('failed', {e: err.message}), 'bad'); });
  });
  function addNote(n) {
    var d = S.detail;
    if (!d || d.conversation.conversation_id !== n.conversation_id) return;
    var l = d.notes || (d.notes = []);
    if (l.some(function (x) { return x.id === n.id; })) return;
    l.push(n); renderNotes();
  }

  /* ---------- suggestions ---------- */
  function renderSuggestions() {
    var box = $('suggestions'); clear(box);
    if (!S.detail) return;
    // drafts for every shopper message still waiting for an answer (the desk's `pending`,
    // kept live: a shopper message joins it, an agent message empties it), oldest first
    var pend = S.detail.pendingIds || [];
    var list = (S.detail.suggestions || []).filter(function (s) { return pend.indexOf(s.message_id) >= 0 && !s.outcome; })
      .sort(function (a, b) { return a.message_id - b.message_id || a.id - b.id; });
    if (!list.length) { box.appendChild(el('p', 'empty', t('noSug'))); return; }
    // Rasa sends a text and its facts as two replies: a facts-only suggestion joins the text before it
    var groups = [];
    list.forEach(function (s) {
      var prev = groups[groups.length - 1];
      if (!(s.text || '').trim() && s.custom && prev && prev.s.kind === s.kind && prev.s.message_id === s.message_id) prev.more.push(s);
      else groups.push({s: s, more: []});
    });
    var byId = {}; S.detail.messages.forEach(function (m) { byId[m.id] = m; });
    var shownFor = null;
    groups.forEach(function (g) {
      var s = g.s, all = [s].concat(g.more);
      if (pend.length > 1 && s.message_id !== shownFor) {      // which question these answer
        shownFor = s.message_id;
        box.appendChild(el('p', 'sug-for', t('sugFor', {text: ((byId[s.message_id] || {}).text || '').slice(0, 60)})));
      }
      var card = el('article', 'sug', null, {'data-sid': s.id, 'aria-label': t('kind_' + s.kind) + ' #' + s.id});
      card.appendChild(el('span', 'pill kind-' + s.kind, t('kind_' + s.kind)));
      if ((s.text || '').trim()) card.appendChild(el('p', 'sug-text', s.text));
      var lines = [];
      all.forEach(function (x) { if (x.custom) lines = lines.concat(factLines(x.custom)); });
      if (lines.length) {
        var f = el('ul', 'facts', null, {'aria-label': t('facts')});
        lines.forEach(function (x) { f.appendChild(el('li', null, x)); });
        card.appendChild(el('div', 'facts-head', t('facts'))); card.appendChild(f);
      } else card.appendChild(el('p', 'muted', t('facts_none')));
      var row = el('div', 'sug-actions');
      var first = !box.querySelector('.sug');
      var send = el('button', 'primary', t('useSend'), {type: 'button', 'data-act': 'send'}),
        edit = el('button', null, t('useEdit'), {type: 'button', 'data-act': 'edit'}),
        skip = el('button', null, t('useSkip'), {type: 'button', 'data-act': 'skip'});
      if (first) { send.setAttribute('aria-keyshortcuts', 'S Alt+S'); edit.setAttribute('aria-keyshortcuts', 'E Alt+E');
        skip.setAttribute('aria-keyshortcuts', 'X Alt+X'); }
      send.addEventListener('click', function () { sendReply(s.text, s.id, false); });
      edit.addEventListener('click', function () { startEdit(s); });
      skip.addEventListener('click', function () {
        Promise.all(all.map(function (x) {
          return api('POST', '/api/agent/suggestions/' + x.id + '/skip', {}).then(function (r) {
            updateSuggestion(r.suggestion || Object.assign(x, {outcome: 'rejected'}));
          });
        })).then(function () { toast(t('skipped')); }, function (e) { toast(t('failed', {e: e.message}), 'bad'); });
      });
      if ((s.text || '').trim()) { row.appendChild(send); row.appendChild(edit); }
      row.appendChild(skip);
      card.appendChild(row);
      box.appendChild(card);
    });
  }
  function updateSuggestion(s) {
    if (!S.detail || !s) return;
    var l = S.detail.suggestions || (S.detail.suggestions = []);
    for (var i = 0; i < l.length; i++) if (l[i].id === s.id) { l[i] = s; renderSuggestions(); return; }
    l.push(s); renderSuggestions();
  }
  function startEdit(s) {
    S.editing = s.id; S.conflict = null;
    $('reply').value = s.text; renderEditing(); renderConflict();
    $('reply').focus(); $('reply').setSelectionRange(s.text.length, s.text.length);
  }
  function renderEditing() {
    var e = $('editing'); clear(e);
    e.hidden = !S.editing;
    if (!S.editing) return;
    e.appendChild(el('span', null, t('editing', {id: S.editing})));
    var x = el('button', 'link', '×', {type: 'button', 'aria-label': t('cancelEdit'), title: t('cancelEdit')});
    x.addEventListener('click', function () { S.editing = null; renderEditing(); });
    e.appendChild(x);
  }

  /* ---------- sending ---------- */
  /* send a reply (a suggestion's when `sid`); `choice` answers the desk's warning that the
   * draft's facts changed: "send_anyway" (confirm) or "use_new" (the redrafted text) */
  function sendReply(text, sid, choice) {
    if (!S.cur || !text.trim()) return Promise.resolve();
    var id = S.cur, body = {text: text, lang: S.lang};
    if (sid) body.suggestion_id = sid;
    if (choice === 'send_anyway') body.confirm = true;
    if (choice === 'use_new') body.use_new = true;
    $('send').disabled = true; typing(false);
    return api('POST', '/api/agent/conversations/' + encodeURIComponent(id) + '/messages', body).then(function (r) {
      renderComposer();
      S.conflict = null; renderConflict();
      if (S.editing === sid || !sid) { if ($('reply').value === text || S.editing === sid) $('reply').value = ''; }
      if (S.editing === sid) { S.editing = null; renderEditing(); }
      if (S.cur === id) { appendMessage(r.message); if (r.suggestion) updateSuggestion(r.suggestion); markRead(r.message.id, true); }
      toast(t('sent'));
    }).catch(function (e) {
      renderComposer();
      if (e.status === 409 && e.body && e.body.changes) { S.conflict = {text: text, sid: sid, body: e.body}; renderConflict(); return; }
      toast(t('sendErr', {e: e.message}), 'bad');
    });
  }
  // the desk's words for each change ("黑色42码库存现在是0（起草时是3）"), the draft with
  // the new figures when it could redo it, and its choices
  function renderConflict() {
    var w = $('warn'); clear(w);
    var c = S.conflict; w.hidden = !c;
    if (!c) return;
    var b = c.body;
    w.appendChild(el('strong', null, t('changed')));
    var ul = el('ul');
    b.changes.forEach(function (ch) { ul.appendChild(el('li', 'change', ch.text || (ch.field + ': ' + fmtVal(ch.old) + ' → ' + fmtVal(ch.new)))); });
    w.appendChild(ul);
    if (b.redrafted && b.redrafted.text) {
      var nd = el('p', 'redraft'); nd.appendChild(el('span', 'muted', t('redraft') + ' '));
      nd.appendChild(el('span', null, b.redrafted.text)); w.appendChild(nd);
    }
    var row = el('div', 'sug-actions'), focus = null;
    (b.choices || [{action: 'send_anyway', label: t('sendAnyway')}, {action: 'cancel', label: t('cancel')}]).forEach(function (ch) {
      var btn = el('button', ch.action === 'send_anyway' ? 'danger' : ch.action === 'use_new' ? 'primary' : null, ch.label,
        {type: 'button', 'data-choice': ch.action});
      btn.addEventListener('click', function () {
        if (ch.action === 'cancel') { S.conflict = null; renderConflict(); return; }
        sendReply(c.text, c.sid, ch.action);
      });
      row.appendChild(btn);
      if (ch.action === 'use_new' || (ch.action === 'cancel' && !focus)) focus = btn;
    });
    w.appendChild(row);
    if (focus) focus.focus();
  }
  function fmtVal(v) { return v == null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v); }
  $('composer').addEventListener('submit', function (e) {
    e.preventDefault(); sendReply($('reply').value, S.editing, false);
  });
  var typingOn = false, typingTm = null;
  function typing(on) {
    if (on === typingOn || !S.cur || !S.ws || S.ws.readyState !== 1) return;
    typingOn = on;
    try { S.ws.send(JSON.stringify({type: 'typing', conversation_id: S.cur, on: on})); } catch (e) { /* closed */ }
  }
  $('reply').addEventListener('input', function () {
    typing(true); clearTimeout(typingTm); typingTm = setTimeout(function () { typing(false); }, 3000);
  });
  $('reply').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sendReply($('reply').value, S.editing, false); }
  });
  /* resolve; the desk answers 409 when the shopper's last message has no answer yet: the
   * agent is told so, in words, and resolves anyway or goes back to answer */
  function resolve(confirm) {
    if (!S.cur) return;
    var id = S.cur;
    api('POST', '/api/agent/conversations/' + encodeURIComponent(id) + '/resolve', {confirm: !!confirm, lang: S.lang}).then(function (s) {
      S.resolveAsk = null; renderResolveAsk();
      upsertSummary(s); toast(t('resolved')); if (S.detail && S.cur === id) { S.detail.conversation = s; renderDetail(); }
    }).catch(function (e) {
      if (e.status === 409 && S.cur === id) { S.resolveAsk = {error: e.message, body: e.body || {}}; renderResolveAsk(); return; }
      toast(t('failed', {e: e.message}), 'bad');
    });
  }
  function renderResolveAsk() {
    var w = $('resolve-warn'); clear(w);
    var a = S.resolveAsk; w.hidden = !a;
    if (!a) return;
    w.appendChild(el('strong', null, a.body.text || a.error));
    var row = el('div', 'sug-actions');
    var go = el('button', 'danger', t('resolveAnyway'), {type: 'button'}), back = el('button', null, t('cancel'), {type: 'button'});
    go.addEventListener('click', function () { resolve(true); });
    back.addEventListener('click', function () { S.resolveAsk = null; renderResolveAsk(); $('reply').focus(); });
    row.appendChild(go); row.appendChild(back); w.appendChild(row);
    back.focus();
  }
  $('resolve').addEventListener('click', function () { resolve(false); });
  $('reassign').addEventListener('submit', function (e) {
    e.preventDefault(); if (!S.cur) return;
    api('POST', '/api/agent/conversations/' + encodeURIComponent(S.cur) + '/reassign',
      {agent_id: parseInt($('ra-agent').value, 10), reason: $('ra-reason').value.trim()}).then(function (s) {
      upsertSummary(s); toast(t('reassigned')); $('ra-reason').value = ''; openConv(S.cur);
    }).catch(function (err) {
      // the desk's refusal (409: away, at_cap, daily_cap, language, owner) in the console's words
      var why = err.status === 409 && err.body && err.body.reason && I18N[S.lang]['why_not_' + err.body.reason];
      var who = (err.body && err.body.agent && err.body.agent.display_name) || $('ra-agent').selectedOptions[0].textContent.split(' (')[0];
      toast(why ? t('reassignRefused', {agent: who, why: why}) : t('failed', {e: err.message}), 'bad');
      loadAgents(S.cur);
    });
  });

  /* ---------- the supervisor's dashboard: GET /api/agent/metrics, drawn by charts.js ----------
   * Headline figures, conversations and response time by hour, the response-time
   * distribution with the 20 s and 30 s marks, conversations per agent against the load
   * bands (with active/cap now: 8 of 8 is full), the cross-sell funnel; each with its CSV
   * (GET /api/agent/metrics/{table}.csv). Definitions: docs/desk.md "Metrics". */
  function secs(s) {
    if (s == null) return t('mxNone');
    return s < 60 ? Math.round(s) + ' s' : s < 3600 ? (s / 60).toFixed(1) + ' min' : (s / 3600).toFixed(1) + ' h';
  }
  function pct(r) { return r == null ? t('mxNone') : Math.round(r * 1000) / 10 + '%'; }
  function two(x) { return x == null ? t('mxNone') : Number(x).toFixed(2); }
  function openDash(on) {
    $('dash').hidden = !on; document.querySelector('main.cols').hidden = on;
    $('dash-toggle').setAttribute('aria-pressed', String(on));
    $('dash-toggle').textContent = on ? t('dashClose') : t('dashOpen');
    if (on) loadDash();
  }
  $('dash-toggle').addEventListener('click', function () { openDash($('dash').hidden); });
  $('dash-form').addEventListener('submit', function (e) { e.preventDefault(); loadDash(); });
  function dayQuery() { var d = $('dash-day').value; return d ? '?day=' + encodeURIComponent(d) : ''; }
  function loadDash() {
    return api('GET', '/api/agent/metrics' + dayQuery()).then(function (m) {
      S.dash = m; if (!$('dash-day').value && m.day) $('dash-day').value = m.day; renderDash();
    }).catch(function (e) { toast(t('mxErr', {e: e.message}), 'bad'); });
  }
  function csvHref(table) { return '/api/agent/metrics/' + table + '.csv' + dayQuery(); }
  function csvLink(table, title) {
    return el('a', 'csv', t('csv'), {href: csvHref(table), download: '', 'aria-label': t('csv') + ': ' + title});
  }
  function renderDash() {
    var box = $('dash-body'), m = S.dash, C = window.ShopAssistCharts; clear(box);
    if (!m || !C) return;
    var d = dashModel(m);
    var figs = el('section', 'figures-box'), fh = el('div', 'chart-head');
    fh.appendChild(el('h3', null, t('dashFigures'))); fh.appendChild(csvLink('summary', t('dashFigures')));
    figs.appendChild(fh);
    var heads = el('dl', 'figures');
    d.headline.forEach(function (h) {
      var f = el('div', 'figure', null, {'data-figure': h.key});
      f.appendChild(el('dt', null, h.label)); f.appendChild(el('dd', 'value', h.value));
      if (h.note) f.appendChild(el('dd', 'note', h.note));
      heads.appendChild(f);
    });
    figs.appendChild(heads); box.appendChild(figs);
    var grid = el('div', 'charts');
    function panel(key, title, chart, table, extra) {
      var sec = el('section', 'chart-box', null, {'data-chart': key}), head = el('div', 'chart-head');
      head.appendChild(el('h3', null, title)); head.appendChild(csvLink(table, title));
      sec.appendChild(head); sec.appendChild(chart); if (extra) sec.appendChild(extra); grid.appendChild(sec);
    }
    var marks = [{value: 20, label: '20 s', color: '#b54708'}, {value: 30, label: '30 s', color: '#b42318'}];
    panel('hours', t('dashByHour'), C.bars(d.hours.map(function (h) { return {label: String(h.hour), value: h.conversations}; }),
      {title: t('dashByHour'), xTitle: t('dashHour')}), 'hours');
    panel('response-hours', t('dashRespByHour'), C.bars(d.hours.map(function (h) { return {label: String(h.hour), value: h.response_s}; }),
      {title: t('dashRespByHour'), unit: ' s', color: '#6941c6', marks: marks, xTitle: t('dashHour')}), 'hours');
    panel('distribution', t('dashDist'), C.histogram(d.buckets, {title: t('dashDist'), unit: ' s', marks: marks, xTitle: t('dashSeconds')}),
      'response_distribution');
    panel('load', t('dashLoad'), C.bands(d.agents, d.bands, {title: t('dashLoad')}), 'agents', agentsTable(m.agents || []));
    panel('funnel', t('dashFunnel'), C.funnel(d.funnel, {title: t('dashFunnel')}), 'summary');
    box.appendChild(grid);
  }
  function agentsTable(agents) {
    var tb = el('table', 'agents'), hr = el('tr');
    ['mxAgent', 'mxReceived', 'mxBand', 'mxActive', 'mxRespShort', 'mxQaShort', 'mxSat'].forEach(function (k) {
      hr.appendChild(el('th', null, t(k), {scope: 'col'}));
    });
    tb.appendChild(hr);
    agents.forEach(function (a) {
      var tr = el('tr');
      tr.appendChild(el('th', null, a.display_name, {scope: 'row'}));
      tr.appendChild(el('td', null, a.received));
      tr.appendChild(el('td', 'band-' + a.load_band, t('band_' + a.load_band)));
      tr.appendChild(el('td', 'cap-' + a.capacity_now, a.active_now + '/' + a.cap + ' · ' + t('cap_' + a.capacity_now)));
      tr.appendChild(el('td', null, secs((a.response || {}).avg_s)));
      tr.appendChild(el('td', null, two(a.qa_ratio)));
      tr.appendChild(el('td', null, (a.satisfaction || {}).average != null ? two(a.satisfaction.average) : t('mxNone')));
      tb.appendChild(tr);
    });
    return tb;
  }
  /* the metrics document, turned into what the dashboard shows (one place for its shape) */
  function dashModel(m) {
    var c = m.conversations || {}, g = m.suggestions || {}, msg = m.messages || {}, rt = m.response || {},
      fr = m.first_response || {}, cv = m.conversion || {}, sat = m.satisfaction || {}, x = m.crosssell || {};
    var p90 = function (v) { return v != null ? 'p90 ' + secs(v) : ''; };
    return {
      headline: [
        {key: 'response', label: t('mxRespAvg'), value: secs(rt.avg_s), note: p90(rt.p90_s)},
        {key: 'over30', label: t('mxOver30'), value: pct(rt.over_30s_share), note: rt.count != null ? t('mxOf', {n: rt.count}) : ''},
        {key: 'first', label: t('mxFirst'), value: secs(fr.avg_s), note: p90(fr.p90_s)},
        {key: 'conversion', label: t('mxConversion'), value: pct(cv.rate),
          note: cv.customers != null ? t('mxBought', {n: cv.ordered, m: cv.customers}) : ''},
        {key: 'qa', label: t('mxQa'), value: two(msg.qa_ratio)},
        {key: 'bot', label: t('mxRate'), value: pct(c.bot_resolution_rate),
          note: c.started != null ? t('mxBotOf', {n: c.bot_only, m: c.started}) : ''},
        {key: 'accepted', label: t('mxAccept'), value: pct(g.accepted_rate),
          note: g.shown ? t('mxEditedNote', {n: pct(g.edited_rate)}) : ''},
        {key: 'satisfaction', label: t('mxSat'), value: sat.average != null ? two(sat.average) + ' / 5' : t('mxNone'),
          note: t('mxN', {n: sat.count || 0})}
      ],
      hours: (m.hours || []).map(function (h) { return {hour: h.hour, conversations: h.conversations, response_s: (h.response || {}).avg_s}; }),
      buckets: ((m.response_distribution || {}).buckets || []).map(function (b) {
        return {from: b.from_s, to: b.to_s, label: b.to_s == null ? b.from_s + '+' : b.from_s + '–' + b.to_s, count: b.count};
      }),
      agents: (m.agents || []).map(function (a) {
        return {label: a.display_name, value: a.per_day != null ? a.per_day : a.received, band: t('band_' + a.load_band)};
      }),
      bands: (m.load_bands || []).map(function (b, i) {
        return {from: b.from_per_day, to: b.below_per_day, label: t('band_' + b.band),
          color: ['#f2f4f7', '#d1fadf', '#fef0c7', '#fee4e2', '#fecdca'][i] || '#f2f4f7'};
      }),
      funnel: [{label: t('fShown'), value: x.shown || 0}, {label: t('fClicked'), value: x.clicked || 0},
        {label: t('fAdded'), value: x.added_to_cart || 0}, {label: t('fBought'), value: x.bought || 0}]
    };
  }

  // the agents a supervisor may give the open conversation to: the desk says who can take
  // it (online, a free place, the shopper's language) and why not; the others are disabled
  // (asked again on presence changes: only the newest answer counts, and the agent the
  // supervisor picked stays picked while they can still take it)
  function loadAgents(cid) {
    var seq = S.agentsSeq = (S.agentsSeq || 0) + 1;
    api('GET', '/api/agent/agents' + (cid ? '?conversation_id=' + encodeURIComponent(cid) : '')).then(function (list) {
      if ((cid && cid !== S.cur) || seq !== S.agentsSeq) return;
      var sel = $('ra-agent'), picked = sel.value; clear(sel);
      // first a placeholder: the choice is the supervisor's, and when nobody can take it
      // the form says so (and cannot be sent) instead of showing an empty list
      var can = (list || []).some(function (a) { return a && a.can_take !== false; });
      var none = el('option', null, can ? t('raChoose') : t('raNobody'));
      none.value = ''; none.disabled = true; none.selected = true; sel.appendChild(none);
      $('reassign').querySelector('button[type=submit]').disabled = !can;
      (list || []).forEach(function (a) {
        if (!a) return;
        var o = el('option', null, a.display_name + ' (' + (a.languages || []).join('/') + ', ' +
          (a.status === 'online' ? t('online') : t('away')) + ', ' + a.active + '/' + a.cap +
          (a.can_take === false ? ' · ' + t('why_not_' + a.why_not) : '') + ')');
        o.value = String(a.agent_id); o.disabled = a.can_take === false; sel.appendChild(o);
        if (o.value === picked && !o.disabled) o.selected = true;
      });
    }).catch(function () {});
  }

  /* ---------- canned replies ---------- */
  function loadCanned(locale) {
    var sel = $('canned');
    var fill = function (list) {
      while (sel.options.length > 1) sel.remove(1);
      list.forEach(function (c) { var o = el('option', null, c.title); o.value = String(c.id); sel.appendChild(o); });
    };
    if (S.canned[locale]) return fill(S.canned[locale]);
    api('GET', '/api/agent/canned?locale=' + encodeURIComponent(locale)).then(function (l) { S.canned[locale] = l || []; fill(S.canned[locale]); })
      .catch(function () {});
  }
  function fillVars(text) {
    var d = S.detail || {}, x = d.context || {}, p = x.page || {}, ents = x.entities || [];
    var order = (x.past_orders && x.past_orders[0] && x.past_orders[0].order_id) || '';
    (Array.isArray(ents) ? ents : []).forEach(function (e) { if (e.entity === 'order_id') order = e.value; });
    var vars = {shopper_product: p.title || p.name || p.product_id || '', agent_name: S.me ? S.me.display_name : '', order_id: order};
    // a variable with no value stays as {{name}} for the agent to fill in, never silently blank
    return text.replace(/\{\{\s*(\w+)\s*\}\}/g, function (m, k) { return vars[k] ? vars[k] : m; });
  }
  $('canned').addEventListener('change', function () {
    var sel = this, d = S.detail; if (!sel.value || !d) return;
    var loc = d.conversation.locale || 'zh';
    var c = (S.canned[loc] || []).filter(function (x) { return String(x.id) === sel.value; })[0];
    sel.value = '';
    if (!c) return;
    var r = $('reply'), txt = fillVars(c.text), at = r.selectionStart || r.value.length;
    r.value = r.value.slice(0, at) + txt + r.value.slice(r.selectionEnd || at);
    r.focus(); r.setSelectionRange(at + txt.length, at + txt.length);
  });

  /* ---------- live events ---------- */
  function upsertSummary(s) {
    var id = s.conversation_id; stamp(s);
    if (s.state === 'queued') { upsert(S.queue, s); S.mine = drop(S.mine, id); }
    else {
      S.queue = drop(S.queue, id);
      var mine = S.me && s.agent_id === S.me.agent_id;
      var shown = S.mine.some(function (x) { return x.conversation_id === id; });
      if (mine || (S.me && S.me.role === 'supervisor' && (shown || s.state === 'assigned'))) upsert(S.mine, s);
      else S.mine = drop(S.mine, id);
    }
    if (id === S.cur) s.unread = 0;
    if (S.detail && S.detail.conversation.conversation_id === s.conversation_id) {
      var was = S.detail.conversation;
      S.detail.conversation = s; renderNotes(); $('conv-state').textContent = t('st_' + s.state) + (s.agent_name ? ' · ' + s.agent_name : '');
      $('conv-state').className = 'state pill st-' + s.state;
      renderComposer();
      if (S.me && was.agent_id === S.me.agent_id && s.agent_id !== S.me.agent_id && s.state === 'assigned')
        toast(t('movedAway', {agent: s.agent_name || ''}), 'bad');
    }
    renderLists();
  }
  // an agent came online or went away: the rows they own say so, and the open
  // conversation's reassign choices are asked again (who can take it has changed)
  function presenceOf(agent) {
    var status = agent.status === 'online' ? 'online' : 'away';
    S.mine.concat(S.queue).forEach(function (s) { if (s.agent_id === agent.agent_id) s.agent_status = status; });
    if (S.detail && S.detail.conversation.agent_id === agent.agent_id) S.detail.conversation.agent_status = status;
    renderLists();
    if (S.cur && S.me && S.me.role === 'supervisor') loadAgents(S.cur);
  }
  var ctxTimer = null, meTimer = null;
  function refreshContext(id) {      // the intent and entities of the newest message
    clearTimeout(ctxTimer);
    ctxTimer = setTimeout(function () {
      api('GET', '/api/agent/conversations/' + encodeURIComponent(id)).then(function (d) {
        if (S.cur === id && S.detail) { S.detail.context = d.context; renderContext(); }
      }).catch(function () {});
    }, 300);
  }
  function refreshMe() {             // load figures (active/cap) after assignments
    clearTimeout(meTimer);
    meTimer = setTimeout(function () {
      api('GET', '/api/agent/me').then(function (r) { S.me = r.agent; S.csrf = r.csrf_token; renderMe(); }).catch(function () {});
    }, 300);
  }
  function onEvent(ev) {
    if (ev.type === 'review') { addReview(ev.review); return; }
    if (ev.type === 'assigned' || ev.type === 'conversation') refreshMe();
    switch (ev.type) {
      case 'assigned':
        upsertSummary(ev.conversation);
        var c = ev.conversation, who = (c.page && (c.page.title || c.page.product_id)) || t('shopper');
        if (S.me && c.agent_id === S.me.agent_id) {
          notify(t('newAssign', {who: who}));
          if (!S.cur) openConv(c.conversation_id);
        } else toast(t('assignedTo', {who: who, agent: c.agent_name || ''}));   // a supervisor's overview
        break;
      case 'message':
        var m = ev.message;
        if (ev.conversation) upsertSummary(ev.conversation);
        if (ev.conversation_id === S.cur) { if (S.loading) S.missed = true; else appendMessage(m); }
        var s = S.mine.concat(S.queue).filter(function (x) { return x.conversation_id === ev.conversation_id; })[0];
        if (s && !ev.conversation) {     // no fresh summary with the event: keep the row true
          s.last_message = m;
          if (m.sender === 'shopper') {
            s.last_shopper_message = m;
            if (s.waiting_s == null) { s.waiting_s = 0; stamp(s); }
            if (ev.conversation_id !== S.cur) s.unread = (s.unread || 0) + 1;
          } else if (m.sender === 'agent') s.waiting_s = null;
          renderLists();
        }
        if (m.sender === 'shopper' && (ev.conversation_id !== S.cur || !document.hasFocus() || document.hidden)) notify(t('newMsg', {text: (m.text || '').slice(0, 40)}));
        else if (m.sender === 'shopper') { beep(); flashTitle(); }
        break;
      case 'suggestions':
        if (ev.conversation_id === S.cur && S.loading) S.missed = true;
        else if (ev.conversation_id === S.cur && S.detail) {
          var l = S.detail.suggestions || (S.detail.suggestions = []);
          (ev.suggestions || []).forEach(function (x) {
            var i = l.findIndex(function (y) { return y.id === x.id; }); if (i >= 0) l[i] = x; else l.push(x);
          });
          renderSuggestions();
          refreshContext(ev.conversation_id);
        }
        break;
      case 'note':
        addNote(ev.note); break;
      case 'heartbeat':             // the desk's view of this agent: away after a gap
        if (S.me && ev.status && ev.status !== S.me.status) { S.me.status = ev.status; renderMe(); }
        break;
      case 'presence':
        if (ev.agent && S.me && ev.agent.agent_id === S.me.agent_id) { S.me = ev.agent; renderMe(); }
        if (ev.agent) presenceOf(ev.agent);
        break;
      case 'queue':
        S.queue = (ev.queue || []).map(stamp); renderLists(); break;
      case 'typing':
        if (ev.conversation_id === S.cur) {
          $('shopper-typing').hidden = !ev.on;
          clearTimeout(S.typingTm); if (ev.on) S.typingTm = setTimeout(function () { $('shopper-typing').hidden = true; }, 8000);
        }
        break;
      case 'conversation':
        upsertSummary(ev.conversation); break;
      case 'hello':
        if (ev.heartbeat_s && ev.heartbeat_s !== S.heartbeatS) { S.heartbeatS = ev.heartbeat_s; if (S.ws) heartbeat(S.ws); }
        if (ev.agent) { S.me = ev.agent; renderMe(); }
        if (ev.queue) { S.queue = ev.queue.map(stamp); renderLists(); }
        break;
      case 'agent':
        if (ev.agent && S.me && ev.agent.agent_id === S.me.agent_id) { S.me = ev.agent; renderMe(); }
        break;
    }
  }
  // presence: a heartbeat over the socket every HEARTBEAT_S (the desk's own period when its
  // hello names one), so the desk keeps this session online only while the page is alive
  var HEARTBEAT_S = 15;
  function heartbeat(ws) {
    clearInterval(S.beat);
    S.beat = setInterval(function () {
      if (S.ws !== ws || ws.readyState !== 1) { clearInterval(S.beat); return; }
      try { ws.send(JSON.stringify({type: 'heartbeat'})); } catch (e) { /* closing */ }
    }, (S.heartbeatS || HEARTBEAT_S) * 1000);
  }
  function connect() {
    if (!S.me || S.ws) return;
    var ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/api/agent/ws');
    S.ws = ws;
    ws.onopen = function () {
      var again = S.wsTries > 0; S.wsTries = 0;
      S.conn = 'connected'; renderConn(); renderMe(); heartbeat(ws);
      if (again) { refreshLists(); if (S.cur) openConv(S.cur); }
    };
    ws.onmessage = function (e) { var d; try { d = JSON.parse(e.data); } catch (x) { return; } onEvent(d); };
    ws.onclose = function () {
      if (S.ws !== ws) return;
      S.ws = null;
      if (!S.me) return;
      S.wsTries++;
      S.conn = 'reconnecting'; renderConn(); renderMe();
      setTimeout(function () {
        api('GET', '/api/agent/me').then(function (r) { S.csrf = r.csrf_token; S.me = r.agent; renderMe(); connect(); }, function (e) {
          if (e.status === 401) authFail(e); else { S.wsTries++; setTimeout(connect, 2000); }
        });
      }, Math.min(30000, 500 * Math.pow(2, S.wsTries)) * (0.75 + Math.random() / 2));
    };
  }

  /* ---------- keyboard: one table, shown in the help overlay ("?") ----------
   * Outside a text field the letter alone works; in one, Alt with the letter (matched by
   * the key's position, so it works on any layout). Ctrl/⌘+Enter sends from the reply box. */
  var KEYS = [
    {code: 'KeyN', key: 'n', does: 'key_next', run: function () { nextWaiting(); }},
    {code: 'KeyS', key: 's', does: 'key_send', run: function () { firstSuggestion('send'); }},
    {code: 'KeyE', key: 'e', does: 'key_edit', run: function () { firstSuggestion('edit'); }},
    {code: 'KeyX', key: 'x', does: 'key_skip', run: function () { firstSuggestion('skip'); }},
    {code: 'Slash', key: '/', does: 'key_search', run: function () { openCannedSearch(); }},
    {code: 'KeyR', key: 'r', does: 'key_resolve', run: function () { if (!$('resolve').disabled) $('resolve').click(); }},
    {code: 'KeyV', key: 'v', does: 'key_review', run: function () { focusReviews(); }},
    {key: '?', does: 'key_help', run: function () { toggleHelp(); }}
  ];
  function keyNames(k) {
    if (k.key === '?') return ['?'];
    return [k.key.toUpperCase(), 'Alt+' + k.key.toUpperCase()];
  }
  function renderHelp() {
    var tb = $('help-keys'); clear(tb);
    KEYS.concat([{names: ['Ctrl+Enter', '⌘+Enter'], does: 'key_reply'}, {names: ['Enter'], does: 'key_rvConfirm'},
      {names: ['1–9'], does: 'key_rvPick'}]).forEach(function (k) {
      var tr = el('tr'), th = el('th', null, null, {scope: 'row'});
      (k.names || keyNames(k)).forEach(function (nm, i) {
        if (i) th.appendChild(document.createTextNode(' ' + t('key_or') + ' '));
        th.appendChild(el('kbd', null, nm));
      });
      tr.appendChild(th); tr.appendChild(el('td', null, t(k.does))); tb.appendChild(tr);
    });
  }
  function toggleHelp(show) {
    var h = $('help'), on = show == null ? h.hidden : show;
    if (on === !h.hidden) return;
    h.hidden = !on;
    if (on) { S.helpFrom = document.activeElement; renderHelp(); $('help-close').focus(); }
    else if (S.helpFrom && S.helpFrom.focus) S.helpFrom.focus();
  }
  $('help-open').addEventListener('click', function () { toggleHelp(true); });
  $('help-close').addEventListener('click', function () { toggleHelp(false); });
  $('help').addEventListener('click', function (e) { if (e.target === this) toggleHelp(false); });
  function isField(n) {
    return n && (n.tagName === 'TEXTAREA' || n.tagName === 'SELECT' || n.isContentEditable ||
      (n.tagName === 'INPUT' && !/^(button|submit|checkbox|radio|reset)$/i.test(n.type)));
  }
  document.addEventListener('keydown', function (e) {
    if (e.defaultPrevented || !S.me || $('app').hidden) return;
    if (e.key === 'Escape') {
      if (!$('help').hidden) { e.preventDefault(); toggleHelp(false); return; }
      if (!$('canned-search').hidden) { e.preventDefault(); closeCannedSearch(true); return; }
      if (S.conflict) { S.conflict = null; renderConflict(); return; }
      if (S.resolveAsk) { S.resolveAsk = null; renderResolveAsk(); return; }
      return;
    }
    if (e.ctrlKey || e.metaKey) return;
    var k = null;
    if (e.altKey) k = KEYS.filter(function (x) { return x.code && x.code === e.code; })[0];
    else if (!isField(e.target)) k = KEYS.filter(function (x) { return x.key === e.key; })[0];
    if (!k || (!$('help').hidden && k.does !== 'key_help')) return;
    e.preventDefault();
    k.run();
  });
  function nextWaiting() {
    var list = sortedMine().filter(function (s) { return waitedNow(s) != null && s.conversation_id !== S.cur; });
    if (!list.length) { toast(t('noWaiting')); return; }
    openConv(list[0].conversation_id).then(function () { $('transcript').focus(); });
  }
  function firstSuggestion(what) {
    var card = document.querySelector('#suggestions .sug');
    var b = card && card.querySelector('button[data-act="' + what + '"]');
    if (!b || b.disabled) { toast(t('noSugNow')); return; }
    b.click();
  }

  /* ---------- canned replies: search by title and text, in both languages ("/") ---------- */
  // the desk searches titles and texts in both languages (GET /api/agent/canned?q=);
  // the conversation's language comes first
  function cannedFind(q) {
    var loc = S.detail ? S.detail.conversation.locale : null;
    return api('GET', '/api/agent/canned?q=' + encodeURIComponent(q)).then(function (list) {
      return (list || []).map(function (c, i) { return [c.locale === loc ? 0 : 1, i, c]; })
        .sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; }).map(function (x) { return x[2]; });
    });
  }
  function openCannedSearch() {
    if (!canWrite()) { toast(t('noConv')); return; }
    $('canned-search').hidden = false; $('canned-q').value = ''; S.cannedPick = 0;
    $('canned-q').focus(); searchCanned();
  }
  function closeCannedSearch(back) {
    $('canned-search').hidden = true;
    if (back) $('reply').focus();
  }
  function searchCanned() {
    var q = $('canned-q').value;
    cannedFind(q).then(function (list) {
      if ($('canned-q').value !== q) return;
      S.cannedFound = list;
      if (S.cannedPick >= S.cannedFound.length) S.cannedPick = 0;
      renderCannedResults();
    }).catch(function (e) { toast(t('failed', {e: e.message}), 'bad'); });
  }
  function renderCannedResults() {
    var ul = $('canned-results'); clear(ul);
    var found = S.cannedFound || [];
    if (!found.length) ul.appendChild(el('li', 'empty', t('cannedNone')));
    found.forEach(function (c, i) {
      var li = el('li', 'canned-hit' + (i === S.cannedPick ? ' on' : ''), null,
        {role: 'option', id: 'canned-hit-' + i, 'aria-selected': String(i === S.cannedPick)});
      var head = el('b', null, c.title);
      if (c.locale) head.appendChild(el('small', 'pill lang', c.locale.toUpperCase()));
      li.appendChild(head); li.appendChild(el('span', null, c.text));
      li.addEventListener('mousedown', function (e) { e.preventDefault(); insertCanned(c); });
      ul.appendChild(li);
    });
    if (found.length) $('canned-q').setAttribute('aria-activedescendant', 'canned-hit-' + S.cannedPick);
    else $('canned-q').removeAttribute('aria-activedescendant');
    var on = ul.querySelector('.on'); if (on && on.scrollIntoView) on.scrollIntoView({block: 'nearest'});
  }
  function insertCanned(c) {
    var r = $('reply'), txt = fillVars(c.text), at = r.selectionStart || r.value.length;
    r.value = r.value.slice(0, at) + txt + r.value.slice(r.selectionEnd || at);
    closeCannedSearch(false);
    r.focus(); r.setSelectionRange(at + txt.length, at + txt.length);
  }
  $('canned-search-open').addEventListener('click', openCannedSearch);
  $('canned-q').addEventListener('input', function () { S.cannedPick = 0; searchCanned(); });
  $('canned-q').addEventListener('keydown', function (e) {
    var n = (S.cannedFound || []).length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault(); if (!n) return;
      S.cannedPick = (S.cannedPick + (e.key === 'ArrowDown' ? 1 : n - 1)) % n; renderCannedResults();
    } else if (e.key === 'Enter') {
      e.preventDefault(); if (n) insertCanned(S.cannedFound[S.cannedPick]);
    }
  });
  $('canned-q').addEventListener('blur', function () { setTimeout(function () {
    if (document.activeElement !== $('canned-q')) closeCannedSearch(false); }, 150); });

  /* ---------- review list: messages the bot may have misunderstood ---------- */
  // docs/console.md "Review list": Enter confirms the bot's intent, 1-9 pick one of the
  // choices (the bot's top intents first, then the rest of the domain's), Arrow keys move.
  S.reviews = []; S.intents = []; S.reviewCounts = null;
  function intentName(i) { return i ? t('in_' + i) : t('rvUnknown'); }
  function loadReviews() {
    return Promise.all([api('GET', '/api/agent/reviews'), api('GET', '/api/agent/reviews/counts')]).then(function (r) {
      S.reviews = r[0].reviews || []; S.intents = r[0].intents || []; S.reviewCounts = r[1];
      renderReviews();
    }).catch(function () {});
  }
  function loadReviewCounts() {
    return api('GET', '/api/agent/reviews/counts').then(function (c) { S.reviewCounts = c; renderReviewFigures(); })
      .catch(function () {});
  }
  function addReview(r) {
    if (!r || S.reviews.some(function (x) { return x.id === r.id; })) return;
    S.reviews.push(r); renderReviews(); loadReviewCounts();
  }
  function choices(r) {   // the bot's top intents first (those a reviewer may pick), then the others
    var out = [];
    (r.bot_ranking || []).forEach(function (x) { if (S.intents.indexOf(x.name) >= 0 && out.indexOf(x.name) < 0) out.push(x.name); });
    if (S.intents.indexOf(r.bot_intent) >= 0 && out.indexOf(r.bot_intent) < 0) out.unshift(r.bot_intent);
    S.intents.forEach(function (i) { if (out.indexOf(i) < 0) out.push(i); });
    return out;
  }
  function pct1(x) { return x == null ? t('mxNone') : Math.round(x * 1000) / 10 + '%'; }
  function renderReviewFigures() {
    var c = S.reviewCounts, p = $('review-figures'); clear(p);
    $('review-count').textContent = '(' + S.reviews.length + ')';
    if (!c) return;
    p.appendChild(el('span', null, t('rvFigures', {reviewed: c.reviewed, pending: c.pending})));
    if (c.since_model && c.since_model.reviewed) {
      p.appendChild(el('br')); p.appendChild(el('span', null, t('rvSince', {share: pct1(c.since_model.share_bot_right), n: c.since_model.reviewed})));
    }
    (c.weeks || []).slice(-2).forEach(function (w) {
      p.appendChild(el('br')); p.appendChild(el('span', null, t('rvWeek', {week: w.week, share: pct1(w.share_bot_right), n: w.reviewed})));
    });
  }
  function renderReviews() {
    var ol = $('reviews'); if (!ol) return;
    var had = document.activeElement && document.activeElement.closest && document.activeElement.closest('.review');
    var focusId = had ? had.getAttribute('data-review') : null;
    clear(ol); renderReviewFigures();
    if (!S.reviews.length) { ol.appendChild(el('li', 'empty', t('rvNone'))); return; }
    S.reviews.forEach(function (r) { ol.appendChild(reviewItem(r)); });
    var f = focusId && ol.querySelector('[data-review="' + focusId + '"]');
    if (f) f.focus();
  }
  function reviewItem(r) {
    var li = el('li', 'review', null, {tabindex: '0', 'data-review': String(r.id)});
    li.appendChild(el('div', 'rv-text', r.text));
    var conf = r.bot_confidence == null ? '' : Math.round(r.bot_confidence * 100) + '%';
    li.appendChild(el('div', 'rv-meta', t('rvWhy_' + r.reason) + ' · ' + t('lang_' + r.language) + ' · '
      + t('rvBot', {intent: intentName(r.bot_intent), conf: conf})
      + ((r.bot_entities || []).length ? ' · ' + r.bot_entities.map(function (e) { return e.entity + '=' + e.value; }).join(', ') : '')));
    var box = el('div', 'rv-choices'), list = choices(r);
    list.slice(0, 9).forEach(function (i, n) {
      var b = el('button', n === 0 ? 'first' : null, (n + 1) + ' ' + intentName(i), {type: 'button', 'data-intent': i});
      b.addEventListener('click', function () { label(r, i); });
      box.appendChild(b);
    });
    li.appendChild(box);
    var sel = el('select', null, null, {'aria-label': t('rvOther')});
    sel.appendChild(el('option', null, t('rvOther'), {value: ''}));
    list.slice(9).forEach(function (i) { var o = el('option', null, intentName(i)); o.value = i; sel.appendChild(o); });
    sel.addEventListener('change', function () { if (sel.value) label(r, sel.value); });
    if (list.length > 9) li.appendChild(sel);
    li.addEventListener('keydown', function (e) {
      if (e.target !== li) return;                      // keys typed in the select are its own
      if (e.key === 'Enter') { e.preventDefault(); label(r, list[0]); }
      else if (/^[1-9]$/.test(e.key) && list[+e.key - 1]) { e.preventDefault(); label(r, list[+e.key - 1]); }
      else if (e.key === 'ArrowDown' && li.nextElementSibling) { e.preventDefault(); li.nextElementSibling.focus(); }
      else if (e.key === 'ArrowUp' && li.previousElementSibling) { e.preventDefault(); li.previousElementSibling.focus(); }
    });
    return li;
  }
  function focusReviews() {
    var first = document.querySelector('#reviews .review');
    if (first) first.focus(); else toast(t('rvNone'));
  }
  function label(r, intent) {
    var ol = $('reviews'), li = ol.querySelector('[data-review="' + r.id + '"]');
    var next = li && (li.nextElementSibling || li.previousElementSibling);
    var nextId = next && next.getAttribute('data-review');
    return api('POST', '/api/agent/reviews/' + r.id, {intent: intent}).then(function () {
      S.reviews = S.reviews.filter(function (x) { return x.id !== r.id; });
      renderReviews(); toast(t('rvDone', {intent: intentName(intent)}));
      var f = nextId && ol.querySelector('[data-review="' + nextId + '"]');
      if (f) f.focus();
      loadReviewCounts();
    }).catch(function (e) { toast(t('failed', {e: e.message}), 'bad'); });
  }

  /* ---------- start: maybe already logged in ---------- */
  applyLang();
  api('GET', '/api/agent/me').then(started, function () { $('login').hidden = false; $('login-user').focus(); });
})();
