/* The map of /map/: grids from /api/v1/map/grids/ coloured by open or overdue issues, the community and street
   outlines on a plain background (no tiles, no fonts from elsewhere), the open issues from /api/v1/map/issues/ as
   clustered points. Click a grid for its numbers and open issues, an issue for its page. The page's table holds
   the same numbers for anyone who cannot use the map.
   Zoomed in past the node's own zoom, the map asks for what it shows (bbox=) at the finer zoom, again after each
   move that leaves what it holds; zoomed back out, it draws the whole node it kept. A grid with an open hot-spot
   alert is outlined (and pulses); its popup names the alert with a link to the escalation desk. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) return;
  var labels = JSON.parse(document.getElementById("map-labels").textContent);
  // Counts → colour classes: 0, 1, 2–3, 4–7, 8–15, 16+ (a light-to-dark sequential scale, readable on a projector).
  var BREAKS = [1, 2, 4, 8, 16];
  var COLOURS = ["#eef0f2", "#fde0c5", "#facba6", "#f59e72", "#e4572e", "#a3201b"];
  var measure = el.dataset.measure || "open";

  function colourOf(n) {
    var i = 0;
    while (i < BREAKS.length && n >= BREAKS[i]) i++;
    return COLOURS[i];
  }

  function gridStyle(feature) {
    return {
      color: "#7b8794", weight: 0.6, opacity: 0.9,
      fillColor: colourOf(feature.properties[measure]), fillOpacity: 0.85,
    };
  }

  var HOTSPOT = "#c2185b";
  var hotspots = {};  // grid code → the open alerts there (from the grids' answer)

  function outlineStyle(feature) {
    var street = feature.properties.kind === "street";
    return { color: street ? "#1f2933" : "#3e4c59", weight: street ? 3 : 1.6, opacity: 1, interactive: false };
  }

  function drawLegend() {
    var legend = document.getElementById("map-legend");
    var parts = ["<strong>" + labels[measure] + "</strong>"];
    var bounds = [0].concat(BREAKS);
    for (var i = 0; i < COLOURS.length; i++) {
      var lo = bounds[i], hi = i + 1 < bounds.length ? bounds[i + 1] - 1 : null;
      var range = hi === null ? lo + "+" : lo === hi ? String(lo) : lo + "–" + hi;
      parts.push('<span class="swatch" style="background:' + COLOURS[i] + '"></span>' + range);
    }
    legend.innerHTML = parts.join(" ");
    if (Object.keys(hotspots).length) {
      var entry = text("span", labels.hotspot_legend, "hotspot-legend");
      entry.prepend(text("span", "", "swatch hotspot-swatch"));
      legend.appendChild(entry);
    }
  }

  var map = L.map(el, { minZoom: 3, maxZoom: 19, zoomSnap: 0.25, zoomDelta: 1, attributionControl: false, zoomControl: false });
  L.control.zoom({ zoomInTitle: labels.zoom_in, zoomOutTitle: labels.zoom_out }).addTo(map);
  map.setView([0, 0], 3);

  // SVG paths for a few thousand grids (each one an element: clickable, testable); a canvas past that, which
  // draws a street of 10,000 grids without 10,000 elements.
  var CANVAS_FROM = 2000;
  var grids = null;
  var selected = null;

  function text(tag, content, cls) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    node.textContent = content;
    return node;
  }

  function showGrid(feature, layer) {
    var p = feature.properties;
    if (selected && grids.hasLayer(selected)) grids.resetStyle(selected);
    selected = layer;
    layer.setStyle({ color: "#1565c0", weight: 3 });
    layer.bringToFront();
    document.getElementById("grid-panel-title").textContent = p.name + " (" + p.code + ")";
    document.getElementById("grid-panel-hint").hidden = true;
    document.getElementById("grid-numbers").hidden = false;
    document.getElementById("grid-open").textContent = p.open;
    document.getElementById("grid-overdue").textContent = p.overdue;
    var list = document.getElementById("grid-issues");
    list.replaceChildren(text("li", labels.loading, "muted"));
    fetch(el.dataset.issuesUrl + "?area=" + encodeURIComponent(p.code), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (fc) {
        list.replaceChildren();
        if (!fc.features.length) list.appendChild(text("li", labels.no_issues, "muted"));
        fc.features.forEach(function (f) {
          var q = f.properties, item = document.createElement("li");
          var link = text("a", q.number);
          link.href = q.url;
          item.appendChild(link);
          item.appendChild(text("span", " " + (q.category || labels.no_category) + " · " + q.status_label, "muted"));
          if (q.overdue) item.appendChild(text("span", labels.overdue_badge, "late-badge"));
          list.appendChild(item);
        });
      })
      .catch(function () { list.replaceChildren(text("li", labels.failed, "error")); });
  }

  function fail() {
    var note = text("p", labels.failed, "error");
    el.parentNode.insertBefore(note, el);
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  // The popup of a grid with open alerts: each named, with its section of the escalation desk when the caller has it.
  function hotspotPopup(feature) {
    var box = document.createElement("div");
    box.className = "hotspot-popup";
    box.appendChild(text("strong", labels.hotspot_title));
    hotspots[feature.properties.code].forEach(function (spot) {
      var line = document.createElement("p");
      line.appendChild(text("span", format(labels.hotspot_text, {
        n: spot.observed, category: spot.category, grid: feature.properties.name, expected: spot.expected,
      })));
      if (spot.url) {
        line.appendChild(document.createElement("br"));
        var link = text("a", labels.hotspot_link);
        link.href = spot.url;
        line.appendChild(link);
      }
      box.appendChild(line);
    });
    return box;
  }

  // Geometry comes simplified to the zoom it was asked for (the server's nearest tier at or above it). The whole node
  // is drawn at the tier that fits it; past that tier, the map asks for its view (padded by half, so that small moves
  // need nothing new) at the finer zoom, and again when a move leaves what it holds.
  var fitZoom = null, whole = null, held = null, asked = 0, outlines = null, spots = null;

  function gridsAt(zoom, bounds) {
    var url = el.dataset.gridsUrl + (zoom === null ? "" : "&zoom=" + zoom);
    if (bounds) url += "&bbox=" + bounds.toBBoxString();
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  function draw(fc) {
    var picked = selected && selected.feature ? selected.feature.properties.code : null;
    if (grids) map.removeLayer(grids);
    if (outlines) map.removeLayer(outlines);
    if (spots) map.removeLayer(spots);
    selected = null;
    hotspots = {};
    (fc.hotspots || []).forEach(function (spot) { (hotspots[spot.grid] = hotspots[spot.grid] || []).push(spot); });
    var drawn = fc.features.filter(function (f) { return f.properties.kind === "grid"; }).length;
    var renderer = drawn > CANVAS_FROM ? L.canvas({ padding: 0.2 }) : L.svg({ padding: 0.2 });
    grids = L.geoJSON(fc, {
      renderer: renderer,
      style: gridStyle,
      filter: function (f) { return f.properties.kind === "grid"; },
      onEachFeature: function (feature, layer) {
        var hot = !!hotspots[feature.properties.code];
        layer.on("click", function () { showGrid(feature, layer); });
        if (hot) layer.bindPopup(function () { return hotspotPopup(feature); }, { maxWidth: 280 });
        layer.on("add", function () {
          var path = layer.getElement && layer.getElement();
          if (!path) return;
          path.setAttribute("data-grid", feature.properties.code);
        });
        if (feature.properties.code === picked) {
          selected = layer;
          layer.setStyle({ color: "#1565c0", weight: 3 });
        }
      },
    }).addTo(map);
    outlines = L.geoJSON(fc, {
      renderer: renderer,
      style: outlineStyle,
      interactive: false,
      filter: function (f) { return f.properties.kind !== "grid"; },
    }).addTo(map);
    // Hot spots over everything (the outlines would hide their edges): a thick outline that pulses in SVG.
    spots = L.geoJSON(fc, {
      renderer: renderer,
      interactive: false,
      className: "hotspot-grid",
      style: { color: HOTSPOT, weight: 4, opacity: 1, fill: false },
      filter: function (f) { return f.properties.kind === "grid" && !!hotspots[f.properties.code]; },
      onEachFeature: function (feature, layer) {
        layer.on("add", function () {
          var path = layer.getElement && layer.getElement();
          if (path) path.setAttribute("data-hotspot", feature.properties.code);
        });
      },
    }).addTo(map);
    drawLegend();
    el.dataset.zoom = String(fc.zoom);
    el.dataset.grids = String(drawn);
    el.dataset.hotspots = String(Object.keys(hotspots).length);
  }

  var points = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50, chunkedLoading: true });
  map.addLayer(points);

  function loadPoints(bounds) {
    var url = el.dataset.issuesUrl + "?area=" + encodeURIComponent(el.dataset.area);
    if (bounds) url += "&bbox=" + bounds.toBBoxString();
    var ask = asked;
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (fc) {
        if (ask !== asked) return;  // the map moved on: a newer answer is coming
        var markers = [];
        fc.features.forEach(function (f) {
          if (!f.geometry) return;
          var q = f.properties;
          var marker = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
            title: q.number + " · " + q.status_label,
            alt: q.number,
            icon: L.divIcon({ className: "issue-point" + (q.overdue ? " overdue" : ""), iconSize: [14, 14] }),
          });
          marker.on("click", function () { window.location.href = q.url; });
          markers.push(marker);
        });
        points.clearLayers();
        points.addLayers(markers);
        var note = document.getElementById("map-truncated");
        if (fc.truncated && !note) {
          note = text("p", labels.truncated, "muted");
          note.id = "map-truncated";
          el.parentNode.insertBefore(note, el);
        } else if (!fc.truncated && note) {
          note.remove();
        }
        el.dataset.points = String(markers.length);
      });
  }

  gridsAt(null)
    .then(function (fc) {
      fitZoom = fc.zoom;
      whole = fc;
      draw(fc);
      if (fc.bbox) map.fitBounds([[fc.bbox[1], fc.bbox[0]], [fc.bbox[3], fc.bbox[2]]], { padding: [8, 8] });
      el.dataset.loaded = "grids";
      map.on("moveend", follow);
    })
    .catch(fail);
  loadPoints(null).catch(fail);

  // After each move or zoom: the whole node when the map is out at its own zoom, else the view at the finer zoom.
  function follow() {
    el.dataset.view = String(map.getZoom());  // where the map is: read by the browser tests
    var zoom = Math.round(map.getZoom());
    var wanted = zoom <= fitZoom ? fitZoom : Math.min(19, zoom);
    if (wanted === fitZoom) {
      if (held !== null) {
        held = null;
        asked++;
        draw(whole);
        loadPoints(null).catch(function () {});
      }
      return;
    }
    var view = map.getBounds();
    if (held !== null && held.zoom >= wanted && held.bounds.contains(view)) return;
    var bounds = view.pad(0.5);
    var ask = ++asked;
    held = { zoom: wanted, bounds: bounds };
    gridsAt(wanted, bounds)
      .then(function (fc) { if (ask === asked) draw(fc); })
      .catch(function () {});
    loadPoints(bounds).catch(function () {});
  }

  drawLegend();
  document.querySelectorAll('input[name="measure"]').forEach(function (input) {
    input.addEventListener("change", function () {
      measure = input.value;
      el.dataset.measure = measure;
      if (grids) grids.setStyle(gridStyle);
      if (selected) selected.setStyle({ color: "#1565c0", weight: 3 });
      drawLegend();
    });
  });
})();
