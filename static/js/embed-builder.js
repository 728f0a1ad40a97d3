/* The /embed builder: presets -> embed URL -> live preview and <iframe> snippet.
 *
 * The query string is written exactly as stationmap.publish.EmbedPresets.to_query
 * writes it (defaults left out), so the server reads back what the form shows.
 */
(function () {
  'use strict';
  var root = document.getElementById('embed-builder');
  if (!root) { return; }
  var form = document.getElementById('builder-form');
  var data = JSON.parse(document.getElementById('builder-data').textContent);
  var T = data.strings;
  var preview = document.getElementById('b-preview');
  var snippet = document.getElementById('b-snippet');
  var originsEl = document.getElementById('b-origins');
  var $ = function (id) { return document.getElementById(id); };
  var timer = null;

  function checked(name) {
    return Array.prototype.filter.call(form.querySelectorAll('input[name="' + name + '"]'), function (i) { return i.checked; })
      .map(function (i) { return i.value; });
  }

  function escapeAttr(s) {
    return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function query() {
    var q = [];
    var kinds = checked('kind'), services = checked('service');
    if (kinds.length) { q.push('kind=' + kinds.join(',')); }
    if (services.length) { q.push('service=' + services.join(',')); }
    if ($('b-lang').value !== 'zh') { q.push('lang=' + encodeURIComponent($('b-lang').value)); }
    if ($('b-basemap').value) { q.push('basemap=' + encodeURIComponent($('b-basemap').value)); }
    var lon = parseFloat($('b-lon').value), lat = parseFloat($('b-lat').value), zoom = parseInt($('b-zoom').value, 10);
    if (isFinite(lon) && isFinite(lat)) { q.push('center=' + lon.toFixed(6) + ',' + lat.toFixed(6)); }
    if (isFinite(zoom)) { q.push('zoom=' + Math.max(3, Math.min(19, zoom))); }
    if (!$('b-list').checked) { q.push('list=0'); }
    if (!$('b-locate').checked) { q.push('locate=0'); }
    if ($('b-scroll').checked) { q.push('scroll=1'); }
    return q.join('&');
  }

  function url() {
    var adcode = $('b-adcode').value;
    var q = query();
    return root.dataset.baseUrl.replace('ADCODE', encodeURIComponent(adcode)) + (q ? '?' + q : '');
  }

  function size(id, fallback) {
    var v = parseInt($(id).value, 10);
    return isFinite(v) ? Math.max(200, Math.min(2000, v)) : fallback;
  }

  function update(immediate) {
    var u = url();
    var w = size('b-width', 640), h = size('b-height', 480);
    var opt = $('b-adcode').selectedOptions[0];
    var title = (opt ? opt.getAttribute('data-name') + ' ' : '') + T.title;
    snippet.value = '<iframe src="' + escapeAttr(u) + '" width="' + w + '" height="' + h + '"' +
      ' style="border:0" loading="lazy" title="' + escapeAttr(title) + '"' +
      ($('b-locate').checked ? ' allow="geolocation"' : '') + '></iframe>';
    var origins = data.origins[$('b-adcode').value] || [];
    originsEl.textContent = origins.length ? T.allowed + ' ' + origins.join(', ') : T.none;
    originsEl.classList.toggle('warn', !origins.length);
    clearTimeout(timer);
    timer = setTimeout(function () {
      preview.width = w;
      preview.height = h;
      if (preview.getAttribute('src') !== u) { preview.setAttribute('src', u); }
    }, immediate ? 0 : 300);
    root.dataset.url = u;
  }

  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('input', function () { update(false); });
  form.addEventListener('change', function () { update(false); });

  $('b-use-view').addEventListener('click', function () {
    // the preview is on this site, so its map can be read; its centre is in the base map's datum
    try {
      var F = preview.contentWindow.stationmapFinder;
      var m = F.state.map, c = F.fromDisp(m.getCenter());
      $('b-lon').value = c.lon.toFixed(6);
      $('b-lat').value = c.lat.toFixed(6);
      $('b-zoom').value = m.getZoom();
      update(true);
    } catch (e) { /* the preview has not loaded yet */ }
  });
  $('b-clear-view').addEventListener('click', function () {
    $('b-lon').value = ''; $('b-lat').value = ''; $('b-zoom').value = '';
    update(true);
  });

  $('b-copy').addEventListener('click', function () {
    var done = function () { $('b-copied').textContent = T.copied; root.dataset.copied = snippet.value; };
    var fallback = function () {
      snippet.focus();
      snippet.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      if (ok) { done(); } else { $('b-copied').textContent = T.copy_failed; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(snippet.value).then(done, fallback);
    } else {
      fallback();
    }
  });

  update(true);
}());
