/* The map of /map/: grids from /api/v1/map/grids/ coloured by open or overdue issues, the community and street
   outlines on a plain background (no tiles, no fonts from elsewhere), the open issues from /api/v1/map/issues/ as
   clustered points. Click a grid for its numbers and open issues, an issue for its page. The page's table holds
   the same numbers for anyone who cannot use the map. */
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
      var text = hi === null ? lo + "+" : lo === hi ? String(lo) : lo + "–" + hi;
      parts.push('<span class="swatch" style="background:' + COLOURS[i] + '"></span>' + text);
    }
    legend.innerHTML = parts.join(" ");
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
    if (selected) grids.resetStyle(selected);
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

  // Geometry comes simplified to the zoom it was asked for; zoomed in by ZOOM_STEP or more past it, the grids are
  // asked again at the finer zoom (in steps, so a few zooms serve everyone and the server keeps each drawn once).
  var ZOOM_STEP = 3, fitZoom = null, drawnZoom = null, outlines = null, loading = false;

  function gridsAt(zoom) {
    var url = el.dataset.gridsUrl + (zoom === null ? "" : "&zoom=" + zoom);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); });
  }

  function draw(fc) {
    var picked = selected && selected.feature ? selected.feature.properties.code : null;
    if (grids) map.removeLayer(grids);
    if (outlines) map.removeLayer(outlines);
    selected = null;
    var renderer = fc.features.length > CANVAS_FROM ? L.canvas({ padding: 0.2 }) : L.svg({ padding: 0.2 });
    grids = L.geoJSON(fc, {
      renderer: renderer,
      style: gridStyle,
      filter: function (f) { return f.properties.kind === "grid"; },
      onEachFeature: function (feature, layer) {
        layer.on("click", function () { showGrid(feature, layer); });
        layer.on("add", function () {
          var path = layer.getElement && layer.getElement();
          if (path) path.setAttribute("data-grid", feature.properties.code);
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
    drawnZoom = fc.zoom;
  }

  gridsAt(null)
    .then(function (fc) {
      fitZoom = fc.zoom;
      draw(fc);
      if (fc.bbox) map.fitBounds([[fc.bbox[1], fc.bbox[0]], [fc.bbox[3], fc.bbox[2]]], { padding: [8, 8] });
      el.dataset.loaded = "grids";
    })
    .catch(fail);

  map.on("zoomend", function () {
    el.dataset.view = String(map.getZoom());  // where the map is: read by the browser tests
    if (fitZoom === null || loading) return;
    var zoom = Math.round(map.getZoom());
    var wanted = zoom < fitZoom + ZOOM_STEP ? fitZoom : Math.min(19, fitZoom + ZOOM_STEP * Math.floor((zoom - fitZoom) / ZOOM_STEP));
    if (wanted <= drawnZoom) return;
    loading = true;
    gridsAt(wanted)
      .then(function (fc) { draw(fc); el.dataset.zoom = String(fc.zoom); })
      .catch(function () {})
      .then(function () { loading = false; });
  });

  var points = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50, chunkedLoading: true });
  map.addLayer(points);
  fetch(el.dataset.issuesUrl + "?area=" + encodeURIComponent(el.dataset.area), { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(function (fc) {
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
      points.addLayers(markers);
      if (fc.truncated) el.parentNode.insertBefore(text("p", labels.truncated, "muted"), el);
      el.dataset.points = String(markers.length);
    })
    .catch(fail);

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
