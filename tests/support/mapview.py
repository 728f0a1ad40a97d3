"""What a browser page's map shows: the stations its list names, each a marker on screen.

Used by the finder's and the embeds' browser tests (issue 20: the list named stations the map
had not drawn, hidden in clusters or out of view).
"""

from __future__ import annotations

#: the list's station ids, and for each whether a marker with its id is in the DOM, inside the
#: map and inside the viewport (the marker's icon box, in viewport pixels)
LISTED_ON_MAP = """() => {
  const map = document.querySelector('.leaflet-container').getBoundingClientRect();
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const out = {};
  for (const li of document.querySelectorAll('#nearest-list li[data-id]')) {
    const id = li.dataset.id;
    const icons = [...document.querySelectorAll('.leaflet-marker-icon')].filter(e => e.dataset.id === id);
    out[id] = icons.some(e => {
      const r = e.getBoundingClientRect(), cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
      return r.width > 0 && cx >= map.left && cx <= map.right && cy >= map.top && cy <= map.bottom
        && cx >= 0 && cx <= vw && cy >= 0 && cy <= vh && getComputedStyle(e).opacity !== '0';
    });
  }
  return out;
}"""


def listed_off_map(frame) -> tuple[list[str], list[str]]:
    """(the list's ids, those without a marker on screen) in a page or frame."""
    got = frame.evaluate(LISTED_ON_MAP)
    return list(got), [i for i, shown in got.items() if not shown]
