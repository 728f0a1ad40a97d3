/* stationmap published site: answers finder.js's API requests with no server.
 *
 * A page opened from file:// may not fetch() local files, so the data comes in
 * stations.js as window.STATIONMAP_STATIC (stationmap.publish.static_payload),
 * and this wraps window.fetch to answer the four API paths finder.js asks for:
 *   api/v1/stations, api/v1/stations/<id>, api/v1/nearest, api/v1/districts/boundaries
 * "Open now" comes from the opening intervals computed at export time; the
 * nearest stations from the same straight-line estimate the server uses
 * (geodesic distance x detour factor / speed of the mode); each station's
 * freshness (when and how it was last confirmed) from the export's record of it.  Any other request
 * goes to the real fetch (the base-map tiles are images and never pass here).
 *
 * A site of many stations (stationmap.publish.static_tiles; D.tiles) is cut into tiles: stations.js
 * holds no station, finder.js asks for tiles/z/x/y.geojson by what the screen shows (cfg.tiles), and
 * this answers each from tiles/z/x/y.js, a script that calls stationmapTile("z/x/y", {...}) (loaded by a
 * <script> element: a page opened from file:// may load a script where it may not fetch a file; a tile
 * with no file holds no station).  The stations of the tiles become known as they load (details);
 * the nearest ones come from the tiles of the highest zoom (D.tiles.zoom, every station itself) in
 * rings around the position, as far as needed (up to 225 tiles: ~15 km at zoom 14).  The filters
 * apply to the stations; a cluster counts every published station of its area.
 */
