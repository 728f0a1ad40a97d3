/* stationmap courier finder.
 *
 * Started by the folium map (stationmap/maps/finder.py) with
 * stationmapFinder.init(map, config, refs).  It
 *  - loads the stations as GeoJSON from the JSON API and draws them, clustered;
 *  - draws the district boundaries (works when no tiles load: offline, intranet);
 *  - sets "my position" from the browser's geolocation, a deliberate act on the
 *    map ("set my position here" in the popup a tap opens, a long press, dragging
 *    the position marker) or ?lat=&lon= (WGS-84) in the page URL, then asks /api/v1/nearest for the
 *    nearest stations and shows them with the reach circle;
 *  - applies the filter chips (kind, services, open now) and the travel mode.
 *
 * Coordinates are kept in WGS-84 and converted only to draw: over a GCJ-02
 * base map (Amap) everything is shifted to GCJ-02, and clicks are shifted back.
 * Stored text (names, addresses) only ever reaches the page through
 * textContent / setAttribute, never as HTML.
 */
(function () {
  'use strict';

  // ---- datums: a port of stationmap/coords.py (WGS-84 <-> GCJ-02) ----------
  var A = 6378245.0;
  var EE = 0.00669342162296594323;

  function inChina(lon, lat) {
    return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
  }

  function gcjDelta(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    var sq = Math.sqrt(Math.abs(x));
    var common = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq + common;
    dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq + common;
    dlon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dlon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var radlat = lat / 180.0 * PI;
    var magic = 1.0 - EE * Math.sin(radlat) * Math.sin(radlat);
    var sm = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sm) * PI);
    dlon = (dlon * 180.0) / (A / sm * Math.cos(radlat) * PI);
    return [dlon, dlat];
  }

  function wgs2gcj(lon, lat) {
    if (!inChina(lon, lat)) { return [lon, lat]; }
    var d = gcjDelta(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  function gcj2wgs(lon, lat) {
    var wlon = lon, wlat = lat;
    for (var i = 0; i < 30; i++) {
      var f = wgs2gcj(wlon, wlat);
      var elon = f[0] - lon, elat = f[1] - lat;
      wlon -= elon; wlat -= elat;
      if (Math.abs(elon) < 1e-9 && Math.abs(elat) < 1e-9) { break; }
    }
    return [wlon, wlat];
  }

  // ---- small DOM helpers (text only, never HTML) ---------------------------
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== null && attrs[k] !== undefined) { e.setAttribute(k, attrs[k]); }
      });
    }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function safeHref(url) {
    url = String(url || '');
    return (/^https:\/\//.test(url) || /^\/(?!\/)/.test(url)) ? url : null;
  }

  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_, k) {
      return values[k] === undefined ? '' : String(values[k]);
    });
  }

  // -- when: open until, opens at (the API's closes_at / opens_at, RFC 3339 in +08:00) --
  var DAY_MS = 86400000;
  function shanghaiDay(d) {  // YYYY-MM-DD of a Date in Asia/Shanghai
    return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
  }
  function dayDiff(fromDay, toDay) {  // whole days between two YYYY-MM-DD
    return Math.round((Date.UTC(+toDay.slice(0, 4), +toDay.slice(5, 7) - 1, +toDay.slice(8, 10)) -
                       Date.UTC(+fromDay.slice(0, 4), +fromDay.slice(5, 7) - 1, +fromDay.slice(8, 10))) / DAY_MS);
  }

  function whenWords(cfg) {
    var T = cfg.strings;
    var dateFmt = new Intl.DateTimeFormat(cfg.lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', month: 'long', day: 'numeric' });
    function at(ts, today) {  // "20:00", "明天 06:00", "11月1日 07:00"
      var hm = ts.slice(11, 16), days = dayDiff(today, ts.slice(0, 10));
      if (days <= 0) { return hm; }
      return fmt(days === 1 ? T.tomorrow_at : T.date_at, { d: dateFmt.format(new Date(ts)), t: hm });
    }
    // the words for a station's properties at the moment whose day is `today` (YYYY-MM-DD)
    return function (p, today) {
      if (p.open_now) { return p.closes_at ? fmt(T.open_until, { t: at(p.closes_at, today) }) : T.open_always; }
      if (!p.opens_at) { return p.status === 'closed' ? T.closed_for_good : T.not_opening; }
      if (dayDiff(today, p.opens_at.slice(0, 10)) > 6) {
        var season = (p.kinds || []).indexOf('hot_tea') >= 0 && p.status === 'active' ? T.hot_tea_season : '';
        return fmt(T.opens_from, { d: dateFmt.format(new Date(p.opens_at)) }) + season;
      }
      return fmt(T.opens_at, { t: at(p.opens_at, today) });
    };
  }

  // ---- what a map without tiles still has: district outlines (the finder, and the station form's
  // picker, static/js/admin-picker.js) ----------------------------------------------------------------

  // the district outlines (GeoJSON in WGS-84) as a backdrop layer; disp(lat, lon) -> the base map's datum
  function outlines(geojson, disp) {
    return L.geoJSON(geojson, {
      coordsToLatLng: function (c) { return disp(c[1], c[0]); },
      style: { color: '#5b6b7a', weight: 1.2, opacity: 0.8, fill: true, fillColor: '#eef1f4', fillOpacity: 0.25 },
      interactive: false
    });
  }

  // call onFail once the base map `layer` (a tile layer or a group of them) fails to load a tile.
  // Tiles start loading before the scripts run, so look for ones that already failed, and listen for the rest.
  function watchTiles(map, layer, onFail) {
    var layers = layer.eachLayer ? [] : [layer];
    if (layer.eachLayer) { layer.eachLayer(function (l) { layers.push(l); }); }
    var broken = false;
    layers.forEach(function (l) {
      l.on('tileerror', onFail);
      Object.keys(l._tiles || {}).forEach(function (key) {
        var img = l._tiles[key].el;
        if (img && img.complete && !img.naturalWidth) { broken = true; }
      });
    });
    if (broken && map.hasLayer(layer)) { onFail(); }
  }

  // a note at the bottom left of the map; a tap hides it
  function notice(map, text) {
    var Notice = L.Control.extend({
      onAdd: function () {
        var box = el('div', { 'class': 'sm-notice', role: 'note' }, text);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.on(box, 'click', function () { box.style.display = 'none'; });
        return box;
      }
    });
    return new Notice({ position: 'bottomleft' }).addTo(map);
  }

  function init(map, cfg, refs) {
    var S = {
      map: map, cfg: cfg, refs: refs, datum: 'wgs84', pos: null, posSource: null,
      features: [], markers: [], markerById: {}, boundaries: null, boundaryLayer: null,
      filters: { kind: {}, service: {}, open_now: false }, mode: cfg.mode, req: 0,
      posLayer: L.layerGroup(), tileNotice: false
    };
    F.state = S;
    // filters preset by the configuration (an embed's kinds and services), in place before the first query
    ['kind', 'service'].forEach(function (f) {
      ((cfg.filters || {})[f] || []).forEach(function (v) { S.filters[f][v] = true; });
    });
    var T = cfg.strings;
    var whenText = whenWords(cfg);
    var statusEl = document.getElementById('finder-status');
    var listEl = document.getElementById('nearest-list');
    var countEl = document.getElementById('marker-count');
    var root = document.documentElement;

    function status(text, warn) {
      if (!statusEl) { return; }
      statusEl.textContent = text || '';
      statusEl.classList.toggle('warn', !!warn);
    }

    // -- datum of the base map on show --
    refs.bases.forEach(function (b) { if (map.hasLayer(b.layer)) { S.datum = b.datum; } });
    root.dataset.datum = S.datum;

    function disp(lat, lon) {
      if (S.datum === 'gcj02') { var g = wgs2gcj(lon, lat); return L.latLng(g[1], g[0]); }
      return L.latLng(lat, lon);
    }
    function fromDisp(latlng) {
      if (S.datum === 'gcj02') { var w = gcj2wgs(latlng.lng, latlng.lat); return { lat: w[1], lon: w[0] }; }
      return { lat: latlng.lat, lon: latlng.lng };
    }
    F.disp = disp;
    F.fromDisp = fromDisp;

    // the initial centre was given in WGS-84
    if (S.datum === 'gcj02') { map.setView(disp(map.getCenter().lat, map.getCenter().lng), map.getZoom(), { animate: false }); }
    // an embed with no centre and zoom in its URL fits its district (WGS-84 bounds), before anything
    // asks for what the screen shows (by tile: the district's tiles, not the default view's first)
    var fit = cfg.embed && cfg.embed.fit_bounds;
    if (fit) { map.fitBounds(L.latLngBounds(disp(fit[1], fit[0]), disp(fit[3], fit[2])), { animate: false, padding: [8, 8] }); }

    map.on('baselayerchange', function (e) {
      var b = refs.bases.filter(function (x) { return x.layer === e.layer; })[0];
      if (!b || b.datum === S.datum) { return; }
      var centre = fromDisp(map.getCenter());
      S.datum = b.datum;
      root.dataset.datum = S.datum;
      map.setView(disp(centre.lat, centre.lon), map.getZoom(), { animate: false });
      redrawAll();
    });

    // -- base maps that cannot load (offline, intranet) --
    // Tiles start loading before this script runs, so look for ones that already
    // failed, and listen for the rest.
    refs.bases.forEach(function (b) { watchTiles(map, b.layer, tilesFailed); });
    function tilesFailed() {
        if (S.tileNotice) { return; }
        S.tileNotice = true;
        root.dataset.tiles = 'failed';
        notice(map, T.tiles_failed);
    }

    // -- popups open clear of the map's controls (zoom, locate, layers, notices, attribution) --
    // autoPan pads the popup away from the corners' control stacks, measured when it opens.
    function controlPadding() {
      var box = map.getContainer().getBoundingClientRect();
      var top = 0, bottom = 0;
      ['top', 'bottom'].forEach(function (side) {
        Array.prototype.forEach.call(map.getContainer().querySelectorAll('.leaflet-' + side + ' .leaflet-control'), function (c) {
          var r = c.getBoundingClientRect();
          if (!r.width || !r.height) { return; }
          if (side === 'top') { top = Math.max(top, r.bottom - box.top); } else { bottom = Math.max(bottom, box.bottom - r.top); }
        });
      });
      return { tl: L.point(8, Math.ceil(top) + 8), br: L.point(8, Math.ceil(bottom) + 8) };
    }
    function padded(options) {
      var pad = controlPadding();
      options.autoPan = true;
      options.autoPanPaddingTopLeft = pad.tl;
      options.autoPanPaddingBottomRight = pad.br;
      return options;
    }
    F.controlPadding = controlPadding;

    // -- icons per kind --
    var icons = {};
    var kindOrder = Object.keys(cfg.kinds);
    function primaryKind(kinds) {
      for (var i = 0; i < kindOrder.length; i++) { if (kinds.indexOf(kindOrder[i]) >= 0) { return kindOrder[i]; } }
      return kindOrder[0];
    }
    // a neighbouring district's station (an embed's scope, neighbour: true) is drawn apart: sm-neighbour
    function iconFor(kind, neighbour) {
      var key = kind + (neighbour ? ':n' : '');
      if (!icons[key]) {
        var k = cfg.kinds[kind];
        var html = '<div class="sm-pin" style="background:' + k.color + '"><img alt="" src="' + k.icon + '"></div>';
        icons[key] = L.divIcon({ html: html, className: 'sm-marker sm-kind-' + kind + (neighbour ? ' sm-neighbour' : ''),
                                 iconSize: [28, 28], iconAnchor: [14, 32], popupAnchor: [0, -30], tooltipAnchor: [12, -18] });
      }
      return icons[key];
    }
    function neighbourTag() { return el('span', { 'class': 'tag-neighbour', title: T.neighbour_title }, T.neighbour); }

    // A station's name as the page's reader sees it: in English the API's display_name (asked with
    // lang=en: the given English name, else pinyin, marked as such), with the Chinese name beside it,
    // the one on the station's sign.  Appends to `box`; the first node gets `attrs` (a link, a button).
    function shownName(p) { return p.display_name || p.name; }
    function appendName(box, p, tag, attrs) {
      var main = el(tag, attrs, shownName(p));
      main.setAttribute('data-name-source', p.display_name_source || 'name');
      box.appendChild(main);
      if (p.display_name_source === 'pinyin') { box.appendChild(el('small', { 'class': 'name-source' }, T.pinyin)); }
      if (p.display_name && p.display_name !== p.name) { box.appendChild(el('span', { 'class': 'name-zh', lang: 'zh' }, p.name)); }
      return main;
    }
    function nameLine(p) {  // the same in one line of text (a tooltip)
      var out = shownName(p);
      if (p.display_name_source === 'pinyin') { out += ' ' + T.pinyin; }
      if (p.display_name && p.display_name !== p.name) { out += ' · ' + p.name; }
      return out;
    }
    // the API's message in the page's language (asked with lang=): display_message, else message
    function apiMessage(d) { return d && d.error && (d.error.display_message || d.error.message); }

    function serviceIcons(services) {
      var span = el('span', { 'class': 'st-svc' });
      cfg.key_services.forEach(function (s) {
        if (services.indexOf(s) < 0) { return; }
        var meta = cfg.services[s];
        span.appendChild(el('img', { src: meta.icon, alt: meta.label, title: meta.label, width: 16, height: 16 }));
      });
      return span;
    }

    function navButtons(nav) {
      var p = el('div', { 'class': 'st-nav' });
      ['amap', 'baidu', 'apple'].forEach(function (app) {
        var href = nav && safeHref(nav[app]);
        if (!href) { return; }
        p.appendChild(el('a', { 'class': 'btn nav-' + app, href: href, target: '_blank', rel: 'noopener' }, T[app]));
      });
      return p;
    }

    // Station details (name, nav links) are fetched when a popup or tooltip opens:
    // the marker layer carries only kinds, services and open-now, to stay small.
    var detailCache = {};
    function details(id) {
      if (!detailCache[id]) {
        detailCache[id] = fetch(cfg.urls.station_api + encodeURIComponent(id) + '?mode=' + encodeURIComponent(S.mode) +
                                '&lang=' + encodeURIComponent(cfg.lang))
          .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
          .catch(function (err) { delete detailCache[id]; throw err; });
      }
      return detailCache[id];
    }

    // when and how the station was last confirmed, and its open problems (the API's freshness)
    function freshnessLine(fr) {
      if (!fr || !fr.text) { return null; }
      var line = el('div', { 'class': 'st-fresh' + (fr.open_problems ? ' has-problems' : '') }, fr.text[cfg.lang] || fr.text.zh);
      if (fr.problems_text) { line.appendChild(el('span', { 'class': 'st-problems' }, ' · ' + (fr.problems_text[cfg.lang] || fr.problems_text.zh))); }
      return line;
    }

    function stationPage(id) { return safeHref(cfg.urls.station_page + encodeURIComponent(id)); }

    function popupFor(f, marker) {
      var p = f.properties;
      var box = el('div', { 'class': 'sm-popup' });
      var nameBox = el('div', { 'class': 'st-title' });
      var name = el('a', { 'class': 'st-name', href: stationPage(f.id) }, '…');
      nameBox.appendChild(name);
      box.appendChild(nameBox);
      if (p.neighbour) { box.appendChild(neighbourTag()); }
      var facts = el('div', { 'class': 'st-facts' });
      facts.appendChild(el('span', null, p.kinds.map(function (k) { return (cfg.kinds[k] || { label: k }).label; }).join(' · ')));
      facts.appendChild(el('span', { 'class': 'badge ' + (p.open_now ? 'open' : 'closed') }, p.open_now ? T.open : T.closed));
      facts.appendChild(serviceIcons(p.services || []));
      box.appendChild(facts);
      var navBox = el('div');
      box.appendChild(navBox);
      details(f.id).then(function (d) {
        nameBox.textContent = '';
        appendName(nameBox, d.properties, 'a', { 'class': 'st-name', href: stationPage(f.id) });
        facts.appendChild(el('span', { 'class': 'when' }, whenText(d.properties, shanghaiDay(new Date()))));
        var fr = freshnessLine(d.properties.freshness);
        if (fr) { box.insertBefore(fr, navBox); }
        navBox.appendChild(navButtons(d.properties.nav));
        // the popup grew: lay it out again and pan it clear of the controls
        var pp = marker && marker.getPopup();
        if (pp && pp.isOpen() && pp.getContent() === box) { pp.update(); }
      }).catch(function () { name.textContent = T.details; });
      return box;
    }

    var names = {};
    function nameTooltip(layer) {
      var id = layer.feature.id;
      if (names[id] !== undefined) {
        return el('span', null, names[id] + (layer.feature.properties.neighbour ? ' · ' + T.neighbour : ''));
      }
      details(id).then(function (d) {
        names[id] = nameLine(d.properties);
        var tip = layer.getTooltip();
        if (tip && tip.isOpen()) { tip.update(); }  // calls nameTooltip again, which now knows the name
      }).catch(function () { /* keep the ellipsis */ });
      return el('span', null, '…');
    }

    // Popups and tooltips are bound on a marker's first click / hover (through the
    // cluster group's events), not up front for thousands of markers.
    function bindPopupOnce(m) {
      if (!m.getPopup()) { m.bindPopup('', { maxWidth: 260 }); }
    }
    function bindTooltipOnce(m) {
      if (!m.getTooltip()) { m.bindTooltip(nameTooltip, { direction: 'top' }); }
    }
    function onMarkerClick(e) {
      if (e.layer && e.layer.feature && !e.layer.getPopup()) { e.layer.openPopup(); }
    }
    function onMarkerOver(e) {
      if (e.layer && e.layer.feature && !e.layer.getTooltip()) { bindTooltipOnce(e.layer); e.layer.openTooltip(); }
    }
    refs.cluster.on('click', onMarkerClick);
    refs.cluster.on('mouseover', onMarkerOver);
    F.openPopup = function (id) { var m = S.listed[id] || S.markerById[id]; if (m) { m.openPopup(); } };
    F.openTooltip = function (id) { var m = S.listed[id] || S.markerById[id]; if (m) { m.openTooltip(); } };
    F.appendName = appendName;   // (embed.js's district list)
    // what static/js/finder-along.js ("顺路找驿站") builds its list and popups with
    F.ui = { el: el, fmt: fmt, navButtons: navButtons, whenText: whenText, serviceIcons: serviceIcons,
             apiMessage: apiMessage, primaryKind: primaryKind, stationPage: stationPage, padded: padded };

    // openPopup / openTooltip also work on a marker not yet bound (embed.js calls them)
    var StationMarker = L.Marker.extend({
      openPopup: function (latlng) {
        bindPopupOnce(this);
        padded(this.getPopup().options);  // the controls as they are now (a notice may have come or gone)
        this.getPopup().setContent(popupFor(this.feature, this));  // fresh each time: names, hours, links
        return L.Marker.prototype.openPopup.call(this, latlng);
      },
      onAdd: function (m) {
        L.Marker.prototype.onAdd.call(this, m);
        if (this._icon) {
          this._icon.setAttribute('data-id', this.feature.id);
          L.DomUtil[this.options.pane === LISTED_PANE ? 'addClass' : 'removeClass'](this._icon, 'sm-listed');
        }
        return this;
      },
      openTooltip: function (latlng) { bindTooltipOnce(this); return L.Marker.prototype.openTooltip.call(this, latlng); }
    });

    function buildMarkers() {
      S.markers = S.features.map(function (f) {
        var c = f.geometry.coordinates;
        var m = new StationMarker(disp(c[1], c[0]), { icon: iconFor(primaryKind(f.properties.kinds), f.properties.neighbour),
                                                      keyboard: false });
        m.feature = f;
        S.markerById[f.id] = m;
        return m;
      });
    }

    function matches(p) {
      var kinds = Object.keys(S.filters.kind), services = Object.keys(S.filters.service);
      if (kinds.length && !kinds.some(function (k) { return p.kinds.indexOf(k) >= 0; })) { return false; }
      if (services.length && !services.every(function (s) { return p.services.indexOf(s) >= 0; })) { return false; }
      if (S.filters.open_now && !p.open_now) { return false; }
      return true;
    }

    // The stations the list names are drawn each on its own, never inside a cluster (S.listLayer):
    // at first paint every listed station is a marker on the map.
    // their own pane, above the clusters; their icons do not slide with the clusters' animations (CSS)
    var LISTED_PANE = 'smListed';
    map.createPane(LISTED_PANE).style.zIndex = 640;
    S.listLayer = L.featureGroup().addTo(map);
    // their popups and tooltips are bound on first use, as the clustered markers' are
    S.listLayer.on('click', onMarkerClick);
    S.listLayer.on('mouseover', onMarkerOver);
    S.listed = {};
    function showMarkers() {
      if (cfg.tiles) { return tiles.reload(); }
      var cluster = refs.cluster;
      cluster.clearLayers();
      // (the listed markers stay where they are: a popup open on one stays open when the layer
      // arrives after the list, as it does when the URL gives the position)
      var shown = S.markers.filter(function (m) { return matches(m.feature.properties); });
      shown.forEach(function (m) {
        var c = m.feature.geometry.coordinates;
        m.setLatLng(disp(c[1], c[0]));
      });
      cluster.addLayers(shown.filter(function (m) { return !S.listed[m.feature.id]; }));
      Object.keys(S.listed).forEach(function (id) {
        var m = S.listed[id], c = m.feature.geometry.coordinates;
        m.setLatLng(disp(c[1], c[0]));
        if (!S.listLayer.hasLayer(m)) { S.listLayer.addLayer(m); }
      });
      root.dataset.markers = String(shown.length);
      if (countEl) { countEl.textContent = fmt(T.count, { n: shown.length }); }
      return shown.length;
    }

    // -- district boundaries (drawn whatever the tiles do) --
    function drawBoundaries() {
      if (!S.boundaries) { return; }
      var wasShown = !S.boundaryLayer || map.hasLayer(S.boundaryLayer);
      if (S.boundaryLayer) { refs.layers.removeLayer(S.boundaryLayer); map.removeLayer(S.boundaryLayer); }
      S.boundaryLayer = outlines(S.boundaries, disp);
      if (wasShown) { S.boundaryLayer.addTo(map); S.boundaryLayer.bringToBack(); }
      refs.layers.addOverlay(S.boundaryLayer, T.boundaries);
    }

    // -- my position and the nearest stations --
    function drawPosition(radius) {
      S.posLayer.clearLayers();
      if (!S.pos) { return; }
      var ll = disp(S.pos.lat, S.pos.lon);
      if (S.area && S.area.pos === S.pos) {
        // the isochrone (road network), WGS-84 shifted like everything else
        L.geoJSON(S.area.feature, {
          coordsToLatLng: function (c) { return disp(c[1], c[0]); },
          style: { className: 'sm-reach-area', color: '#1a73e8', weight: 1.5, fillOpacity: 0.08 },
          interactive: false
        }).addTo(S.posLayer);
      } else if (radius) {
        L.circle(ll, { radius: radius, color: '#1a73e8', weight: 1.5, fillOpacity: 0.08, interactive: false }).addTo(S.posLayer);
      }
      // the position marker can be dragged to a new position
      L.marker(ll, { icon: L.divIcon({ className: 'sm-pos-icon', html: '<div class="sm-pos"></div>', iconSize: [24, 24] }),
                     draggable: true, keyboard: false, title: T.my_position, autoPan: true })
        .on('dragend', function (e) { moveHere(e.target.getLatLng()); })
        .addTo(S.posLayer);
    }
    S.posLayer.addTo(map);

    function formatDistance(m) {
      return m < 1000 ? fmt(T.metres, { n: Math.round(m) }) : fmt(T.kilometres, { n: (m / 1000).toFixed(m < 10000 ? 1 : 0) });
    }

    // the reach area: the isochrone where a road network covers the position
    function loadArea(data, q, my) {
      if (data.method !== 'network') { root.dataset.reach = 'circle'; return; }
      var pos = S.pos;
      var rq = new URLSearchParams();
      ['lat', 'lon', 'mode', 'minutes', 'lang'].forEach(function (k) { rq.set(k, q.get(k)); });
      fetch(cfg.urls.reach + '?' + rq.toString())
        .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
        .then(function (d) {
          if (my !== S.req || pos !== S.pos) { return; }
          S.area = { pos: pos, feature: d.features[0] };
          drawPosition(S.radius);
          root.dataset.reach = d.method;
        })
        .catch(function () { /* keep the circle */ });
    }

    // the listed stations leave the clusters for S.listLayer; the ones no longer listed go back.
    // A listed station the marker layer does not hold (temporarily closed, not yet loaded) gets
    // a marker made from its list entry.
    function pinListed(features) {
      var now = {}, markers = [];
      features.forEach(function (f) {
        var id = f.properties.id, m = S.markerById[id];
        if (!m) {
          var c = f.geometry.coordinates;
          m = new StationMarker(disp(c[1], c[0]), { icon: iconFor(primaryKind(f.properties.kinds), f.properties.neighbour),
                                                    keyboard: false });
          m.feature = { type: 'Feature', id: id, geometry: f.geometry, properties: f.properties };
        }
        now[id] = m;
        markers.push(m);
      });
      Object.keys(S.listed).forEach(function (id) {
        var m = S.listed[id];
        if (now[id] === m) { return; }
        S.listLayer.removeLayer(m);
        m.options.pane = 'markerPane';
        if (S.markerById[id] === m && matches(m.feature.properties)) { homeLayer(m).addLayer(m); }
      });
      markers.forEach(function (m) {
        if (homeLayer(m).hasLayer(m)) { homeLayer(m).removeLayer(m); }
        if (m.options.pane !== LISTED_PANE) { S.listLayer.removeLayer(m); m.options.pane = LISTED_PANE; }
        S.listLayer.addLayer(m);
      });
      S.listed = now;
      root.dataset.listed = String(markers.length);
    }
    F.pinListed = pinListed;

    // the position and its listed stations in view (zooms out only when one is not, except for a
    // located position's first answer, which fits them); a marker's icon stands 32 px above its point
    var FIT_TL = L.point(28, 44), FIT_BR = L.point(28, 12);
    function showListed(features) {
      var pts = features.map(function (f) { return disp(f.geometry.coordinates[1], f.geometry.coordinates[0]); });
      pts.push(disp(S.pos.lat, S.pos.lon));
      var inner = L.bounds(FIT_TL, map.getSize().subtract(FIT_BR));
      var inView = pts.every(function (ll) { return inner.contains(map.latLngToContainerPoint(ll)); });
      if (!S.fitNext && inView) { return; }
      S.fitNext = false;
      map.fitBounds(L.latLngBounds(pts), { maxZoom: 16, animate: false, paddingTopLeft: FIT_TL, paddingBottomRight: FIT_BR });
    }

    function renderList(data) {
      listEl.textContent = '';
      inAppHint(data.in_app_browser);
      if (window.performance && performance.mark && !performance.getEntriesByName('stationmap-list').length) {
        performance.mark('stationmap-list');  // the first stations listed (benchmarks/bench_slow3g.py)
      }
      S.radius = data.reach.radius_m;
      drawPosition(S.radius);
      pinListed(data.features);
      // nothing of the asked kind within the limit: the answer says so, and names the nearest (none_within)
      var none = data.none_within && data.none_within.message && data.none_within.message[cfg.lang];
      root.dataset.noneWithin = none ? '1' : '0';
      if (!data.features.length) { status(none || T.no_results, !!none); return; }
      showListed(data.features);
      // the road data's credit on the map while its results are shown
      // (Leaflet writes an attribution as HTML: the credit goes in as text)
      var credit = data.network_licence ? String(data.network_licence).replace(/&/g, '&amp;').replace(/</g, '&lt;')
        .replace(/>/g, '&gt;') : null;
      if (credit && map.attributionControl && S.credit !== credit) {
        if (S.credit) { map.attributionControl.removeAttribution(S.credit); }
        map.attributionControl.addAttribution(credit);
        S.credit = credit;
      }
      // a road network without one-way data: its times are optimistic, and the page says so
      root.dataset.oneway = data.oneway_respected === false ? 'unknown' : (data.oneway_respected ? 'respected' : '');
      status((none || fmt(T.reach, { mode: cfg.modes[S.mode], m: data.query.minutes })) +
             (data.oneway_respected === false ? ' ' + T.oneway_unknown : ''), !!none);
      data.features.forEach(function (f) {
        var p = f.properties;
        var li = el('li', { 'class': 'station' + (p.within_minutes ? ' within' : ' outside') + (p.open_now ? '' : ' shut'),
                            'data-id': p.id, 'data-open': p.open_now ? '1' : '0' });
        var head = el('div', { 'class': 'st-head' });
        var kind = cfg.kinds[primaryKind(p.kinds)];
        var dot = el('span', { 'class': 'st-kind', title: kind.label });
        dot.style.background = kind.color;
        head.appendChild(dot);
        appendName(head, p, 'a', { 'class': 'st-name', href: safeHref(p.url) });
        head.appendChild(el('span', { 'class': 'badge ' + (p.open_now ? 'open' : 'closed') }, p.open_now ? T.open : T.closed));
        if (p.neighbour) { head.appendChild(neighbourTag()); li.classList.add('neighbour'); }
        if (p.sample) { head.appendChild(el('span', { 'class': 'tag-sample' }, T.sample)); }
        li.appendChild(head);
        var facts = el('div', { 'class': 'st-facts' });
        // which distance it is: along the roads (a road network covers the position) or the straight line
        var onRoads = data.reach.method === 'network';
        facts.appendChild(el('span', { 'class': 'dist', 'data-kind': onRoads ? 'roads' : 'straight' },
                             fmt(onRoads ? T.dist_roads : T.dist_straight, { d: formatDistance(p.distance_m) })));
        if (onRoads && p.straight_m !== undefined) {
          facts.appendChild(el('span', { 'class': 'dist-straight' }, fmt(T.dist_straight, { d: formatDistance(p.straight_m) })));
        }
        facts.appendChild(el('span', { 'class': 'mins' }, fmt(T.minutes, { n: Math.max(1, Math.round(p.minutes)) })));
        if (data.offline) { facts.appendChild(el('span', { 'class': 'tag-offline' }, T.offline_estimate)); }
        facts.appendChild(serviceIcons(p.services));
        li.appendChild(facts);
        li.appendChild(el('div', { 'class': 'when' }, p.hours_known === false
          ? fmt(T.hours_unknown, { h: p.opening_hours }) : whenText(p, data.query.at.slice(0, 10))));
        var fr = freshnessLine(p.freshness);
        if (fr) { li.appendChild(fr); }
        li.appendChild(navButtons(p.nav));
        li.addEventListener('click', function (ev) {
          if (ev.target.closest('a')) { return; }
          var m = S.listed[p.id] || S.markerById[p.id];
          if (m && S.listLayer.hasLayer(m)) { m.openPopup(); }
          else if (m && refs.cluster.hasLayer(m)) { refs.cluster.zoomToShowLayer(m, function () { F.openPopup(p.id); }); }
        });
        listEl.appendChild(li);
      });
    }

    // inside WeChat, QQ, ... (the API says which): the links are web pages, and a note says how to
    // get to the apps (open the page in the browser)
    function inAppHint(which) {
      var hint = document.getElementById('nav-inapp-hint');
      if (!which) { if (hint) { hint.remove(); } return; }
      if (!hint) {
        hint = el('p', { id: 'nav-inapp-hint', 'class': 'nav-inapp-hint', role: 'note', 'data-browser': which }, T.open_in_browser);
        listEl.parentNode.insertBefore(hint, listEl);
      }
    }

    function query() {
      if (!S.pos) { return; }
      var q = new URLSearchParams();
      q.set('lat', S.pos.lat.toFixed(6));
      q.set('lon', S.pos.lon.toFixed(6));
      q.set('k', String(cfg.k));
      q.set('mode', S.mode);
      q.set('minutes', String(cfg.minutes));
      q.set('lang', cfg.lang);   // English names (display_name) and error messages in the page's language
      Object.keys(cfg.nearest_query || {}).forEach(function (k) { q.set(k, cfg.nearest_query[k]); });
      Object.keys(S.filters.kind).forEach(function (k) { q.append('kind', k); });
      Object.keys(S.filters.service).forEach(function (s) { q.append('service', s); });
      // open now first, the closed ones after them with when they open; the chip: open ones only
      if (S.filters.open_now) { q.set('open_now', 'true'); } else { q.set('order', 'open_first'); }
      var my = ++S.req;
      listEl.setAttribute('aria-busy', 'true');
      S.lastQuery = firstAnswer(q.toString())
        .then(function (res) {
          if (my !== S.req) { return; }
          listEl.removeAttribute('aria-busy');
          if (!res.ok) { status(apiMessage(res.d) || T.load_failed, true); return; }
          renderList(res.d);
          loadArea(res.d, q, my);
          listEl.dataset.query = q.toString();
          root.dataset.listVersion = String(my);
          root.dataset.listSource = 'server';
          keepArea();
        })
        .catch(function () {
          if (my !== S.req) { return; }
          listEl.removeAttribute('aria-busy');
          if (!offlineList(my)) { status(T.load_failed, true); }
        });
      return S.lastQuery;
    }

    // The page's own answer to its first question (the server put it in the page, with the list
    // drawn from it, when the URL gave the position: shown before any script; templates/finder.html),
    // used once if it is that question and fresh, and not with no network (then the page is the copy
    // kept for offline use, and its answer an old one); else the API's.
    function firstAnswer(query) {
      var first = document.getElementById('first-nearest');
      if (first) {
        first.remove();
        var d = null;
        try { d = JSON.parse(first.textContent); } catch (e) { d = null; }
        var age = d && d.query && d.query.at ? Date.now() - Date.parse(d.query.at) : Infinity;
        if (d && navigator.onLine && first.getAttribute('data-query') === query && age >= -60000 && age < 120000) {
          return Promise.resolve({ ok: true, d: d });
        }
      }
      return fetch(cfg.urls.nearest + '?' + query)
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); });
    }

    // -- with no network: the area kept on the device (static/js/offline.js) --
    var OFF = window.stationmapOffline;
    // (after the marker layer: on a slow connection the area waits for what is on show)
    function keepArea() {
      if (!OFF || !cfg.urls.offline || !S.pos) { return; }
      if (root.dataset.markersSource === undefined) { S.areaPending = true; return; }
      S.areaPending = false;
      OFF.remember(cfg, S.pos).catch(function () { /* kept next time */ });
    }
    // the nearest stations ranked on the device, labelled as an offline estimate; false without an area
    function offlineList(my) {
      var data = OFF && OFF.nearest({ pos: S.pos, mode: S.mode, k: cfg.k, minutes: cfg.minutes,
                                      kinds: Object.keys(S.filters.kind), services: Object.keys(S.filters.service),
                                      open_now: S.filters.open_now });
      if (!data) { status(T.offline_none, true); return false; }
      renderList(data);
      status(fmt(T.offline_status, { n: data.area_size, age: ageWords(Date.now() - data.saved_at) }), true);
      root.dataset.listVersion = String(my);
      root.dataset.listSource = 'offline';
      return true;
    }
    function ageWords(ms) {
      var min = Math.max(1, Math.round(ms / 60000));
      if (min < 60) { return fmt(T.age_minutes, { n: min }); }
      if (min < 48 * 60) { return fmt(T.age_hours, { n: Math.round(min / 60) }); }
      return fmt(T.age_days, { n: Math.round(min / 1440) });
    }
    // back online: the list from the server again, and the area kept refreshed
    window.addEventListener('online', function () {
      if (root.dataset.listSource === 'offline') { query(); }
      if (root.dataset.markersSource === 'offline') { loadStations(); }
    });

    function setPosition(pos, source, pan) {
      if (S.pos && source === 'locate' && S.posSource === 'locate') {
        // a watched position that barely moved: keep the list
        var d = map.distance(L.latLng(S.pos.lat, S.pos.lon), L.latLng(pos.lat, pos.lon));
        if (d < 30) { return; }
      }
      S.pos = { lat: pos.lat, lon: pos.lon };
      S.posSource = source;
      unknownPosition(false);
      root.dataset.position = S.pos.lat.toFixed(6) + ',' + S.pos.lon.toFixed(6);
      drawPosition(S.radius);
      if (pan) { map.setView(disp(pos.lat, pos.lon), Math.max(map.getZoom(), 14), { animate: false }); S.fitNext = true; }
      query();
    }
    F.setPosition = function (lat, lon) { setPosition({ lat: lat, lon: lon }, 'api', true); };

    // "My position" moves only by a deliberate act: the "set my position here" button of the
    // popup a tap on the map opens, a long press (contextmenu), or dragging the position marker.
    // A tap that closes something (a popup, the expanded layer list) does nothing else.
    var closingTap = false;
    map.on('preclick', function () {
      // runs before Leaflet closes the open popup on this tap (handlers fire in the order added)
      var layers = map.getContainer().querySelector('.leaflet-control-layers-expanded');
      closingTap = !!(S.popup || layers);
    });
    map.on('popupopen', function (e) { S.popup = e.popup; });
    map.on('popupclose', function (e) { if (S.popup === e.popup) { S.popup = null; } });
    function moveHere(latlng) {
      if (refs.locate && refs.locate._active) { refs.locate.stop(); }
      map.closePopup();
      setPosition(fromDisp(latlng), 'pick', false);
    }
    function offerPosition(latlng) {
      var box = el('div', { 'class': 'sm-setpos' });
      var btn = el('button', { type: 'button', 'class': 'btn sm-setpos-btn' }, T.set_position);
      btn.addEventListener('click', function () { moveHere(latlng); });
      box.appendChild(btn);
      var popup = L.popup(padded({ closeButton: true, className: 'sm-setpos-popup', minWidth: 120 }))
        .setLatLng(latlng).setContent(box);
      popup.openOn(map);
    }
    map.on('click', function (e) {
      var wasClosing = closingTap;
      closingTap = false;
      if (wasClosing) { return; }
      offerPosition(e.latlng);
    });
    map.on('contextmenu', function (e) { moveHere(e.latlng); });

    // -- until a position is known the map says so, with a way to set it --
    // (the map opens on the densest area of stations: stationmap.index.densest_area)
    var NoPosition = L.Control.extend({
      onAdd: function () {
        var box = el('div', { 'class': 'sm-nopos', role: 'status' });
        box.appendChild(el('span', { 'class': 'sm-nopos-text' }, T.position_unknown));
        var btn = el('button', { type: 'button', 'class': 'btn sm-nopos-btn', title: T.set_position_help }, T.set_position_here);
        btn.addEventListener('click', function () { offerPosition(map.getCenter()); });
        box.appendChild(btn);
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    var noPosition = null;
    function unknownPosition(show) {
      if (show && !noPosition) { noPosition = new NoPosition({ position: 'bottomleft' }).addTo(map); }
      if (!show && noPosition) { map.removeControl(noPosition); noPosition = null; }
      root.dataset.positionKnown = show ? 'false' : 'true';
    }
    map.on('locationfound', function (e) {
      // the browser reports WGS-84 whatever the base map
      setPosition({ lat: e.latlng.lat, lon: e.latlng.lng }, 'locate', S.posSource !== 'locate');
    });
    if (refs.locate) {
      refs.locate.options.onLocationError = function () { status(T.locate_failed, true); };
      refs.locate.options.onLocationOutsideMapBounds = function () {};
    }

    // -- filter chips and travel modes --
    Array.prototype.forEach.call(document.querySelectorAll('[data-filter]'), function (chip) {
      chip.addEventListener('click', function () {
        var on = chip.getAttribute('aria-pressed') !== 'true';
        chip.setAttribute('aria-pressed', on ? 'true' : 'false');
        var f = chip.getAttribute('data-filter'), v = chip.getAttribute('data-value');
        if (f === 'open_now') { S.filters.open_now = on; }
        else if (on) { S.filters[f][v] = true; }
        else { delete S.filters[f][v]; }
        showMarkers();
        query();
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-mode]'), function (chip) {
      if (chip.getAttribute('aria-checked') === 'true') { S.mode = chip.getAttribute('data-mode'); }
      chip.addEventListener('click', function () {
        Array.prototype.forEach.call(document.querySelectorAll('[data-mode]'), function (c) {
          c.setAttribute('aria-checked', c === chip ? 'true' : 'false');
        });
        S.mode = chip.getAttribute('data-mode');
        query();
      });
    });

    function redrawAll() {
      drawBoundaries();
      if (S.markers.length || cfg.tiles) { showMarkers(); }
      drawPosition(S.radius);
    }

    // The layer a station's marker is in when the list does not name it: the client-side clusters,
    // or with tiles (cfg.tiles) the tile layer.
    function homeLayer(m) { return (tiles && m.fromTile) ? tiles.layer : refs.cluster; }

    // -- tiles: clusters and stations by what the screen shows (/api/v1/tiles/{z}/{x}/{y}.geojson) --
    // The tiles are asked in the WGS-84 grid over the WGS-84 bounds of the view (over Amap they are
    // shifted to draw, as everything else: disp), with the filters, so the counts are the server's.
    // Stations are StationMarkers as above (popups, tooltips, the list's pins); clusters are count
    // bubbles that zoom in to where they split.
    function tileLayer() {
      var layer = L.featureGroup().addTo(map), drawn = {}, cache = {}, cacheAt = 0, my = 0, first = true;
      layer.on('click', onMarkerClick);
      layer.on('mouseover', onMarkerOver);
      function tileQuery() {
        var q = new URLSearchParams(cfg.tiles.query);
        q.set('lang', cfg.lang);
        Object.keys(S.filters.kind).forEach(function (k) { q.append('kind', k); });
        Object.keys(S.filters.service).forEach(function (v) { q.append('service', v); });
        if (S.filters.open_now) { q.set('open_now', 'true'); }
        return q.toString();
      }
      function visible() {
        var b = map.getBounds(), z = Math.max(0, Math.min(cfg.tiles.max_zoom, Math.round(map.getZoom())));
        var sw = fromDisp(b.getSouthWest()), ne = fromDisp(b.getNorthEast()), n = Math.pow(2, z);
        function tx(lon) { return Math.max(0, Math.min(n - 1, Math.floor((lon + 180) / 360 * n))); }
        function ty(lat) {
          var s = Math.sin(Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180);
          return Math.max(0, Math.min(n - 1, Math.floor((0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n)));
        }
        var out = [];
        for (var x = tx(sw.lon); x <= tx(ne.lon); x++) {
          for (var y = ty(ne.lat); y <= ty(sw.lat); y++) { out.push(z + '/' + x + '/' + y); }
        }
        return out;
      }
      function get(url) {
        if (!cache[url]) {
          cache[url] = fetch(url).then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
            .catch(function (err) { delete cache[url]; throw err; });
        }
        return cache[url];
      }
      function bubble(p, ll) {
        var size = p.count < 10 ? 'small' : p.count < 100 ? 'medium' : 'large';
        var text = p.count < 10000 ? String(p.count) : Math.round(p.count / 1000) + 'k';
        var box = el('div', null);
        box.appendChild(el('span', null, text));
        var title = Object.keys(cfg.kinds).filter(function (k) { return p.kinds[k]; })
          .map(function (k) { return cfg.kinds[k].label + ' ' + p.kinds[k]; }).join(' · ');
        var m = L.marker(ll, { icon: L.divIcon({ html: box, className: 'marker-cluster marker-cluster-' + size + ' sm-tile-cluster',
                                                 iconSize: L.point(40, 40) }), title: title, keyboard: false });
        m.on('click', function () { map.setView(ll, Math.min(map.getMaxZoom(), Math.max(p.expansion_zoom, map.getZoom() + 1))); });
        m.on('add', function () { if (m._icon) { m._icon.setAttribute('data-count', String(p.count)); } });
        return m;
      }
      function draw(answers) {
        var now = {}, clusters = 0, stations = 0, total = 0, inView = 0, view = map.getBounds(), feats = [];
        layer.eachLayer(function (m) { if (!m.feature) { layer.removeLayer(m); } });
        answers.forEach(function (d) {
          d.features.forEach(function (f) {
            var c = f.geometry.coordinates, p = f.properties, ll = disp(c[1], c[0]);
            total += p.cluster ? p.count : 1;
            if (view.contains(ll)) { inView += p.cluster ? p.count : 1; }
            if (p.cluster) { clusters += 1; layer.addLayer(bubble(p, ll)); return; }
            stations += 1;
            now[f.id] = true;
            feats.push(f);
            if (S.listed[f.id]) { return; }   // drawn by the list already
            var m = drawn[f.id];
            if (!m) {
              m = S.markerById[f.id];
              if (!m || !m.fromTile) {
                m = new StationMarker(ll, { icon: iconFor(primaryKind(p.kinds), p.neighbour), keyboard: false });
                m.fromTile = true;
              }
              m.feature = f;
              S.markerById[f.id] = m;
              drawn[f.id] = m;
            }
            m.feature = f;
            // moved only when it moved: a move also moves its open popup, whose autopan would end
            // in moveend and ask for the tiles again (a loop that held the page for a minute)
            if (!m.getLatLng().equals(ll)) { m.setLatLng(ll); }
            if (!layer.hasLayer(m)) { layer.addLayer(m); }
          });
        });
        Object.keys(drawn).forEach(function (id) {
          if (!now[id]) { layer.removeLayer(drawn[id]); delete drawn[id]; }
        });
        S.tileFeatures = feats;   // the stations drawn as themselves (an embed's list: static/js/embed.js)
        root.dataset.tileClusters = String(clusters);
        root.dataset.tileStations = String(stations);
        root.dataset.tileTotal = String(total);
        root.dataset.markers = String(inView);   // the stations (clusters counted in) on screen
        if (countEl) { countEl.textContent = fmt(T.count, { n: inView }); }
        return total;
      }
      function reload() {
        var q = tileQuery(), mine = ++my;
        if (q !== cache.query || Date.now() - cacheAt > 60000) { cache = { query: q }; cacheAt = Date.now(); }
        if (first) { status(T.loading); }
        var keys = visible();
        root.dataset.tileKeys = keys.join(' ');
        root.dataset.tilesPending = '1';
        return Promise.all(keys.map(function (k) { return get(cfg.tiles.url + k + '.geojson?' + q); }))
          .then(function (answers) {
            if (mine !== my) { return; }
            var n = draw(answers);
            root.dataset.tilesPending = '0';
            root.dataset.stationsLoaded = String(n);
            root.dataset.tilesVersion = String(mine);
            if (first) {
              first = false;
              markersPainted();
              if (!S.pos) { status(T.pick_position); }
            }
            return n;
          })
          .catch(function () { if (mine === my) { status(T.load_failed, true); } });
      }
      // a task of its own after moveend: the tiles asked before (cached promises) would otherwise
      // draw in the same task as the move that asked for them
      var soon = null;
      map.on('moveend', function () { clearTimeout(soon); soon = setTimeout(reload, 0); });
      return { layer: layer, reload: reload };
    }

    // the first markers are drawn: marked, and painted in the frame after the one that drew them
    // (benchmarks/bench_page.py measures to 'stationmap-markers-painted')
    function markersPainted() {
      if (!(window.performance && performance.mark)) { return; }
      performance.mark('stationmap-markers');
      requestAnimationFrame(function () {
        requestAnimationFrame(function () { performance.mark('stationmap-markers-painted'); });
      });
    }

    // -- data --
    function loadStations() {
      if (!S.pos) { status(T.loading); }   // (with a position, the status speaks of its list)
      var all = [];
      function page(url) {
        return fetch(url).then(function (r) {
          if (!r.ok) { throw new Error('HTTP ' + r.status); }
          return r.json();
        }).then(function (d) {
          all = all.concat(d.features);
          if (d.next) { return page(d.next); }
          return all;
        });
      }
      var q = new URLSearchParams(cfg.marker_query);
      q.set('lang', cfg.lang);   // with names (an embed's list): the English reader's names too
      return page(cfg.urls.stations + '?' + q.toString()).then(function (feats) {
        S.features = feats;
        buildMarkers();
        var n = showMarkers();
        markersPainted();
        root.dataset.stationsLoaded = String(n);
        root.dataset.markersSource = 'server';
        if (!S.pos) { status(T.pick_position); }
      }).catch(function () {
        var kept = OFF && OFF.markers();
        if (!kept) { status(T.load_failed, true); root.dataset.markersSource = 'none'; return; }
        S.features = kept;
        S.markerById = {};
        buildMarkers();
        root.dataset.stationsLoaded = String(showMarkers());
        root.dataset.markersSource = 'offline';
        // no position yet: the one whose area is kept
        var area = OFF.lastArea();
        if (!S.pos && area) { setPosition({ lat: area.center.lat, lon: area.center.lon }, 'kept', true); }
      });
    }

    // many stations (cfg.tiles, stationmap/web/pages.py): only what the screen shows, by tile
    var tiles = cfg.tiles ? tileLayer() : null;
    // the map's layers: the district outlines and the stations' markers (all of them, or by tile)
    var layersAsked = false;
    function loadLayers() {
      if (layersAsked) { return; }
      layersAsked = true;
      fetch(cfg.urls.boundaries)
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d) { S.boundaries = d; drawBoundaries(); root.dataset.boundaries = String(d.features.length); } })
        .catch(function () { /* boundaries are a backdrop only */ });
      if (tiles) {
        root.dataset.markersSource = 'tiles';     // (by tile from the server; the area is kept apart)
        tiles.reload();
        if (S.areaPending) { keepArea(); }
      } else {
        loadStations().then(function () { if (S.areaPending) { keepArea(); } });
      }
    }

    if (!S.pos) { unknownPosition(true); }
    var params = new URLSearchParams(window.location.search);
    var plat = parseFloat(params.get('lat')), plon = parseFloat(params.get('lon'));
    if (isFinite(plat) && isFinite(plon) && Math.abs(plat) <= 90 && Math.abs(plon) <= 180) {
      // a known position: its nearest stations first, the layers after them (on a slow
      // connection the list does not wait behind the whole marker layer; benchmarks/bench_slow3g.py)
      setPosition({ lat: plat, lon: plon }, 'url', true);
      (S.lastQuery || Promise.resolve()).then(loadLayers, loadLayers);
    } else {
      loadLayers();
      if (cfg.autolocate && navigator.geolocation && refs.locate) {
        status(T.locating);
        refs.locate.start();
      }
    }
    root.dataset.finder = 'ready';
  }

  var F = window.stationmapFinder = { init: init, wgs2gcj: wgs2gcj, gcj2wgs: gcj2wgs, outlines: outlines,
                                     watchTiles: watchTiles, notice: notice };
}());
