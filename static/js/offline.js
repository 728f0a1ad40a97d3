/* stationmap offline: what the finder and the station pages do with no network (issue 19).
 *
 *  - stationmapOffline.hours: open now, and when that changes, worked out on the device from a
 *    station's stored hours: OpenStreetMap opening_hours as the station records use them
 *    ([months or dates] [weekdays, nth weekdays, PH] [times | off], rules separated by ";",
 *    times past midnight), evaluated as opening-hours-py (the server's evaluator,
 *    stationmap/hours.py) does: a later rule that names a day replaces the earlier ones on it,
 *    an "off" rule with times closes only those times, a rule's hours past midnight belong to
 *    the next day unless a rule names that day; public holidays (PH) never match (the server
 *    knows no holiday calendar either).  Anything else (sun times, week numbers, "||", comments)
 *    is not guessed at: the answer is null and the page shows the hours as written.
 *    tests/browser/test_offline_browser.py checks the answers against stationmap.hours.when over
 *    many random records and moments.
 *  - the area last seen (GET /api/v1/offline: the stations within 20 km of the position, with
 *    their hours and navigation links per travel mode, the circle estimate's speeds and detour
 *    factor) kept in localStorage with the time it was fetched, and the nearest stations ranked
 *    from it by the circle estimate (straight line x detour factor / speed, the server's numbers).
 *  - check-ins made with no network, queued with an idempotency key each and sent when the
 *    connection returns (the server records each key once: stationmap/reports.py).
 *  - the service worker's registration (/sw.js, scope /) and the list of this page's own files
 *    it keeps, so that the page opens with no network.
 */
