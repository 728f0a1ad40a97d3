/* Map picker of the station form (templates/admin/station_form.html).
 *
 * A click puts the station there: the longitude and latitude fields get the
 * clicked point in the datum of the base map on show (GCJ-02 over Amap,
 * WGS-84 over OpenStreetMap / Tianditu) and the datum select follows, so the
 * server converts it like a typed coordinate.  The config (JSON in
 * #picker-config) gives the base maps and the current point in every datum.
 */
(function () {
  "use strict";
  var el = document.getElementById("picker");
  if (!el || typeof L === "undefined") { return; }
  var cfg = JSON.parse(document.getElementById(el.dataset.configId).textContent);
  var lonInput = document.getElementById("f-lon");
  var latInput = document.getElementById("f-lat");
  var datumSelect = document.getElementById("f-datum");
  var bases = {}, first = null, current = null, marker = null;

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

  function place(lon, lat) {
    if (marker) { marker.setLatLng([lat, lon]); } else { marker = L.marker([lat, lon]).addTo(map); }
  }
  if (cfg.point && cfg.point[first.datum]) { place(cfg.point[first.datum][0], cfg.point[first.datum][1]); }

  map.on("baselayerchange", function (e) {
    current = e.layer;
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
})();
