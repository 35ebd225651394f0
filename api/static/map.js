/* roadscan map page: defects and segment condition from the vector tiles, filters, list, popup, summary.
 * Everything comes from this server; the basemap is optional (config.basemap). */
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("roadscan-config").textContent);
  const origin = window.location.origin;
  const CLASS_NAMES = config.class_names;  // code -> the name people read (core/classes.py)
  const CONDITION = [[1, "#1a9850", "1 good"], [2, "#91cf60", "2 fair"], [3, "#fee08b", "3 poor"],
                     [4, "#fc8d59", "4 very poor"], [5, "#d73027", "5 critical"]];
  const UNRATED = "#9e9e9e";
  const PRIORITY = [[0, "#ffffb2"], [25, "#fecc5c"], [50, "#fd8d3c"], [75, "#f03b20"], [100, "#bd0026"]];

  const el = (id) => document.getElementById(id);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  // -- filters -------------------------------------------------------------------------------------
  function checkboxes(target, name, values, labels) {
    el(target).innerHTML = values.map((v) =>
      `<label><input type="checkbox" name="${name}" value="${esc(v)}" checked> ${esc(labels ? labels[v] || v : v)}</label>`).join("");
  }
  checkboxes("f-class", "class", config.classes, CLASS_NAMES);
  checkboxes("f-status", "status", config.statuses);

  function checked(name) {
    return Array.from(document.querySelectorAll(`input[name=${name}]:checked`)).map((i) => i.value);
  }

  function currentFilter() {
    return { classes: checked("class"), statuses: checked("status"), minSeverity: Number(el("f-severity").value),
             from: el("f-from").value || null, to: el("f-to").value || null };
  }

  /* The same selection as a MapLibre filter expression (on tile properties) ... */
  function layerFilter(f) {
    const all = ["all", ["in", ["get", "code"], ["literal", f.classes]], ["in", ["get", "status"], ["literal", f.statuses]],
                 [">=", ["get", "severity"], f.minSeverity]];
    if (f.from) all.push([">=", ["get", "last_seen"], f.from]);
    if (f.to) all.push(["<=", ["get", "first_seen"], f.to]);
    return all;
  }

  /* ... and as API query parameters (OGC items, summary, work lists). */
  function apiParams(f, opts) {
    const p = new URLSearchParams();
    if (f.classes.length !== config.classes.length) p.set("class", f.classes.join(","));
    if (f.statuses.length !== config.statuses.length) p.set("status", f.statuses.join(","));
    if (f.minSeverity > 1 && !(opts && opts.noSeverity)) p.set("min_severity", String(f.minSeverity));
    if ((f.from || f.to) && !(opts && opts.noDates)) p.set("datetime", `${f.from || ".."}/${f.to || ".."}`);
    return p;
  }

  function empty(f) { return f.classes.length === 0 || f.statuses.length === 0; }

  function viewBbox() {
    const b = map.getBounds();
    const r = (v) => v.toFixed(6);
    return [r(Math.max(b.getWest(), -180)), r(Math.max(b.getSouth(), -90)), r(Math.min(b.getEast(), 180)), r(Math.min(b.getNorth(), 90))].join(",");
  }

  // -- the map -------------------------------------------------------------------------------------
  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0ea" } }] };
  let styleArg = style;
  if (config.basemap && config.basemap.includes("{z}")) {
    style.sources.basemap = { type: "raster", tiles: [config.basemap], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  } else if (config.basemap) {
    styleArg = config.basemap;  // a MapLibre style URL; our layers go on top of it
  }

  const startHash = window.location.hash;  // a shared view (#zoom/lat/lon) wins over fitting the data
  const map = new maplibregl.Map({ container: "map", style: styleArg, center: [10, 56], zoom: 5, hash: true,
                                   attributionControl: { compact: true } });
  window.roadscanMap = map;
  window.roadscan = { ready: false, layerFilter, apiParams, currentFilter };
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-left");

  function addLayers() {
    map.addSource("condition", { type: "vector", tiles: [`${origin}/tiles/segment_condition/{z}/{x}/{y}.mvt`], minzoom: 0, maxzoom: 17 });
    map.addSource("defects", { type: "vector", tiles: [`${origin}/tiles/defects/{z}/{x}/{y}.mvt`], minzoom: 0, maxzoom: 16 });
    const conditionColor = ["match", ["coalesce", ["get", "condition"], 0]];
    CONDITION.forEach(([k, c]) => conditionColor.push(k, c));
    conditionColor.push(UNRATED);
    map.addLayer({ id: "condition", type: "line", source: "condition", "source-layer": "segment_condition",
                   layout: { "line-cap": "round", "line-join": "round" },
                   paint: { "line-color": conditionColor,
                            "line-width": ["interpolate", ["linear"], ["zoom"], 10, 2, 15, 5, 19, 10],
                            "line-opacity": 0.85 } });
    const priorityColor = ["interpolate", ["linear"], ["get", "priority"]];
    PRIORITY.forEach(([v, c]) => priorityColor.push(v, c));
    map.addLayer({ id: "defects", type: "circle", source: "defects", "source-layer": "defects",
                   paint: { "circle-color": priorityColor,
                            "circle-radius": ["interpolate", ["linear"], ["zoom"],
                                              10, ["+", 1.5, ["*", 0.6, ["get", "severity"]]],
                                              16, ["+", 3, ["*", 1.6, ["get", "severity"]]]],
                            "circle-stroke-color": "#333", "circle-stroke-width": 0.8 } });
    map.addLayer({ id: "defects-selected", type: "circle", source: "defects", "source-layer": "defects",
                   filter: ["==", ["get", "id"], -1],
                   paint: { "circle-radius": 14, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#0050ff", "circle-stroke-width": 3 } });
  }

  map.on("load", async () => {
    addLayers();
    legend();
    try {
      const s = await (await fetch(`${origin}/map/summary`)).json();
      const b = s.bbox;
      if (!startHash && b && b[0] > -180) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 17, duration: 0 });
    } catch (e) { /* the summary panel says why below */ }
    applyFilters();
    map.once("idle", () => { window.roadscan.ready = true; });
  });

  map.on("click", "defects", (e) => { if (e.features.length) openDefect(e.features[0].properties.id, e.lngLat); });
  map.on("mouseenter", "defects", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "defects", () => { map.getCanvas().style.cursor = ""; });
  map.on("moveend", () => { if (el("f-inview").checked) refreshList(); });

  // -- apply the filters everywhere ----------------------------------------------------------------
  let generation = 0;
  function applyFilters() {
    const f = currentFilter();
    map.setFilter("defects", layerFilter(f));
    const base = apiParams(f);
    const wl = apiParams(f, { noSeverity: true, noDates: true });  // work lists filter by class, status and area
    wl.set("bbox", viewBbox());
    wl.set("limit", "500");
    for (const fmt of ["csv", "gpx"]) {
      const q = new URLSearchParams(wl); q.set("f", fmt);
      el(`dl-${fmt}`).href = `${origin}/worklists?${q}`;
    }
    refreshList();
    refreshSummary(base);
  }

  async function refreshList() {
    const mine = ++generation;
    const f = currentFilter();
    const list = el("list");
    if (empty(f)) { list.innerHTML = ""; el("list-count").textContent = "(0)"; return; }
    const p = apiParams(f);
    if (el("f-inview").checked) p.set("bbox", viewBbox());
    p.set("limit", "100");
    p.set("f", "json");
    try {
      const r = await fetch(`${origin}/collections/defects/items?${p}`, { headers: { Accept: "application/geo+json" } });
      const body = await r.json();
      if (mine !== generation) return;
      if (!r.ok) { list.innerHTML = `<li>${esc(body.description || r.statusText)}</li>`; return; }
      el("list-count").textContent = `(${body.numberMatched}${body.numberMatched > body.features.length ? `, first ${body.features.length} by priority` : ""})`;
      el("list-count").dataset.matched = body.numberMatched;
      list.innerHTML = body.features.map((ft) => {
        const pr = ft.properties;
        return `<li data-id="${ft.id}" data-lon="${ft.geometry.coordinates[0]}" data-lat="${ft.geometry.coordinates[1]}">` +
               `<b>${esc(pr.name)}</b> · severity ${esc(pr.severity)} · priority ${esc(pr.priority)} · ${esc(pr.status)}` +
               `${pr.road_name ? ` · ${esc(pr.road_name)}` : ""}</li>`;
      }).join("");
    } catch (e) {
      if (mine === generation) list.innerHTML = `<li>could not load the list (${esc(e)})</li>`;
    }
  }

  el("list").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-id]");
    if (!li) return;
    const at = [Number(li.dataset.lon), Number(li.dataset.lat)];
    map.easeTo({ center: at, zoom: Math.max(map.getZoom(), 17) });
    openDefect(Number(li.dataset.id), at);
  });

  async function refreshSummary(params) {
    const box = el("summary");
    if (empty(currentFilter())) { box.innerHTML = "<h2>Summary</h2><p>No class or status selected.</p>"; return; }
    try {
      const r = await fetch(`${origin}/map/summary?${params}`);
      const s = await r.json();
      if (!r.ok) { box.innerHTML = `<h2>Summary</h2><p>${esc(s.description)}</p>`; return; }
      const statuses = Object.keys(s.by_status);
      const rows = s.by_class.map((c) => `<tr><td>${esc(c.name)}</td>${statuses.map((st) => `<td>${c.by_status[st] || 0}</td>`).join("")}<td><b>${c.count}</b></td></tr>`).join("");
      const cond = s.condition.map((c) => `<tr><td><span class="swatch line" style="background:${c.condition ? CONDITION[c.condition - 1][1] : UNRATED}"></span>${esc(c.condition ? c.condition + " " + c.label : c.label)}</td><td>${c.segments}</td><td>${c.km.toFixed(2)}</td></tr>`).join("");
      box.innerHTML = `<h2>Summary</h2><p id="summary-total">${s.defects} defects match</p>` +
        `<table id="summary-classes"><tr><th>class</th>${statuses.map((st) => `<th>${esc(st)}</th>`).join("")}<th>all</th></tr>${rows}</table>` +
        `<table id="summary-condition"><tr><th>condition</th><th>segments</th><th>km</th></tr>${cond}` +
        `<tr><td>all roads rated or not</td><td></td><td><b>${s.road_km.toFixed(2)}</b></td></tr></table>`;
    } catch (e) {
      box.innerHTML = `<h2>Summary</h2><p>could not load the summary (${esc(e)})</p>`;
    }
  }

  el("filters").addEventListener("change", applyFilters);

  // -- the popup -----------------------------------------------------------------------------------
  let popup = null;
  async function openDefect(id, lngLat) {
    map.setFilter("defects-selected", ["==", ["get", "id"], Number(id)]);
    if (popup) popup.remove();
    popup = new maplibregl.Popup({ maxWidth: "360px" }).setLngLat(lngLat)
      .setHTML(`<div class="popup" data-id="${esc(id)}">loading defect ${esc(id)}…</div>`).addTo(map);
    const mine = popup;
    try {
      const [item, hist] = await Promise.all([
        fetch(`${origin}/collections/defects/items/${id}?f=json`, { headers: { Accept: "application/geo+json" } }).then((r) => r.json()),
        fetch(`${origin}/defects/${id}/history`).then((r) => (r.ok ? r.json() : { history: [] })),
      ]);
      if (mine !== popup) return;
      const p = item.properties || {};
      const breakdown = p.priority_breakdown || {};
      const terms = Object.entries(breakdown).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("");
      const history = (hist.history || []).map((h) => `<li>${esc(String(h.at).slice(0, 16).replace("T", " "))}: <b>${esc(h.status)}</b> by ${esc(h.by)}${h.note ? ` (${esc(h.note)})` : ""}</li>`).join("");
      popup.setHTML(`<div class="popup" data-id="${esc(id)}">
        <h3>${esc(p.name)} <small>(${esc(p.code)}) #${esc(id)}</small></h3>
        <img class="evidence" alt="evidence frame of defect ${esc(id)}" src="${origin}/defects/${encodeURIComponent(id)}/image" onerror="this.replaceWith(Object.assign(document.createElement('p'),{textContent:'no evidence image stored'}))">
        <p>Severity <b>${esc(p.severity)}</b> · status <b>${esc(p.status)}</b>${p.road_name ? ` · ${esc(p.road_name)}` : ""}<br>
        seen ${esc(String(p.first_seen).slice(0, 10))} – ${esc(String(p.last_seen).slice(0, 10))}, ${esc(p.n_obs)} sightings</p>
        <p class="priority">Priority <b>${esc(p.priority)}</b></p><table class="breakdown">${terms}</table>
        <p>History</p><ul class="history">${history || "<li>no status changes</li>"}</ul></div>`);
    } catch (e) {
      if (mine === popup) popup.setHTML(`<div class="popup">could not load defect ${esc(id)} (${esc(e)})</div>`);
    }
  }

  // -- the legend ----------------------------------------------------------------------------------
  function legend() {
    const pri = PRIORITY.map(([v, c]) => `<span class="swatch" style="background:${c}"></span>${v}${v === 100 ? "+" : ""}`).join(" ");
    const sev = [1, 3, 5].map((s) => `<span class="swatch" style="background:#888;width:${6 + 3 * s}px;height:${6 + 3 * s}px"></span>${s}`).join(" ");
    const cond = CONDITION.map(([, c, label]) => `<div><span class="swatch line" style="background:${c}"></span>${label}</div>`).join("") +
      `<div><span class="swatch line" style="background:${UNRATED}"></span>not rated</div>`;
    el("legend").innerHTML = `<h3>Defect priority (colour)</h3>${pri}<h3>Severity (size)</h3>${sev}<h3>Road condition</h3>${cond}`;
  }
})();
