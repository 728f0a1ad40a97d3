/* Map picker of the station form (templates/admin/station_form.html).
 *
 * A click puts the station there: the longitude and latitude fields get the
 * clicked point in the datum of the base map on show (GCJ-02 over Amap,
 * WGS-84 over OpenStreetMap / Tianditu) and the datum select follows, so the
 * server converts it like a typed coordinate.  The config (JSON in
 * #picker-config) gives the base maps and the current point in every datum.
 *
 * Without tiles (offline, an intranet) the district outlines are drawn the way the
 * finder draws them (stationmapFinder.outlines and watchTiles, static/js/finder.js),
 * and the paste box reads typed coordinates or an Amap / Baidu share link on the
 * server (admin.point_text: stationmap.coords.parse_point_text), shows what it
 * understood and puts the point on the map and in the fields, in WGS-84.
 */
(function () {
  "use strict";
  var el = document.getElementById("picker");
  if (!el || typeof L === "undefined") { return; }
  var F = window.stationmapFinder;
  var cfg = JSON.parse(document.getElementById(el.dataset.configId).textContent);
  var lonInput = document.getElementById("f-lon");
  var latInput = document.getElementById("f-lat");
  var datumSelect = document.getElementById("f-datum");
  var root = document.documentElement;
  var bases = {}, first = null, current = null, marker = null, boundaries = null, outlineLayer = null;

  cfg.basemaps.forEach(function (bm) {
    var layers = bm.tiles.map(function (t) {
      return L.tileLayer(t[0], {subdomains: t[1] || "abc", maxZoom: bm.max_zoom, attribution: bm.attribution});
    });
    var group = L.layerGroup(layers);
    group.datum = bm.datum;
    bases[bm.label] = group;
    if (!first) { first = group; }
  });
  var start = cfg.point && cfg.point[first.datum] ? cfg.point[first.datum] :
              (cfg.center ? cfg.center[first.datum] : [119.95, 31.78]);
  var map = L.map(el, {center: [start[1], start[0]], zoom: cfg.point && cfg.point.wgs84 ? 16 : 12,
                       layers: [first]});
  current = first;
  L.control.layers(bases, null, {collapsed: false}).addTo(map);

  // -- district outlines, drawn whatever the tiles do, in the datum of the base map on show --
  function disp(lat, lon) {
    if (current.datum === "gcj02" && F) { var g = F.wgs2gcj(lon, lat); return L.latLng(g[1], g[0]); }
    return L.latLng(lat, lon);
  }
  function drawOutlines() {
    if (!boundaries || !F) { return; }
    if (outlineLayer) { map.removeLayer(outlineLayer); }
    outlineLayer = F.outlines(boundaries, disp).addTo(map);
    outlineLayer.bringToBack();
  }
  if (F && cfg.boundaries) {
    fetch(cfg.boundaries)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d) { boundaries = d; drawOutlines(); root.dataset.boundaries = String(d.features.length); }
      })
      .catch(function () { /* a backdrop only */ });
    var failed = false;
    Object.keys(bases).forEach(function (name) {
      F.watchTiles(map, bases[name], function () {
        if (failed) { return; }
        failed = true;
        root.dataset.tiles = "failed";
        F.notice(map, cfg.tiles_failed);
      });
    });
  }

  function place(lon, lat) {
    if (marker) { marker.setLatLng([lat, lon]); } else { marker = L.marker([lat, lon]).addTo(map); }
  }
  if (cfg.point && cfg.point[first.datum]) { place(cfg.point[first.datum][0], cfg.point[first.datum][1]); }

  map.on("baselayerchange", function (e) {
    current = e.layer;
    drawOutlines();
    // the stored point, redrawn in the new base map's datum; a clicked point must be clicked again
    if (cfg.point && cfg.point[current.datum]) {
      place(cfg.point[current.datum][0], cfg.point[current.datum][1]);
      lonInput.value = cfg.point.wgs84[0].toFixed(7);
      latInput.value = cfg.point.wgs84[1].toFixed(7);
      datumSelect.value = "wgs84";
    } else if (marker) {
      map.removeLayer(marker); marker = null;
    }
  });
  map.on("click", function (e) {
    var ll = e.latlng.wrap();
    place(ll.lng, ll.lat);
    lonInput.value = ll.lng.toFixed(7);
    latInput.value = ll.lat.toFixed(7);
    datumSelect.value = current.datum;
  });

  // -- typed or pasted coordinates, an Amap or Baidu share link: read on the server --
  var pasteInput = document.getElementById("f-paste");
  var pasteDatum = document.getElementById("f-paste-datum");
  var pasteButton = document.getElementById("paste-read");
  var understood = document.getElementById("paste-understood");
  if (!pasteInput || !pasteButton || !cfg.read_point) { return; }
  function say(text, bad) {
    understood.hidden = false;
    understood.textContent = text;
    understood.classList.toggle("field-error", !!bad);
  }
  function readPoint() {
    var q = new URLSearchParams({text: pasteInput.value, datum: pasteDatum ? pasteDatum.value : "wgs84"});
    say(cfg.reading, false);
    fetch(cfg.read_point + "?" + q.toString(), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, d: d}; }); })
      .then(function (res) {
        if (!res.ok) { say(res.d.error ? res.d.error.message : cfg.read_failed, true); return; }
        var d = res.d;
        cfg.point = d.points;    // kept over every base map, like a stored point
        var p = d.points[current.datum] || d.points.wgs84;
        place(p[0], p[1]);
        map.setView([p[1], p[0]], Math.max(map.getZoom(), 16), {animate: false});
        lonInput.value = d.lon.toFixed(7);
        latInput.value = d.lat.toFixed(7);
        datumSelect.value = "wgs84";
        root.dataset.pastedPoint = d.lat.toFixed(7) + "," + d.lon.toFixed(7);
        say(d.words, false);
      })
      .catch(function () { say(cfg.read_failed, true); });
  }
  pasteButton.addEventListener("click", readPoint);
  pasteInput.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { e.preventDefault(); readPoint(); }
  });
  pasteInput.addEventListener("paste", function () { setTimeout(readPoint, 0); });
})();
