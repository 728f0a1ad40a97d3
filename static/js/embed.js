/* stationmap embed: the finder map (static/js/finder.js) narrowed by the URL's presets.
 *
 * Runs after stationmapFinder.init (the folium map's script).  finder.js has
 * already asked for the district's stations (its marker query carries the
 * district's scope, kinds and services): all of them, or with many stations
 * (cfg.tiles) the scope's tiles, what the screen shows; here we
 *  - give the nearest-station list the same kind / service presets,
 *  - hide the locate button when the presets say so,
 *  - list the district's stations (then its neighbours', 邻区) until the visitor picks a position;
 *    by tile, the stations the map draws as themselves, and a word to zoom in while it draws clusters.
 * Text reaches the page through textContent only.
 */
(function () {
  'use strict';
  var F = window.stationmapFinder;
  var S = F && F.state;
  var root = document.documentElement;
  if (!S || !S.cfg || !S.cfg.embed) { return; }
  var E = S.cfg.embed;
  var map = S.map;   // (finder.js fitted the district when the URL gave no centre and zoom: cfg.embed.fit_bounds)

  E.kinds.forEach(function (k) { S.filters.kind[k] = true; });
  E.services.forEach(function (s) { S.filters.service[s] = true; });
  if (!E.locate) { root.classList.add('no-locate'); }

  var listEl = document.getElementById('nearest-list');
  var statusEl = document.getElementById('finder-status');

  function districtList() {
    if (!E.list || S.pos || !listEl) { return; }
    listEl.textContent = '';
    // the district's own stations first, then its neighbours' within reach (labelled 邻区), each by name
    // (by the name the reader sees: in English the English name or pinyin, display_name)
    var lang = S.cfg.lang === 'en' ? 'en' : 'zh';
    function shown(f) { return String(f.properties.display_name || f.properties.name); }
    var tiled = !!S.cfg.tiles;
    var feats = (tiled ? (S.tileFeatures || []) : S.features).slice().sort(function (a, b) {
      var na = a.properties.neighbour ? 1 : 0, nb = b.properties.neighbour ? 1 : 0;
      return na - nb || shown(a).localeCompare(shown(b), lang);
    });
    var more = tiled && Number(root.dataset.tileClusters || 0) > 0;   // clusters on screen: zoom in for their stations
    if (statusEl) {
      statusEl.textContent = (feats.length ? E.strings.district_list + ' (' + feats.length + ')' : (more ? '' : E.strings.empty)) +
        (more ? (feats.length ? ' ' : '') + E.strings.zoom_in : '');
    }
    feats.forEach(function (f) {
      var li = document.createElement('li');
      li.className = 'station';
      li.setAttribute('data-id', f.id);
      // the name (in English with the marker and the Chinese name: finder.js's appendName)
      var btn = F.appendName(li, f.properties, 'button', { type: 'button', 'class': 'st-name' });
      btn.addEventListener('click', function () {
        var m = S.markerById[f.id];
        if (m && S.refs.cluster.hasLayer(m)) { S.refs.cluster.zoomToShowLayer(m, function () { m.openPopup(); }); }
        else if (m && map.hasLayer(m)) { m.openPopup(); }   // a station of a tile, on screen
      });
      if (f.properties.neighbour) {
        li.classList.add('neighbour');
        var tag = document.createElement('span');
        tag.className = 'tag-neighbour';
        tag.title = S.cfg.strings.neighbour_title;
        tag.textContent = S.cfg.strings.neighbour;
        li.appendChild(tag);
      }
      listEl.appendChild(li);
    });
    root.dataset.embedList = String(feats.length);
  }

  if (S.cfg.tiles) {
    // by tile: the list follows the tiles drawn (each reload sets data-tiles-version)
    if (root.dataset.tilesVersion !== undefined) { districtList(); }
    if (window.MutationObserver) {
      new MutationObserver(districtList).observe(root, { attributes: true, attributeFilter: ['data-tiles-version'] });
    }
  } else if (root.dataset.stationsLoaded !== undefined) {
    districtList();
  } else if (window.MutationObserver) {
    var obs = new MutationObserver(function () {
      if (root.dataset.stationsLoaded !== undefined) { obs.disconnect(); districtList(); }
    });
    obs.observe(root, { attributes: true, attributeFilter: ['data-stations-loaded'] });
  }
  root.dataset.embed = 'ready';
}());