(function () {
  'use strict';
  var D = window.STATIONMAP_STATIC;
  if (!D) { return; }
  var realFetch = window.fetch ? window.fetch.bind(window) : null;
  var byId = {};
  D.features.forEach(function (f) { byId[f.id] = f; });

  // minutes since Monday 00:00 in Asia/Shanghai (UTC+8 all year; 1970-01-01 was a Thursday)
  function minuteOfWeek(t) {
    var local = Math.floor(t / 60000) + 8 * 60 + 3 * 1440;
    return ((local % 10080) + 10080) % 10080;
  }

  function openNow(h, t) {
    if (!h) { return false; }
    if (h.always) { return true; }
    if (h.weekly) {
      var w = minuteOfWeek(t);
      for (var j = 0; j < h.weekly.length; j++) {
        if (w >= h.weekly[j][0] && w < h.weekly[j][1]) { return true; }
      }
      return false;
    }
    for (var i = 0; i < h.open.length; i++) {
      if (t >= h.open[i][0] && t < h.open[i][1]) { return true; }
    }
    return false;
  }

  // RFC 3339 in +08:00 of a time in ms (what the API writes)
  function rfc3339(ms) { return new Date(ms + 8 * 3600000).toISOString().slice(0, 19) + '+08:00'; }

  // when it closes (open at t) or next opens (closed at t), from the exported intervals; null: not known
  function change(h, t) {
    if (!h || h.always) { return null; }
    var i;
    if (h.weekly) {
      var w = minuteOfWeek(t), best = null;
      for (i = 0; i < h.weekly.length; i++) {
        var iv = h.weekly[i];
        if (w >= iv[0] && w < iv[1]) { return t + (iv[1] - w) * 60000 - (t % 60000); }
        var ahead = iv[0] > w ? iv[0] - w : iv[0] + 10080 - w;
        if (best === null || ahead < best) { best = ahead; }
      }
      return best === null ? null : t + best * 60000 - (t % 60000);
    }
    for (i = 0; i < h.open.length; i++) {
      if (t >= h.open[i][0] && t < h.open[i][1]) { return i === h.open.length - 1 ? null : h.open[i][1]; }
      if (h.open[i][0] > t) { return h.open[i][0]; }
    }
    return null;
  }

  // when and how a station was last confirmed, as the API's freshness (stationmap.reports.Freshness):
  // the export's day and manner (properties.confirmed), the days counted to the day the page is read
  // (Asia/Shanghai), in the words of D.freshness_words (stationmap.labels, as Freshness.words says them)
  function dayNumber(iso) {
    return Math.round(Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86400000);
  }
  function shanghaiDay(t) { return new Date(t + 8 * 3600000).toISOString().slice(0, 10); }
  function ageWords(days, li) {
    var A = D.freshness_words.age, n;
    if (days <= 0) { return A.today[li]; }
    if (days === 1) { return A.yesterday[li]; }
    if (days < 31) { return A.days[li].replace('{n}', days); }
    if (days < 365) { n = Math.floor(days / 30); return A[n === 1 ? 'month' : 'months'][li].replace('{n}', n); }
    n = Math.floor(days / 365);
    return A[n === 1 ? 'year' : 'years'][li].replace('{n}', n);
  }
  function freshness(c, t) {
    var W = D.freshness_words;
    if (!c || !W) { return undefined; }
    var age = c.on ? Math.max(0, dayNumber(shanghaiDay(t)) - dayNumber(c.on)) : null;
    var text = {}, problems = null;
    ['zh', 'en'].forEach(function (lang, li) {
      text[lang] = c.on ? W.freshness[c.by][li].replace('{age}', ageWords(age, li)) : W.freshness.never[li];
      if (c.problems) {
        problems = problems || {};
        problems[lang] = W.problems[c.problems === 1 ? 'one' : 'many'][li].replace('{n}', c.problems);
      }
    });
    return { confirmed_on: c.on, by: c.by || null, age_days: age, open_problems: c.problems, text: text,
             problems_text: problems };
  }

  function props(f, t, extra) {
    var p = {}, src = f.properties;
    Object.keys(src).forEach(function (k) { if (k !== 'hours' && k !== 'nav' && k !== 'confirmed') { p[k] = src[k]; } });
    var fr = freshness(src.confirmed, t);
    if (fr) { p.freshness = fr; }
    p.open_now = openNow(src.hours, t);
    var next = change(src.hours, t);
    p.closes_at = p.open_now && next !== null ? rfc3339(next) : null;
    p.opens_at = !p.open_now && next !== null ? rfc3339(next) : null;
    if (extra) { Object.keys(extra).forEach(function (k) { p[k] = extra[k]; }); }
    return p;
  }

  function feature(f, t, extra) {
    return { type: 'Feature', id: f.id, geometry: f.geometry, properties: props(f, t, extra) };
  }

  function answer(obj, status) {
    return Promise.resolve(new Response(JSON.stringify(obj), {
      status: status || 200, headers: { 'Content-Type': 'application/json' }
    }));
  }

  // navigation links of a mode; a mode with the same links as another names it ("bike": "ebike")
  function navFor(f, mode) {
    var nav = f.properties.nav || {};
    var v = nav[mode] || nav.walk || null;
    return typeof v === 'string' ? (nav[v] || null) : v;
  }

  function list(params, name) {
    var out = [];
    params.getAll(name).forEach(function (v) { v.split(',').forEach(function (x) { if (x) { out.push(x); } }); });
    return out;
  }

  function accept(f, params, t) {
    var p = f.properties;
    var kinds = list(params, 'kind'), services = list(params, 'service'), statuses = list(params, 'status');
    if (kinds.length && !kinds.some(function (k) { return p.kinds.indexOf(k) >= 0; })) { return false; }
    if (services.length && !services.every(function (s) { return p.services.indexOf(s) >= 0; })) { return false; }
    if (statuses.length && statuses.indexOf(p.status) < 0) { return false; }
    if (params.get('open_now') === 'true' && !openNow(p.hours, t)) { return false; }
    return true;
  }

  // great-circle distance on the mean-radius sphere, metres
  function distance(lat1, lon1, lat2, lon2) {
    var R = 6371008.8, r = Math.PI / 180;
    var dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
    var a = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
            Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
  }

  // -- a site cut into tiles ------------------------------------------------------------------
  var loaded = {}, waiting = {};
  window.stationmapTile = function (key, d) {
    d.features.forEach(function (f) { if (!f.properties.cluster) { byId[f.id] = f; } });
    if (waiting[key]) { waiting[key](d); delete waiting[key]; }
  };
  function emptyTile(key) {
    var p = key.split('/').map(Number);
    return { type: 'FeatureCollection', datum: 'wgs84', tile: { z: p[0], x: p[1], y: p[2] }, total: 0, features: [] };
  }
  function loadTile(key) {
    if (!loaded[key]) {
      loaded[key] = new Promise(function (resolve) {
        waiting[key] = resolve;
        var s = document.createElement('script');
        function done() {   // a file that is not there (or did not register): no station there
          if (waiting[key]) { delete waiting[key]; resolve(emptyTile(key)); }
          s.remove();
        }
        s.onload = done;
        s.onerror = done;
        s.src = 'tiles/' + key + '.js';
        document.head.appendChild(s);
      });
    }
    return loaded[key];
  }
  function tileAnswer(key, params, t) {
    return loadTile(key).then(function (d) {
      var total = 0, clusters = 0, stations = 0;
      var feats = d.features.filter(function (f) { return f.properties.cluster || accept(f, params, t); })
        .map(function (f) {
          if (f.properties.cluster) { clusters += 1; total += f.properties.count; return f; }
          stations += 1; total += 1;
          return feature(f, t);
        });
      return new Response(JSON.stringify({ type: 'FeatureCollection', datum: 'wgs84', sample: D.sample, tile: d.tile,
                                           total: total, clusters: clusters, stations: stations, features: feats }),
                          { status: 200, headers: { 'Content-Type': 'application/geo+json' } });
    });
  }
  // The nearest from the tiles of zoom D.tiles.zoom around the position: rings of tiles around the
  // one holding it (1, 9, 25, 81, 225 tiles), until k stations lie within the distance the rings surely
  // cover (the position's distance to their outer edge), or the next ring would pass MOST_TILES.
  var MOST_TILES = 225;
  function tileOf(lat, lon, n) {
    var s = Math.sin(Math.max(-85.05, Math.min(85.05, lat)) * Math.PI / 180);
    return [(lon + 180) / 360 * n, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * n];
  }
  function lonOf(x, n) { return x / n * 360 - 180; }
  function latOf(y, n) { return Math.atan(Math.sinh(Math.PI * (1 - 2 * y / n))) * 180 / Math.PI; }
  function ring(lat, lon, r) {
    var z = D.tiles.zoom, n = Math.pow(2, z), p = tileOf(lat, lon, n);
    var cx = Math.floor(p[0]), cy = Math.floor(p[1]), keys = [];
    for (var x = Math.max(0, cx - r); x <= Math.min(n - 1, cx + r); x++) {
      for (var y = Math.max(0, cy - r); y <= Math.min(n - 1, cy + r); y++) { keys.push(z + '/' + x + '/' + y); }
    }
    // the distance the box surely covers: to its nearest edge (west, east along the parallel; north, south)
    var w = lonOf(cx - r, n), e = lonOf(cx + r + 1, n), no = latOf(cy - r, n), so = latOf(cy + r + 1, n);
    var covered = Math.min(distance(lat, lon, lat, w), distance(lat, lon, lat, e), distance(lat, lon, no, lon),
                           distance(lat, lon, so, lon));
    return { keys: keys, covered: covered };
  }
  function stationsAround(keys) {
    return Promise.all(keys.map(loadTile)).then(function (ds) {
      var out = [];
      ds.forEach(function (d) { d.features.forEach(function (f) { if (!f.properties.cluster) { out.push(f); } }); });
      return out;
    });
  }
  function nearestTiled(params, t) {
    var lat = parseFloat(params.get('lat')), lon = parseFloat(params.get('lon'));
    if (!isFinite(lat) || !isFinite(lon)) { return nearest(params, t, []); }
    var k = Math.max(1, Math.min(100, parseInt(params.get('k'), 10) || 5));
    function attempt(r) {
      var box = ring(lat, lon, r);
      return stationsAround(box.keys).then(function (feats) {
        var within = feats.filter(function (f) {
          var c = f.geometry.coordinates;
          return f.properties.status !== 'closed' && accept(f, params, t) && distance(lat, lon, c[1], c[0]) <= box.covered;
        });
        var next = r ? 2 * r : 1;
        if (within.length >= k || Math.pow(2 * next + 1, 2) > MOST_TILES) { return nearest(params, t, feats); }
        return attempt(next);
      });
    }
    return attempt(0);
  }

  function nearest(params, t, features) {
    var lat = parseFloat(params.get('lat')), lon = parseFloat(params.get('lon'));
    if (!isFinite(lat) || !isFinite(lon)) {
      return answer({ error: { code: 'invalid', message: 'lat and lon are required', field: 'lat' } }, 400);
    }
    var mode = params.get('mode') || 'walk';
    var speed = D.reach.speeds_kmh[mode] || D.reach.speeds_kmh.walk;
    var minutesLimit = parseFloat(params.get('minutes')) || D.reach.minutes;
    var k = Math.max(1, Math.min(100, parseInt(params.get('k'), 10) || 5));
    var perMetre = D.reach.detour_factor / (speed * 1000 / 60);
    // as the server: closed stations never, temporarily closed ones too (closed now, or open from their reopening day)
    var all = features.filter(function (f) { return f.properties.status !== 'closed' && accept(f, params, t); })
      .map(function (f) {
        var c = f.geometry.coordinates;
        return { f: f, d: distance(lat, lon, c[1], c[0]) };
      })
      .sort(function (a, b) { return a.d - b.d; });
    var ranked = all.slice(0, k);
    if (params.get('order') === 'open_first') {  // the k nearest open, then the closed among the k nearest
      var shut = ranked.filter(function (r) { return !openNow(r.f.properties.hours, t); });
      ranked = all.filter(function (r) { return openNow(r.f.properties.hours, t); }).slice(0, k).concat(shut);
    }
    return answer({
      type: 'FeatureCollection', datum: 'wgs84', sample: D.sample,
      none_within: noneWithin(all, perMetre, minutesLimit, list(params, 'kind'), list(params, 'service')),
      query: { lon: lon, lat: lat, mode: mode, minutes: minutesLimit, k: k, order: params.get('order') || 'time',
               at: rfc3339(t) },
      reach: { method: 'straight_line', speed_kmh: speed, detour_factor: D.reach.detour_factor,
               radius_m: minutesLimit / perMetre },
      features: ranked.map(function (r) {
        var mins = r.d * perMetre;
        return feature(r.f, t, {
          distance_m: Math.round(r.d * 10) / 10, minutes: Math.round(mins * 10) / 10,
          within_minutes: mins <= minutesLimit, nav: navFor(r.f, mode)
        });
      })
    });
  }

  // as stationmap.within: nothing of the asked kind within the limit -> say so and name the nearest
  // (straight line: a published site has no road network), in the words of D.none_within
  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_, k) { return values[k] === undefined ? '' : String(values[k]); });
  }
  // a name inside a sentence (as stationmap.labels.name_in_text): in English the English name or pinyin
  // (published with display_name), the Chinese name beside it
  function nameInText(p, W) {
    if (!p.display_name || p.display_name === p.name) { return p.name; }
    return p.display_name + ' (' + (p.display_name_source === 'pinyin' ? W.pinyin + ', ' : '') + p.name + ')';
  }
  function noneWithin(ranked, perMetre, limit, kinds, services) {
    var W = D.none_within;
    if (!W || ranked.some(function (r) { return r.d * perMetre <= limit; })) { return null; }
    var what = kinds.length ? kinds.map(function (k) { return W.kinds[k] || k; }).join(W.or) : W.station;
    if (services.length) {
      what = fmt(W.with_services, { what: what, services: services.map(function (s) { return W.services[s] || s; }).join(W.and) });
    }
    if (W.lower) { what = what.toLowerCase(); }
    var text = fmt(W.none_within, { m: String(limit), what: what });
    var near = null;
    if (ranked.length) {
      var r = ranked[0], dm = r.d;
      var dist = dm < 1000 ? fmt(W.metres, { n: Math.round(dm) }) : fmt(W.kilometres, { n: (dm / 1000).toFixed(dm < 10000 ? 1 : 0) });
      near = { id: r.f.id, name: r.f.properties.name, minutes: Math.round(dm * perMetre * 10) / 10,
               distance_m: Math.round(dm * 10) / 10, distance: 'straight_line' };
      text += W.space + fmt(W.nearest_is, { name: nameInText(r.f.properties, W), d: fmt(W.dist_straight, { d: dist }) });
    }
    var message = {};
    message[W.lang] = text;
    return { minutes: limit, kinds: kinds, services: services, nearest: near, message: message };
  }

  function route(url) {
    var parts = String(url).split('?');
    var path = parts[0], params = new URLSearchParams(parts[1] || '');
    var t = Date.now();
    var m;
    if (/(^|\/)api\/v1\/stations$/.test(path)) {
      var feats = D.features.filter(function (f) { return accept(f, params, t); })
        .map(function (f) { return feature(f, t); });
      return answer({ type: 'FeatureCollection', datum: 'wgs84', sample: D.sample, total: feats.length,
                      next: null, features: feats });
    }
    if ((m = /(^|\/)api\/v1\/stations\/([^/]+)$/.exec(path))) {
      var f = byId[decodeURIComponent(m[2])];
      if (!f) { return answer({ error: { code: 'not_found', message: 'no such station', field: 'id' } }, 404); }
      var mode = params.get('mode') || 'walk';
      var one = feature(f, t, { nav: navFor(f, mode) });
      one.datum = 'wgs84';
      return answer(one);
    }
    if (/(^|\/)api\/v1\/nearest$/.test(path)) { return D.tiles ? nearestTiled(params, t) : nearest(params, t, D.features); }
    if (D.tiles && (m = /(^|\/)tiles\/(\d+)\/(\d+)\/(\d+)\.geojson$/.exec(path))) {
      return tileAnswer(m[2] + '/' + m[3] + '/' + m[4], params, t);
    }
    if (/(^|\/)api\/v1\/districts\/boundaries$/.test(path)) { return answer(D.boundaries); }
    return null;
  }

  window.fetch = function (input, init) {
    var url = typeof input === 'string' ? input : (input && input.url);
    var res = url ? route(url) : null;
    if (res) { return res; }
    if (!realFetch) { return Promise.reject(new Error('fetch is not available')); }
    return realFetch(input, init);
  };
  window.stationmapStatic = { route: route, openNow: openNow, distance: distance, minuteOfWeek: minuteOfWeek,
                             freshness: freshness };
}());
