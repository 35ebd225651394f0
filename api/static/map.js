/* roadscan map page: the server's MapLibre style (/tiles/style.json: the stored roads as basemap with street
 * labels, road condition, defects with the most urgent on top), filters, list, popup, summary.
 * Everything comes from this server: an optional PMTiles basemap (config.pmtiles, pmtiles protocol) or a
 * style / raster basemap URL (config.basemap) goes under the roads. Labels need no glyph download: the
 * style has no `glyphs`, so MapLibre (5.11+) draws the text with the browser's own font. */
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("roadscan-config").textContent);
  const origin = window.location.origin;
  const CLASS_NAMES = config.class_names;  // code -> the name people read (core/classes.py)
  // colours of the legend and summary: the style's metadata (api/tiles.py) replaces these once loaded
  let CONDITION = [[1, "#1a9850", "1 good"], [2, "#91cf60", "2 fair"], [3, "#fee08b", "3 poor"],
                   [4, "#fc8d59", "4 very poor"], [5, "#d73027", "5 critical"]];
  let UNRATED = "#9e9e9e";
  let PRIORITY = [[0, "#ffffb2"], [25, "#fecc5c"], [50, "#fd8d3c"], [75, "#f03b20"], [100, "#bd0026"]];

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
  const startHash = window.location.hash;  // a shared view (#zoom/lat/lon) wins over fitting the data
  let map = null;
  window.roadscan = { ready: false, layerFilter, apiParams, currentFilter };

  /* The basemap under the roads: a PMTiles file of this server (raster, or vector drawn plainly), an XYZ
   * raster template, or another MapLibre style whose layers go first. Returns [sources, layers]. */
  async function basemapLayers() {
    if (config.pmtiles && window.pmtiles) {
      const protocol = new pmtiles.Protocol();
      maplibregl.addProtocol("pmtiles", protocol.tile);
      const archive = new pmtiles.PMTiles(`${origin}${config.pmtiles}`);
      protocol.add(archive);
      const header = await archive.getHeader();
      const url = `pmtiles://${origin}${config.pmtiles}`;
      if (header.tileType !== 1) {  // 1: MVT; otherwise PNG, JPEG, WebP or AVIF images
        return [{ basemap: { type: "raster", url, tileSize: 256 } }, [{ id: "basemap", type: "raster", source: "basemap" }]];
      }
      const meta = await archive.getMetadata();
      const layers = [];
      for (const vl of (meta && meta.vector_layers) || []) {
        layers.push({ id: `basemap-fill-${vl.id}`, type: "fill", source: "basemap", "source-layer": vl.id,
                      filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#dfe3d6", "fill-outline-color": "#c9cfbf" } });
        layers.push({ id: `basemap-line-${vl.id}`, type: "line", source: "basemap", "source-layer": vl.id,
                      filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#c4c4bb", "line-width": 1 } });
      }
      return [{ basemap: { type: "vector", url } }, layers];
    }
    if (config.basemap && config.basemap.includes("{z}")) {
      return [{ basemap: { type: "raster", tiles: [config.basemap], tileSize: 256 } }, [{ id: "basemap", type: "raster", source: "basemap" }]];
    }
    if (config.basemap) {
      const other = await (await fetch(config.basemap)).json();
      return [other.sources || {}, other.layers || []];
    }
    return [{}, []];
  }

  async function buildStyle() {
    const ours = await (await fetch(`${origin}${config.style}`)).json();
    const meta = ours.metadata || {};
    CONDITION = meta["roadscan:condition"] || CONDITION;
    UNRATED = meta["roadscan:unrated"] || UNRATED;
    PRIORITY = meta["roadscan:priority"] || PRIORITY;
    let under = [{}, []];
    try { under = await basemapLayers(); } catch (e) { console.warn("basemap not drawn:", e); }
    const [background, ...rest] = ours.layers;
    ours.sources = Object.assign({}, under[0], ours.sources);
    ours.layers = [background, ...under[1], ...rest,
      { id: "defects-selected", type: "circle", source: "defects", "source-layer": "defects", filter: ["==", ["get", "id"], -1],
        paint: { "circle-radius": 14, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#0050ff", "circle-stroke-width": 3 } }];
    return ours;
  }

  async function start() {
    const style = await buildStyle();
    map = new maplibregl.Map({ container: "map", style, center: [10, 56], zoom: 5, hash: true, maxZoom: 20,
                               attributionControl: { compact: true } });
    window.roadscanMap = map;
    map.addControl(new maplibregl.NavigationControl(), "top-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-left");
    map.on("load", onLoad);
    // the most urgent defect under the pointer is the one drawn on top, and the one opened
    map.on("click", "defects", (e) => {
      if (!e.features.length) return;
      const top = e.features.reduce((a, b) => (Number(b.properties.priority) > Number(a.properties.priority) ? b : a));
      openDefect(top.properties.id, top.geometry.coordinates);
    });
    map.on("mouseenter", "defects", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "defects", () => { map.getCanvas().style.cursor = ""; });
    map.on("moveend", () => { if (el("f-inview").checked) refreshList(); });
  }

  async function onLoad() {
    legend();
    try {
      const s = await (await fetch(`${origin}/map/summary`)).json();
      const b = s.bbox;
      if (!startHash && b && b[0] > -180) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 17, duration: 0 });
    } catch (e) { /* the summary panel says why below */ }
    applyFilters();
    map.once("idle", () => { window.roadscan.ready = true; });
  }

  // -- apply the filters everywhere ----------------------------------------------------------------
  let generation = 0;
  function applyFilters() {
    if (!map || !map.getLayer("defects")) return;  // the map applies them once it has loaded
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
  /* Everything a crew or planner needs about one defect: what and where (id, road, chainage along the
   * segment and along the source road, side, size, coordinates), its status with triage and external
   * reference, the evidence frame with the detection box drawn, the priority breakdown and history, and a
   * status control that writes with a crew key (kept in this tab only). */
  const KEY_STORE = "roadscan-key";
  let popup = null;
  const num = (v, digits) => (v == null || v === "" ? "–" : Number(v).toFixed(digits));

  function keepInView() {
    // the popup must fit the map (its top was cut off at zoom 18): pan by what sticks out
    if (!popup || !popup.getElement()) return;
    const r = popup.getElement().getBoundingClientRect();
    const m = map.getContainer().getBoundingClientRect();
    let dx = 0, dy = 0;
    if (r.top < m.top + 8) dy = r.top - m.top - 8;
    else if (r.bottom > m.bottom - 8) dy = r.bottom - m.bottom + 8;
    if (r.left < m.left + 8) dx = r.left - m.left - 8;
    else if (r.right > m.right - 8) dx = r.right - m.right + 8;
    if (dx || dy) map.panBy([dx, dy], { duration: 0 });
  }

  function statusForm(id, p) {
    const options = (config.settable || config.statuses).map((st) => `<option value="${esc(st)}"${st === p.status ? " selected" : ""}>${esc(st)}</option>`).join("");
    return `<form class="status-form" data-id="${esc(id)}">
        <label>Status <select name="status">${options}</select></label>
        <label>Reference <input name="external_ref" value="${esc(p.external_ref || "")}" placeholder="service request id" size="14"></label>
        <label>Note <input name="note" size="24"></label>
        <label>Crew key <input name="key" type="password" autocomplete="off" size="14" value="${esc(sessionStorage.getItem(KEY_STORE) || "")}"></label>
        <button type="submit">Save status</button> <span class="status-result" role="status"></span></form>`;
  }

  async function saveStatus(form) {
    const id = form.dataset.id;
    const data = new FormData(form);
    const key = data.get("key");
    const result = form.querySelector(".status-result");
    if (!key) { result.textContent = "a crew key is needed"; return; }
    sessionStorage.setItem(KEY_STORE, key);
    const body = { status: data.get("status"), external_ref: data.get("external_ref") || null };
    if (data.get("note")) body.note = data.get("note");
    try {
      const r = await fetch(`${origin}/defects/${encodeURIComponent(id)}/status`, {
        method: "POST", headers: { "Content-Type": "application/json", "X-API-Key": key }, body: JSON.stringify(body) });
      const answer = await r.json().catch(() => ({}));
      if (!r.ok) { result.textContent = `not saved: ${answer.description || answer.detail || r.statusText}`; return; }
      result.textContent = `saved: ${answer.status || body.status}`;
      applyFilters();
      openDefect(id, popup ? popup.getLngLat() : null);
    } catch (e) {
      result.textContent = `not saved (${e})`;
    }
  }

  async function openDefect(id, lngLat) {
    map.setFilter("defects-selected", ["==", ["get", "id"], Number(id)]);
    if (popup) popup.remove();
    popup = new maplibregl.Popup({ maxWidth: "380px", className: "defect-popup" }).setLngLat(lngLat)
      .setHTML(`<div class="popup" data-id="${esc(id)}">loading defect ${esc(id)}…</div>`).addTo(map);
    const mine = popup;
    try {
      const [item, hist] = await Promise.all([
        fetch(`${origin}/collections/defects/items/${id}?f=json`, { headers: { Accept: "application/geo+json" } }).then((r) => r.json()),
        fetch(`${origin}/defects/${id}/history`).then((r) => (r.ok ? r.json() : { history: [] })),
      ]);
      if (mine !== popup) return;
      const p = item.properties || {};
      const [lon, lat] = (item.geometry && item.geometry.coordinates) || [null, null];
      const breakdown = p.priority_breakdown || {};
      const terms = Object.entries(breakdown).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("");
      const history = (hist.history || []).map((h) => `<li>${esc(String(h.at).slice(0, 16).replace("T", " "))}: <b>${esc(h.status)}</b> by ${esc(h.by)}${h.note ? ` (${esc(h.note)})` : ""}</li>`).join("");
      const size = p.area_m2 != null ? `${num(p.width_m, 2)} × ${num(p.length_m, 2)} m, ${num(p.area_m2, 2)} m²`
                                     : `${num(p.width_m, 2)} × ${num(p.length_m, 2)} m`;
      const road = [p.road_name, p.road_code].filter(Boolean).map(esc).join(" · ");
      popup.setHTML(`<div class="popup" data-id="${esc(id)}">
        <h3>${esc(p.name)} <small>(${esc(p.code)})</small> <span class="defect-id">#${esc(id)}</span></h3>
        <img class="evidence" alt="evidence frame of defect ${esc(id)}, detection box drawn" src="${origin}/defects/${encodeURIComponent(id)}/image?box=true" onerror="this.replaceWith(Object.assign(document.createElement('p'),{textContent:'no evidence image stored'}))">
        <table class="facts">
          <tr><td>Status</td><td><b class="status">${esc(p.status)}</b>${p.external_ref ? ` · ref <b class="external-ref">${esc(p.external_ref)}</b>` : ""}</td></tr>
          <tr><td>Priority</td><td><b class="priority">${esc(p.priority)}</b> · severity <b>${esc(p.severity)}</b></td></tr>
          <tr><td>Road</td><td>${road || "–"}</td></tr>
          <tr><td>Chainage</td><td class="chainage">${num(p.chainage_m, 1)} m on segment ${esc(p.segment_id || "–")}${p.road_chainage_m != null ? `; ${num(p.road_chainage_m, 1)} m along the road` : ""}</td></tr>
          <tr><td>Side</td><td class="side">${esc(p.side || "–")}</td></tr>
          <tr><td>Size</td><td class="size">${size}</td></tr>
          <tr><td>Position</td><td class="coordinates">${num(lat, 6)}, ${num(lon, 6)}</td></tr>
          <tr><td>Seen</td><td>${esc(String(p.first_seen).slice(0, 10))} – ${esc(String(p.last_seen).slice(0, 10))}, ${esc(p.n_obs)} sightings</td></tr>
        </table>
        <details><summary>Priority breakdown</summary><table class="breakdown">${terms}</table></details>
        <p>History</p><ul class="history">${history || "<li>no status changes</li>"}</ul>
        ${statusForm(id, p)}</div>`);
      const form = popup.getElement().querySelector(".status-form");
      form.addEventListener("submit", (e) => { e.preventDefault(); saveStatus(form); });
      const img = popup.getElement().querySelector("img.evidence");
      if (img) img.addEventListener("load", keepInView);
      keepInView();
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

  start();
})();
