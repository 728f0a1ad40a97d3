/* What-if on the coverage page (issue 17): drop candidate stations on the map, take existing
 * ones out, and see the figures and the gaps of the scenario beside today's.
 *
 * The page gives its configuration in <script type="application/json" id="whatif-config">
 * (stationmap.web.coverage._whatif_config): the folium map's and its gaps layer's script names,
 * the what-if API and CSV URLs of this run, the run's stations of its kind (WGS-84) and the words.
 * The server computes everything (/api/v1/coverage/whatif); this file only draws and asks.
 * The coverage map is drawn in WGS-84 (its base maps are WGS-84 ones), so no datum shift here.
 */
(function () {
  'use strict';
  var cfgEl = document.getElementById('whatif-config');
  var panel = document.getElementById('whatif');
  if (!cfgEl || !panel) { return; }
  var cfg = JSON.parse(cfgEl.textContent);
  var T = cfg.t;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function start() {
    var map = window[cfg.map];
    if (!map || !window.L) { return false; }
    var S = { adding: false, added: [], without: {}, seq: 0, timer: null, pending: null };
    window.stationmapWhatif = { state: S, map: map };
    var candidates = L.layerGroup().addTo(map);
    var existing = L.layerGroup().addTo(map);
    var scenarioGaps = null;
    var gapsLayer = cfg.gaps_layer ? window[cfg.gaps_layer] : null;

    var addBtn = panel.querySelector('#whatif-add');
    var clearBtn = panel.querySelector('#whatif-clear');
    var csvLink = panel.querySelector('#whatif-csv');
    var status = panel.querySelector('#whatif-status');
    var table = panel.querySelector('#whatif-table tbody');

    // the run's stations, each a toggle in or out of the scenario
    cfg.stations.forEach(function (s) {
      var m = L.circleMarker([s.lat, s.lon], { radius: 7, weight: 2, color: '#333', fillOpacity: 0, opacity: 0.35,
                                              className: 'whatif-station' });
      m.bindTooltip(s.name, { direction: 'top' });
      m.on('click', function (e) {
        L.DomEvent.stop(e);
        if (S.without[s.id]) { delete S.without[s.id]; } else { S.without[s.id] = true; }
        m.setStyle(S.without[s.id] ? { color: '#b2182b', opacity: 1, dashArray: '3 3' } :
                   { color: '#333', opacity: 0.35, dashArray: null });
        m.setTooltipContent(S.without[s.id] ? s.name + ' · ' + T.removed : s.name);
        changed();
      });
      m.stationId = s.id;
      existing.addLayer(m);
    });

    function candidateMarker(p, n) {
      var m = L.marker([p.lat, p.lon], { title: T.candidate + ' ' + n, draggable: true,
        icon: L.divIcon({ className: 'whatif-candidate', html: '<span>+' + n + '</span>', iconSize: [24, 24] }) });
      m.on('dragend', function () { var ll = m.getLatLng(); p.lat = ll.lat; p.lon = ll.lng; changed(); });
      m.on('click', function (e) {   // a click takes it away again
        L.DomEvent.stop(e);
        S.added.splice(S.added.indexOf(p), 1);
        candidates.removeLayer(m);
        changed();
      });
      return m;
    }

    map.on('click', function (e) {
      if (!S.adding || S.added.length >= cfg.max) { return; }
      var p = { lon: e.latlng.lng, lat: e.latlng.lat };
      S.added.push(p);
      candidates.addLayer(candidateMarker(p, S.added.length));
      changed();
    });

    addBtn.addEventListener('click', function () {
      S.adding = !S.adding;
      addBtn.setAttribute('aria-pressed', S.adding ? 'true' : 'false');
      addBtn.textContent = S.adding ? T.adding : T.add;
      map.getContainer().style.cursor = S.adding ? 'crosshair' : '';
    });
    clearBtn.addEventListener('click', function () {
      S.added = [];
      S.without = {};
      candidates.clearLayers();
      existing.eachLayer(function (m) {
        m.setStyle({ color: '#333', opacity: 0.35, dashArray: null });
      });
      changed();
    });

    function query() {
      var q = '';
      if (S.added.length) {
        q += '&new=' + S.added.map(function (p) { return p.lon.toFixed(6) + ',' + p.lat.toFixed(6); }).join(';');
      }
      var ids = Object.keys(S.without);
      if (ids.length) { q += '&without=' + ids.map(encodeURIComponent).join(','); }
      return q;
    }

    function changed() {
      csvLink.setAttribute('href', cfg.csv + query());
      csvLink.hidden = !(S.added.length || Object.keys(S.without).length);
      clearTimeout(S.timer);
      S.timer = setTimeout(update, 120);
    }

    function pct(x) { return x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%'; }
    function num(x) { return x === null || x === undefined ? '–' : Math.round(x).toLocaleString(); }
    function mins(x) { return x === null || x === undefined ? '–' : x.toFixed(1); }
    function signed(s, x) { return x === null || x === undefined ? '–' : (x > 0 ? '+' : '') + s; }

    function render(body) {
      var rows = [[T.covered, 'covered', pct, true], [T.cross, 'cross_covered', pct, true],
                  [T.people, 'covered_people', num, false], [T.uncovered, 'uncovered_people', num, false],
                  [T.median, 'median_minutes', mins, false]];
      table.textContent = '';
      rows.forEach(function (r) {
        var tr = el('tr', { 'data-figure': r[1] });
        var d = body.change[r[1]];
        tr.appendChild(el('td', null, r[0]));
        tr.appendChild(el('td', { 'class': 'current' }, r[2](body.current[r[1]])));
        tr.appendChild(el('td', { 'class': 'scenario' }, r[2](body.scenario[r[1]])));
        tr.appendChild(el('td', { 'class': 'change' }, signed(r[3] ? pct(d) : (r[2] === mins ? mins(d) : num(d)), d)));
        table.appendChild(tr);
      });
      if (scenarioGaps) { map.removeLayer(scenarioGaps); scenarioGaps = null; }
      var active = S.added.length || Object.keys(S.without).length;
      if (gapsLayer) { if (active) { map.removeLayer(gapsLayer); } else if (!map.hasLayer(gapsLayer)) { map.addLayer(gapsLayer); } }
      if (active) {
        scenarioGaps = L.geoJSON(body.gaps, { style: { color: '#b2182b', weight: 2, dashArray: '6 4', fill: false },
                                              className: 'whatif-gap' }).addTo(map);
      }
    }

    function update() {
      var seq = ++S.seq;
      var t0 = performance.now();
      status.textContent = T.working;
      fetch(cfg.api + query(), { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (seq !== S.seq) { return; }   // a later change is on its way
          if (!res.ok) {
            status.textContent = T.failed + ': ' + ((res.body.error && (res.body.error.display_message || res.body.error.message)) || '');
            return;
          }
          render(res.body);
          status.textContent = '';
          S.lastMs = performance.now() - t0;
          panel.setAttribute('data-updated', String(seq));
        })
        .catch(function () { if (seq === S.seq) { status.textContent = T.failed; } });
    }

    changed();
    return true;
  }

  if (!start()) { window.addEventListener('load', start); }
}());
