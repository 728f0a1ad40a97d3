/* stationmap service worker (served as /sw.js, scope /): the finder and the station pages open
 * with no network (issue 19).
 *
 *  - pages (the finder "/", a station "/station/<id>"): from the network, a copy kept under the
 *    page's path; with no network that copy (whatever the query: the finder at any position);
 *  - the app's own files (/static/..., the manifest): the copy kept, refreshed from the network
 *    behind it (a new release's files replace the old on the next visit);
 *  - the finder's marker layer and district outlines (/api/v1/stations, /api/v1/districts/...):
 *    from the network, the copy with no network;
 *  - everything else (the nearest stations, check-ins, other sites' map tiles, the admin pages):
 *    not touched: the page itself falls back (static/js/offline.js).
 * A page tells the worker which files it loaded ({type: "keep", urls}), so the first visit,
 * which the worker does not yet see, is kept too.
 */
'use strict';

var CACHE = 'stationmap-v1';

self.addEventListener('install', function () { self.skipWaiting(); });

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf('stationmap-') === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function kind(url, request) {
  if (url.origin !== self.location.origin || request.method !== 'GET') { return null; }
  var path = url.pathname;
  if (request.mode === 'navigate') { return (path === '/' || path.indexOf('/station/') === 0) ? 'page' : null; }
  if (path.indexOf('/static/') === 0 || path === '/manifest.webmanifest') { return 'file'; }
  if (path === '/api/v1/stations' || path.indexOf('/api/v1/districts') === 0) { return 'data'; }
  return null;
}

function keep(request, response) {
  if (response && response.ok && response.type === 'basic') {
    var copy = response.clone();
    caches.open(CACHE).then(function (c) { return c.put(request, copy); });
  }
  return response;
}

// a page is kept under its path alone (the finder at /?lat=&lon= of every position visited is one copy)
function pageKey(url) { var u = new URL(url); return u.origin + u.pathname; }

function networkFirst(request, loose) {
  return fetch(request).then(function (r) { return keep(loose ? pageKey(request.url) : request, r); }, function (err) {
    return caches.open(CACHE).then(function (c) {
      return c.match(request, { ignoreVary: true }).then(function (hit) {
        return hit || (loose ? c.match(request, { ignoreSearch: true, ignoreVary: true }) : null);
      });
    }).then(function (hit) { if (hit) { return hit; } throw err; });
  });
}

function cacheFirst(request) {
  return caches.open(CACHE).then(function (c) {
    return c.match(request, { ignoreVary: true }).then(function (hit) {
      var fresh = fetch(request).then(function (r) { return keep(request, r); });
      if (hit) { fresh.catch(function () {}); return hit; }
      return fresh;
    });
  });
}

self.addEventListener('fetch', function (event) {
  var url = new URL(event.request.url), k = kind(url, event.request);
  if (k === 'page') { event.respondWith(networkFirst(event.request, true)); }
  else if (k === 'file') { event.respondWith(cacheFirst(event.request)); }
  else if (k === 'data') { event.respondWith(networkFirst(event.request, false)); }
});

// a page's own files ({type: "keep", urls: [same-origin paths]}), kept as they are now
self.addEventListener('message', function (event) {
  var d = event.data || {};
  if (d.type !== 'keep' || !Array.isArray(d.urls)) { return; }
  var urls = d.urls.filter(function (u) {
    var url = new URL(u, self.location.origin), path = url.pathname;
    return url.origin === self.location.origin && (path === '/' || path.indexOf('/station/') === 0 ||
      path.indexOf('/static/') === 0 || path === '/manifest.webmanifest');
  });
  event.waitUntil(caches.open(CACHE).then(function (c) {
    return Promise.all(urls.map(function (u) {
      var path = new URL(u, self.location.origin).pathname;
      var key = (path === '/' || path.indexOf('/station/') === 0) ? pageKey(new URL(u, self.location.origin).href) : u;
      return fetch(u, { credentials: 'same-origin' }).then(function (r) {
        if (r.ok) { return c.put(key, r); }
      }).catch(function () { /* kept next time */ });
    }));
  }).then(function () {
    if (event.source) { event.source.postMessage({ type: 'kept', n: urls.length }); }
  }));
});
