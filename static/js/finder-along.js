/* The finder's "顺路找驿站 / stations on my way" (issue 19).
 *
 * A courier riding from "my position" (the finder's, static/js/finder.js) to a destination sees the
 * stations that cost the fewest extra minutes on the way: /api/v1/along, least detour first, in the
 * panel's list and as numbered pins on the map, with the same navigation links as the nearest list.
 *
 * The destination is picked by tapping the map (the tap's popup gets a "设为目的地" button beside
 * "设为我的位置" while the panel is open), by dragging its flag, or by typing coordinates in any datum
 * or pasting an Amap / Baidu share link, read on the server (/point: stationmap.coords.parse_point_text,
 * as the station form's picker reads them).  It asks again whenever the finder does (a new position,
 * filter or travel mode: the finder's data-list-version), with the finder's filters and mode.
 *
 * Kept in WGS-84 and shifted only to draw (stationmapFinder.disp / fromDisp); stored text reaches the
 * page through textContent only (stationmapFinder.ui.el).  Its configuration, words included, is the
 * JSON in #along-config (stationmap.web.ui.along_config).
 */
(function () {
  'use strict';
  var F = window.stationmapFinder;
  var cfgEl = document.getElementById('along-config');
  var toggle = document.getElementById('along-toggle');
  if (!F || !cfgEl || !toggle || typeof L === 'undefined') { return; }
  var A = JSON.parse(cfgEl.textContent);
  var T = A.strings;
  var root = document.documentElement;
  var panel = document.getElementById('along-panel');
  var form = document.getElementById('along-form');
  var textInput = document.getElementById('along-text');
  var datumSelect = document.getElementById('along-datum');
  var detourSelect = document.getElementById('along-detour');
  var clearButton = document.getElementById('along-clear');
  var statusEl = document.getElementById('along-status');
  var listEl = document.getElementById('along-list');

  var dest = null;        // the destination, WGS-84 {lat, lon}
  var answer = null;      // the last /along answer drawn
  var layer = null;       // the destination flag and the numbered pins
  var req = 0, version = 0;

  function status(text, warn) {
    statusEl.textContent = text || '';
    statusEl.classList.toggle('warn', !!warn);
  }

  function start() {
    var S = F.state, U = F.ui, map = S.map, cfg = S.cfg;
    layer = L.layerGroup().addTo(map);

    function isOpen() { return !panel.hidden; }
    toggle.addEventListener('click', function () {
      var open = !isOpen();
      panel.hidden = !open;
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      root.dataset.along = open ? 'open' : 'closed';
      if (open && !dest) { status(S.pos ? T.help : T.need_position + ' ' + T.help); }
      if (open) { textInput.focus(); }
    });

    // -- the destination: a tap on the map (the finder's popup, one more button), its flag, typed text --
    map.on('popupopen', function (e) {
      var box = e.popup.getContent();
      if (!isOpen() || !box || !box.classList || !box.classList.contains('sm-setpos')) { return; }
      var btn = U.el('button', { type: 'button', 'class': 'btn along-setdest' }, T.set_destination);
      btn.addEventListener('click', function () {
        var ll = e.popup.getLatLng();
        map.closePopup();
        setDestination(F.fromDisp(ll), null);
      });
      box.appendChild(btn);
      e.popup.update();
    });

    function setDestination(point, words) {
      dest = { lat: point.lat, lon: point.lon };
      root.dataset.alongDestination = dest.lat.toFixed(6) + ',' + dest.lon.toFixed(6);
      if (words) { status(words); }
      query(true, words);
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var text = textInput.value.trim();
      if (!text) { if (dest) { query(true); } else { status(T.help, true); } return; }
      var q = new URLSearchParams({ text: text, datum: datumSelect.value, lang: cfg.lang });
      status(T.reading);
      fetch(A.urls.point + '?' + q.toString(), { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
        .then(function (res) {
          if (!res.ok) { status(U.apiMessage(res.d) || T.failed, true); return; }
          setDestination({ lat: res.d.lat, lon: res.d.lon }, res.d.words);
        })
        .catch(function () { status(T.failed, true); });
    });
    detourSelect.addEventListener('change', function () { if (dest) { query(false); } });
    clearButton.addEventListener('click', function () {
      dest = null; answer = null; req++;
      layer.clearLayers();
      listEl.textContent = '';
      textInput.value = '';
      delete root.dataset.alongDestination;
      root.dataset.alongListed = '0';
      status(T.help);
    });

    // -- the stations on the way: asked again whenever the finder asks (position, filters, mode) --
    function query(fit, words) {
      if (!dest) { return; }
      if (!S.pos) { status(T.need_position, true); return; }
      var q = new URLSearchParams();
      q.set('from_lat', S.pos.lat.toFixed(6));
      q.set('from_lon', S.pos.lon.toFixed(6));
      q.set('to_lat', dest.lat.toFixed(6));
      q.set('to_lon', dest.lon.toFixed(6));
      q.set('mode', S.mode);
      q.set('max_detour', detourSelect.value);
      q.set('k', String(A.k));
      q.set('lang', cfg.lang);
      Object.keys(S.filters.kind).forEach(function (k) { q.append('kind', k); });
      Object.keys(S.filters.service).forEach(function (s) { q.append('service', s); });
      if (S.filters.open_now) { q.set('open_now', 'true'); }
      var my = ++req;
      listEl.setAttribute('aria-busy', 'true');
      if (!words) { status(T.searching); }
      fetch(A.urls.along + '?' + q.toString())
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
        .then(function (res) {
          if (my !== req) { return; }
          listEl.removeAttribute('aria-busy');
          if (!res.ok) { status(U.apiMessage(res.d) || T.failed, true); return; }
          answer = res.d;
          render(answer, fit, words);
          listEl.dataset.query = q.toString();
          root.dataset.alongVersion = String(++version);
        })
        .catch(function () { if (my === req) { listEl.removeAttribute('aria-busy'); status(T.failed, true); } });
    }

    function minutes(n) { return Math.max(1, Math.round(n)); }

    function draw() {
      layer.clearLayers();
      if (!dest) { return; }
      L.marker(F.disp(dest.lat, dest.lon), {
        icon: L.divIcon({ className: 'sm-along-dest-icon', html: '<div class="sm-along-dest"></div>', iconSize: [22, 22],
                          iconAnchor: [4, 26] }),
        draggable: true, keyboard: false, title: T.destination, zIndexOffset: 500
      }).on('dragend', function (e) { setDestination(F.fromDisp(e.target.getLatLng()), null); }).addTo(layer);
      if (!answer) { return; }
      answer.features.forEach(function (f, i) {
        var c = f.geometry.coordinates;
        var m = L.marker(F.disp(c[1], c[0]), {
          icon: L.divIcon({ className: 'sm-along-icon', html: '<div class="sm-along-pin">' + (i + 1) + '</div>',
                            iconSize: [24, 24], iconAnchor: [12, 12], popupAnchor: [0, -12] }),
          keyboard: false, zIndexOffset: 600
        });
        m.bindPopup(function () { return popup(f); }, U.padded({ maxWidth: 260 }));
        m.on('add', function () { if (m._icon) { m._icon.setAttribute('data-id', f.id); } });
        m.addTo(layer);
        f._marker = m;
      });
    }

    function popup(f) {
      var p = f.properties;
      var box = U.el('div', { 'class': 'sm-popup sm-along-popup' });
      var title = U.el('div', { 'class': 'st-title' });
      F.appendName(title, p, 'a', { 'class': 'st-name', href: U.stationPage(p.id) });
      box.appendChild(title);
      var facts = U.el('div', { 'class': 'st-facts' });
      facts.appendChild(U.el('span', { 'class': 'detour' }, detourWords(p.detour_minutes)));
      facts.appendChild(U.el('span', { 'class': 'badge ' + (p.open_now ? 'open' : 'closed') },
                             p.open_now ? cfg.strings.open : cfg.strings.closed));
      box.appendChild(facts);
      box.appendChild(U.navButtons(p.nav));
      return box;
    }

    function detourWords(d) { return d < 0.5 ? T.no_detour : U.fmt(T.detour, { n: minutes(d) }); }

    function render(data, fit, words) {
      draw();
      listEl.textContent = '';
      root.dataset.alongMethod = data.method;
      root.dataset.alongListed = String(data.features.length);
      var how = data.method === 'network' ? T.on_roads : T.straight;
      var summary = U.fmt(T.route, { mode: cfg.modes[S.mode], m: minutes(data.route.minutes), how: how }) +
                    (data.oneway_respected === false ? ' ' + cfg.strings.oneway_unknown : '');
      if (!data.features.length) { summary += ' ' + U.fmt(T.none, { n: data.query.max_detour }); }
      status((words ? words + ' ' : '') + summary, !data.features.length);
      var today = data.query.at.slice(0, 10);
      data.features.forEach(function (f, i) {
        var p = f.properties;
        var li = U.el('li', { 'class': 'station along-station' + (p.open_now ? '' : ' shut'), 'data-id': p.id,
                              'data-detour': String(p.detour_minutes) });
        var head = U.el('div', { 'class': 'st-head' });
        head.appendChild(U.el('span', { 'class': 'along-num' }, i + 1));
        F.appendName(head, p, 'a', { 'class': 'st-name', href: U.stationPage(p.id) });
        head.appendChild(U.el('span', { 'class': 'badge ' + (p.open_now ? 'open' : 'closed') },
                              p.open_now ? cfg.strings.open : cfg.strings.closed));
        if (p.sample) { head.appendChild(U.el('span', { 'class': 'tag-sample' }, cfg.strings.sample)); }
        li.appendChild(head);
        var facts = U.el('div', { 'class': 'st-facts' });
        facts.appendChild(U.el('span', { 'class': 'detour' }, detourWords(p.detour_minutes)));
        facts.appendChild(U.el('span', { 'class': 'mins' }, U.fmt(T.reach, { n: minutes(p.minutes) })));
        facts.appendChild(U.serviceIcons(p.services || []));
        li.appendChild(facts);
        li.appendChild(U.el('div', { 'class': 'when' }, U.whenText(p, today)));
        li.appendChild(U.navButtons(p.nav));
        li.addEventListener('click', function (ev) {
          if (ev.target.closest('a')) { return; }
          if (f._marker) { f._marker.openPopup(); }
        });
        listEl.appendChild(li);
      });
      if (fit) {
        var pts = data.features.map(function (f) { return F.disp(f.geometry.coordinates[1], f.geometry.coordinates[0]); });
        pts.push(F.disp(S.pos.lat, S.pos.lon), F.disp(dest.lat, dest.lon));
        map.fitBounds(L.latLngBounds(pts), { maxZoom: 16, animate: false, padding: [28, 28] });
      }
    }

    // the finder asked again (a new position, filter or mode): so do we
    new MutationObserver(function () { if (dest) { query(false); } })
      .observe(root, { attributes: true, attributeFilter: ['data-list-version'] });
    // another base map: the same points, drawn in its datum (the finder's handler has switched it)
    map.on('baselayerchange', function () { draw(); });
    root.dataset.alongReady = 'true';
  }

  if (F.state && F.ui) { start(); return; }
  // (the finder starts in the map's script, before this one; should it not have yet, wait for it)
  var wait = new MutationObserver(function () {
    if (F.state && F.ui) { wait.disconnect(); start(); }
  });
  wait.observe(root, { attributes: true, attributeFilter: ['data-finder'] });
}());