(function () {
  'use strict';

  // the <script> tag that loaded this file: data-sw (the worker's URL), data-sw-scope
  var SCRIPT = document.currentScript;

  // ---- hours ---------------------------------------------------------------------------------
  var MONTHS = { Jan: 1, Feb: 2, Mar: 3, Apr: 4, May: 5, Jun: 6, Jul: 7, Aug: 8, Sep: 9, Oct: 10, Nov: 11, Dec: 12 };
  var WEEKDAYS = { Mo: 0, Tu: 1, We: 2, Th: 3, Fr: 4, Sa: 5, Su: 6 };  // Monday 0, as Python's weekday()
  var M = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
  var MD = M + '(?: \\d{1,2})?';
  var D = '(?:Mo|Tu|We|Th|Fr|Sa|Su)';
  var DAYSEL = '(?:' + D + '\\[-?[1-5](?:,-?[1-5])*\\]|' + D + '(?:-' + D + ')?|PH)';
  var HM = '\\d{2}:\\d{2}';
  var RULE = new RegExp('^(?:(' + MD + '(?:-' + MD + ')?(?:,' + MD + '(?:-' + MD + ')?)*)(?:\\s+|$))?' +
                        '(?:(' + DAYSEL + '(?:,' + DAYSEL + ')*)(?:\\s+|$))?' +
                        '(' + HM + '-' + HM + '(?:,' + HM + '-' + HM + ')*)?\\s*(off|closed)?$');
  var DAY_MIN = 1440;
  var parsed = {};

  function monthDay(text, isEnd) {  // "Nov" / "Nov 05" -> [month, day]; a month alone spans the whole month
    var p = text.split(' ');
    return [MONTHS[p[0]], p.length > 1 ? parseInt(p[1], 10) : (isEnd ? 31 : 1)];
  }

  function parseRule(text) {
    var m = RULE.exec(text);
    if (!m || !(m[1] || m[2] || m[3] || m[4])) { return null; }
    var rule = { months: null, days: null, times: null, off: !!m[4] };
    if (m[1]) {
      rule.months = m[1].split(',').map(function (r) {
        var ends = r.split('-');
        var a = monthDay(ends[0], false), b = monthDay(ends[ends.length - 1], true);
        if (ends.length === 1 && ends[0].indexOf(' ') < 0) { b = [a[0], 31]; }
        if (ends.length === 1 && ends[0].indexOf(' ') >= 0) { b = a.slice(); }
        return [a[0] * 100 + a[1], b[0] * 100 + b[1]];
      });
    }
    if (m[2]) {
      rule.days = [];
      var re = new RegExp(DAYSEL, 'g'), d;
      while ((d = re.exec(m[2])) !== null) {
        var s = d[0];
        if (s === 'PH') { rule.days.push({ ph: true }); }
        else if (s.indexOf('[') > 0) {
          rule.days.push({ wd: WEEKDAYS[s.slice(0, 2)], nth: s.slice(3, -1).split(',').map(Number) });
        } else {
          rule.days.push({ from: WEEKDAYS[s.slice(0, 2)], to: WEEKDAYS[s.length > 2 ? s.slice(3, 5) : s.slice(0, 2)] });
        }
      }
    }
    if (m[3]) {
      rule.times = [];
      var bad = false;
      m[3].split(',').forEach(function (span) {
        var ab = span.split('-');
        var s = parseInt(ab[0].slice(0, 2), 10) * 60 + parseInt(ab[0].slice(3), 10);
        var e = parseInt(ab[1].slice(0, 2), 10) * 60 + parseInt(ab[1].slice(3), 10);
        if (s >= DAY_MIN || e > 2 * DAY_MIN || e === s) { bad = true; }
        if (e < s) { e += DAY_MIN; }
        rule.times.push([s, e]);
      });
      if (bad) { return null; }
    }
    return rule;
  }

  // the rules of an expression; {always: true} for 24/7; null for what this evaluator does not read
  function parseHours(expr) {
    var text = String(expr || '').trim() || '24/7';
    if (Object.prototype.hasOwnProperty.call(parsed, text)) { return parsed[text]; }
    var out;
    if (text === '24/7') { out = { always: true }; }
    else if (text.indexOf('||') >= 0) { out = null; }
    else {
      var rules = text.split(';').map(function (r) { return parseRule(r.trim()); });
      out = rules.every(function (r) { return r; }) ? { rules: rules } : null;
    }
    parsed[text] = out;
    return out;
  }

  // a day: {y, m, d, wd, dim (days in its month), n (days since 1970-01-01)}
  function dayOf(n) {
    var dt = new Date(n * 86400000);
    var y = dt.getUTCFullYear(), m = dt.getUTCMonth() + 1;
    return { y: y, m: m, d: dt.getUTCDate(), wd: (dt.getUTCDay() + 6) % 7, n: n,
             dim: new Date(Date.UTC(y, m, 0)).getUTCDate() };
  }

  function matches(rule, day) {
    if (rule.months) {
      var key = day.m * 100 + day.d;
      if (!rule.months.some(function (r) { return r[0] <= r[1] ? (r[0] <= key && key <= r[1]) : (key >= r[0] || key <= r[1]); })) {
        return false;
      }
    }
    if (rule.days) {
      return rule.days.some(function (s) {
        if (s.ph) { return false; }
        if (s.nth) {
          if (s.wd !== day.wd) { return false; }
          var fromStart = Math.floor((day.d - 1) / 7) + 1, fromEnd = -(Math.floor((day.dim - day.d) / 7) + 1);
          return s.nth.indexOf(fromStart) >= 0 || s.nth.indexOf(fromEnd) >= 0;
        }
        return s.from <= s.to ? (s.from <= day.wd && day.wd <= s.to) : (day.wd >= s.from || day.wd <= s.to);
      });
    }
    return true;
  }

  // open intervals of a day: sorted, disjoint [start, end) minutes
  function union(list) {
    var out = [];
    list.slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (iv) {
      var last = out[out.length - 1];
      if (last && iv[0] <= last[1]) { last[1] = Math.max(last[1], iv[1]); } else { out.push([iv[0], iv[1]]); }
    });
    return out;
  }
  function subtract(list, cuts) {
    var out = list;
    cuts.forEach(function (c) {
      var next = [];
      out.forEach(function (iv) {
        if (c[1] <= iv[0] || c[0] >= iv[1]) { next.push(iv); return; }
        if (iv[0] < c[0]) { next.push([iv[0], c[0]]); }
        if (c[1] < iv[1]) { next.push([c[1], iv[1]]); }
      });
      out = next;
    });
    return out;
  }
  function intersect(a, b) {
    var out = [], i = 0, j = 0;
    while (i < a.length && j < b.length) {
      var s = Math.max(a[i][0], b[j][0]), e = Math.min(a[i][1], b[j][1]);
      if (s < e) { out.push([s, e]); }
      if (a[i][1] < b[j][1]) { i++; } else { j++; }
    }
    return out;
  }

  // the ranges a rule's times cover on a day it names (today) and, past midnight, on the next day
  function ranges(rule, onToday, onYesterday) {
    var out = [];
    (rule.times || [[0, DAY_MIN]]).forEach(function (t) {
      if (onToday) { out.push([t[0], Math.min(t[1], DAY_MIN)]); }
      if (onYesterday && t[1] > DAY_MIN) { out.push([0, t[1] - DAY_MIN]); }
    });
    return out;
  }

  // the open intervals of day n, as opening-hours-py's schedule_at: rules in order; a rule that
  // names the day replaces what came before; one that does not (its hours past midnight from the
  // day before) counts only when the earlier rules leave the day closed; an "off" rule closes its ranges
  function schedule(h, n) {
    var today = dayOf(n), yesterday = dayOf(n - 1), prev = null;
    h.rules.forEach(function (rule) {
      var onToday = matches(rule, today), onYesterday = matches(rule, yesterday);
      if (!onToday && !onYesterday) { return; }   // no schedule of its own this day
      var covered = ranges(rule, onToday, onYesterday);
      if (!rule.off) {
        var cur = union(covered);
        prev = onToday ? cur : (prev && prev.length ? prev : cur);
      } else {
        prev = prev ? subtract(prev, covered) : [];
      }
    });
    return prev || [];
  }

  var ALWAYS_OPEN = [[0, DAY_MIN]];

  // local Shanghai time (UTC+8 all year) of a moment in ms: [day number, minute of the day]
  var TZ_MS = 8 * 3600000;
  function localOf(ms) {
    var t = Math.floor((ms + TZ_MS) / 60000);
    return [Math.floor(t / DAY_MIN), ((t % DAY_MIN) + DAY_MIN) % DAY_MIN];
  }
  function pad(x) { return (x < 10 ? '0' : '') + x; }
  function rfc3339(n, minute) {
    var d = dayOf(n);
    return d.y + '-' + pad(d.m) + '-' + pad(d.d) + 'T' + pad(Math.floor(minute / 60)) + ':' + pad(minute % 60) + ':00+08:00';
  }
  function dayNumber(iso) {  // "2026-12-07" -> days since 1970-01-01
    return Math.round(Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86400000);
  }

  var HORIZON_DAYS = 366;

  /* A station's state at the moment `ms` (default now), as stationmap.hours.when: {open_now,
   * closes_at, opens_at} (RFC 3339, +08:00), with `services`' own hours (service_hours) too;
   * null when its hours are beyond this evaluator.  `p`: the station's properties (opening_hours,
   * service_hours, status, reopens_on). */
  function when(p, ms, services) {
    var exprs = [String(p.opening_hours || '').trim() || '24/7'];
    (services || []).forEach(function (s) { if (p.service_hours && p.service_hours[s]) { exprs.push(String(p.service_hours[s]).trim()); } });
    var hs = [];
    for (var i = 0; i < exprs.length; i++) {
      var e = exprs[i];
      if (!e || e === '24/7' || exprs.indexOf(e) !== i) { continue; }
      var h = parseHours(e);
      if (!h) { return null; }
      if (!h.always) { hs.push(h); }
    }
    var from;  // the first day the status lets it open
    if (p.status === 'active') { from = -Infinity; }
    else if (p.status === 'temporarily_closed' && p.reopens_on) { from = dayNumber(p.reopens_on); }
    else { from = Infinity; }
    function open(n) {  // the open intervals of day n, every rule and the status together
      if (n < from) { return []; }
      var all = ALWAYS_OPEN;
      for (var j = 0; j < hs.length && all.length; j++) { all = intersect(all, schedule(hs[j], n)); }
      return all;
    }
    var start = localOf(ms === undefined ? Date.now() : ms);
    var n0 = start[0], m0 = start[1], limitDay = n0 + HORIZON_DAYS;
    var today = open(n0), cur = null, found = null, n, list, k;
    for (k = 0; k < today.length; k++) { if (today[k][0] <= m0 && m0 < today[k][1]) { cur = today[k]; } }
    var state = !!cur;
    // the first minute after the start whose state differs: [day, minute]
    if (state) {
      if (cur[1] < DAY_MIN) { found = [n0, cur[1]]; }
      for (n = n0 + 1; !found && n <= limitDay; n++) {
        list = open(n);
        if (!list.length || list[0][0] > 0) { found = [n, 0]; }
        else if (list[0][1] < DAY_MIN) { found = [n, list[0][1]]; }
      }
    } else {
      for (k = 0; k < today.length && !found; k++) { if (today[k][0] > m0) { found = [n0, today[k][0]]; } }
      for (n = n0 + 1; !found && n <= limitDay; n++) {
        list = open(n);
        if (list.length) { found = [n, list[0][0]]; }
      }
    }
    // within the horizon (a year and a day from the start, inclusive), as the server
    var change = found && (found[0] < limitDay || found[1] <= m0) ? rfc3339(found[0], found[1]) : null;
    return state ? { open_now: true, closes_at: change, opens_at: null }
                 : { open_now: false, closes_at: null, opens_at: change };
  }

  // ---- the area last seen ----------------------------------------------------------------------
  var AREA_KEY = 'stationmap.offline.area.v1';
  var QUEUE_KEY = 'stationmap.offline.checkins.v1';

  function load(key) {
    try { return JSON.parse(window.localStorage.getItem(key) || 'null'); } catch (e) { return null; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); return true; } catch (e) { return false; }
  }

  function haversine(lon1, lat1, lon2, lat2) {  // metres on the mean sphere (an estimate)
    var R = 6371008.8, r = Math.PI / 180;
    var dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
    var a = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
            Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  // fetch the area around pos (WGS-84) unless the one kept is recent and holds pos well inside
  var REFRESH_MS = 10 * 60000, MOVE_M = 5000, inFlight = null;
  function remember(cfg, pos, force) {
    var area = load(AREA_KEY);
    if (!force && area && area.lang === cfg.lang && Date.now() - area.saved_at < REFRESH_MS &&
        haversine(area.center.lon, area.center.lat, pos.lon, pos.lat) < MOVE_M) {
      return Promise.resolve(area);
    }
    if (inFlight) { return inFlight; }
    var q = new URLSearchParams({ lat: pos.lat.toFixed(6), lon: pos.lon.toFixed(6), lang: cfg.lang });
    inFlight = fetch(cfg.urls.offline + '?' + q.toString())
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(function (d) {
        d.saved_at = Date.now();
        d.lang = cfg.lang;
        if (!save(AREA_KEY, d)) {  // too big for the quota: keep the nearest half, then less
          while (d.features.length > 10 && !save(AREA_KEY, d)) { d.features = d.features.slice(0, Math.floor(d.features.length / 2)); }
        }
        document.documentElement.dataset.offlineArea = String(d.features.length);
        return d;
      })
      .finally(function () { inFlight = null; });
    return inFlight;
  }

  /* The nearest stations from the area kept, as /api/v1/nearest answers them (properties
   * minutes, distance_m, straight_m, within_minutes, nav, open_now, closes_at, opens_at), ranked
   * by the circle estimate with the server's speeds and detour factor; null without an area.
   * q: {pos, mode, k, minutes, kinds, services, open_now} */
  function nearest(q, ms) {
    var area = load(AREA_KEY);
    if (!area || !area.features) { return null; }
    ms = ms === undefined ? Date.now() : ms;
    var perMetre = area.detour_factor / (area.speeds_kmh[q.mode] * 1000 / 60);
    var rows = [];
    area.features.forEach(function (f) {
      var p = f.properties;
      if (p.status === 'closed') { return; }
      if (q.kinds.length && !q.kinds.some(function (k) { return p.kinds.indexOf(k) >= 0; })) { return; }
      if (!q.services.every(function (s) { return p.services.indexOf(s) >= 0; })) { return; }
      var c = f.geometry.coordinates, d = haversine(q.pos.lon, q.pos.lat, c[0], c[1]);
      rows.push({ f: f, d: d, minutes: d * perMetre });
    });
    rows.sort(function (a, b) { return a.minutes - b.minutes || (a.f.id < b.f.id ? -1 : 1); });
    function withTime(r) {
      if (r.w === undefined) { r.w = when(r.f.properties, ms, q.services); }
      return r;
    }
    function isOpen(r) { return withTime(r).w ? r.w.open_now : false; }
    var chosen;
    if (q.open_now) { chosen = rows.filter(isOpen).slice(0, q.k); }
    else {  // the k quickest open, then the closed among the k quickest overall (the server's open_first)
      var top = rows.slice(0, q.k), closed = top.filter(function (r) { return !isOpen(r); });
      chosen = closed.length ? rows.filter(isOpen).slice(0, q.k).concat(closed) : top;
    }
    var local = localOf(ms);
    var features = chosen.map(function (r) {
      withTime(r);
      var p = {};
      Object.keys(r.f.properties).forEach(function (k) { p[k] = r.f.properties[k]; });
      p.nav = (r.f.properties.nav || {})[q.mode] || null;
      p.minutes = Math.round(r.minutes * 10) / 10;
      p.distance_m = Math.round(r.d * 10) / 10;
      p.straight_m = p.distance_m;
      p.within_minutes = r.minutes <= q.minutes;
      p.hours_known = !!r.w;
      p.open_now = r.w ? r.w.open_now : false;
      p.closes_at = r.w ? r.w.closes_at : null;
      p.opens_at = r.w ? r.w.opens_at : null;
      return { type: 'Feature', id: r.f.id, geometry: r.f.geometry, properties: p };
    });
    return {
      type: 'FeatureCollection', offline: true, method: 'circle', features: features,
      fetched_at: area.fetched_at, saved_at: area.saved_at, area_size: area.features.length,
      in_app_browser: area.in_app_browser, none_within: null,
      reach: { method: 'circle', radius_m: q.minutes / perMetre },
      query: { minutes: q.minutes, mode: q.mode, at: rfc3339(local[0], local[1]) }
    };
  }

  // the markers' layer from the area kept: {id, geometry, properties: kinds, services, open_now}
  function markers(ms) {
    var area = load(AREA_KEY);
    if (!area || !area.features) { return null; }
    return area.features.map(function (f) {
      var w = when(f.properties, ms);
      return { type: 'Feature', id: f.id, geometry: f.geometry,
               properties: { kinds: f.properties.kinds, services: f.properties.services, open_now: !!(w && w.open_now) } };
    });
  }

  function lastArea() { return load(AREA_KEY); }

  // ---- check-ins with no network ------------------------------------------------------------------
  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16)), h = '';
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (var i = 0; i < 16; i++) { h += (b[i] + 256).toString(16).slice(1) + ([3, 5, 7, 9].indexOf(i) >= 0 ? '-' : ''); }
    return h;
  }

  function queued() { return load(QUEUE_KEY) || []; }

  function enqueue(url, body) {
    var q = queued();
    q.push({ key: uuid(), url: url, body: body, at: Date.now() });
    save(QUEUE_KEY, q);
    return q.length;
  }

  // send the queued check-ins one by one; each leaves the queue once the server answered it
  // (recorded, a repeat, or refused as bad); a lost connection or a busy server keeps it
  var flushing = null;
  function flush() {
    if (flushing) { return flushing; }
    var sent = 0;
    function next() {
      var q = queued();
      if (!q.length) { return Promise.resolve(sent); }
      var item = q[0];
      return fetch(item.url, { method: 'POST', credentials: 'same-origin',
                               headers: { 'Content-Type': 'application/json', 'Idempotency-Key': item.key },
                               body: JSON.stringify(item.body) })
        .then(function (r) {
          if (r.status === 429 || r.status >= 500) { return sent; }
          save(QUEUE_KEY, queued().filter(function (x) { return x.key !== item.key; }));
          if (r.ok) { sent += 1; }
          return next();
        }, function () { return sent; });
    }
    var run = (navigator.locks && navigator.locks.request)
      ? navigator.locks.request('stationmap-checkins', next) : next();
    flushing = run.finally(function () { flushing = null; });
    return flushing;
  }

  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_, k) { return values[k] === undefined ? '' : String(values[k]); });
  }

  // the station page's check-in form: with no network its check-in is queued, not lost
  function checkinForm(form) {
    var msg = document.createElement('p');
    msg.className = 'checkin-queued';
    msg.setAttribute('role', 'status');
    form.appendChild(msg);
    var strings = JSON.parse(form.getAttribute('data-offline-strings') || '{}');
    form.addEventListener('submit', function (ev) {
      if (navigator.onLine) { return; }
      ev.preventDefault();
      var kind = ev.submitter ? ev.submitter.value : '';
      var body = { outcome: kind };
      var val = function (name) { var e = form.elements[name]; return e ? String(e.value || '').trim() : ''; };
      if (kind === 'service_missing') { body.service = val('service'); }
      if (kind === 'moved') { body.lon = val('lon'); body.lat = val('lat'); body.datum = val('datum'); }
      if (val('note')) { body.note = val('note'); }
      var n = enqueue(form.getAttribute('data-checkin-api'), body);
      msg.textContent = fmt(strings.queued || '%(n)s', { n: n });
      document.documentElement.dataset.checkinsQueued = String(n);
    });
    function sendNow() {
      flush().then(function (n) {
        document.documentElement.dataset.checkinsQueued = String(queued().length);
        if (n) { msg.textContent = fmt(strings.sent || '%(n)s', { n: n }); }
      });
    }
    window.addEventListener('online', sendNow);
    if (navigator.onLine) { sendNow(); }
  }

  // ---- the service worker ---------------------------------------------------------------------------
  // this page and its own files (scripts, styles, icons, the manifest), for the worker to keep
  function ownFiles() {
    var urls = [location.pathname + location.search];
    (performance.getEntriesByType ? performance.getEntriesByType('resource') : []).forEach(function (e) {
      var u = new URL(e.name, location.href);
      if (u.origin === location.origin && (u.pathname.indexOf('/static/') === 0 || u.pathname === '/manifest.webmanifest')) {
        urls.push(u.pathname + u.search);
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll('script[src], link[rel=stylesheet], link[rel=manifest], link[rel=icon]'), function (e) {
      var u = new URL(e.getAttribute('src') || e.getAttribute('href'), location.href);
      if (u.origin === location.origin) { urls.push(u.pathname + u.search); }
    });
    return urls.filter(function (u, i) { return urls.indexOf(u) === i; });
  }

  function register() {
    var root = document.documentElement, url = SCRIPT && SCRIPT.getAttribute('data-sw');
    if (!url || !('serviceWorker' in navigator)) { return; }
    navigator.serviceWorker.addEventListener('message', function (e) {
      if (e.data && e.data.type === 'kept') { root.dataset.offlineShell = String(e.data.n); }
    });
    navigator.serviceWorker.register(url, { scope: SCRIPT.getAttribute('data-sw-scope') || '/' })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (reg) {
        root.dataset.sw = 'ready';
        reg.active.postMessage({ type: 'keep', urls: ownFiles() });
      })
      .catch(function (err) { root.dataset.sw = 'failed'; root.dataset.swError = String(err && err.message || err); });
  }

  window.stationmapOffline = {
    hours: { parse: parseHours, when: when },
    remember: remember, nearest: nearest, markers: markers, lastArea: lastArea,
    enqueue: enqueue, queued: queued, flush: flush, register: register, haversine: haversine
  };

  function start() {
    register();
    var form = document.querySelector('form.report-form[data-checkin-api]');
    if (form) { checkinForm(form); }
    else {
      window.addEventListener('online', flush);
      if (navigator.onLine) { flush(); }
    }
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
}());
