// dialsync console: plain JS, no framework, no external resources. Every write sends the
// session's CSRF token; data is inserted as text nodes only (never as HTML).
"use strict";
(() => {
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const REFRESH_MS = 5000;
  const $ = (sel) => document.querySelector(sel);

  // h("tag.class", {attr: v, onclick: f}, child, ...) → element
  function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split(".");
    const el = document.createElement(tag);
    if (classes.length) el.className = classes.join(" ");
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the CSP, unlike a style attribute
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); return el; };
  // Like el.append, skipping absent parts (append(null) would add the text "null").
  const put = (el, ...parts) => { el.append(...parts.flat().filter((p) => p !== null && p !== undefined && p !== false)); return el; };
  const duration = (secs) => secs >= 3600 ? `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`
    : secs >= 60 ? `${Math.floor(secs / 60)} min` : `${secs} s`;
  const badge = (text, kind) => h("span.badge.b-" + String(kind || text).replace(/[^a-z-]/gi, ""), {}, text);
  const time = (ms) => ms ? new Date(ms).toLocaleString() : "—";
  const fmt = (n) => (n ?? 0).toLocaleString();
  const short = (sha) => sha ? sha.slice(0, 12) + "…" : "—";
  function errorText(e) {
    if (e === null || e === undefined) return "";
    if (typeof e === "string") return e;
    if (Array.isArray(e)) return e.map((f) => `${f.field || "/"}: ${f.message} (${f.code})`).join("; ");
    return JSON.stringify(e);
  }

  class ApiError extends Error {}
  async function api(path, opts = {}) {
    const init = { method: opts.method || "GET", headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (init.method !== "GET") init.headers["X-CSRF-Token"] = CSRF;
    if (opts.json !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(opts.json); }
    if (opts.body !== undefined) { init.headers["Content-Type"] = "application/wasm"; init.body = opts.body; }
    const resp = await fetch("/console/api" + path, init);
    if (resp.status === 401) { location.href = "/console/login"; throw new ApiError("Session expired: log in again."); }
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new ApiError(body.message || `${resp.status} ${resp.statusText}`);
    return body;
  }
  const showError = (el, e) => clear(el).append(h("p.error-box", { role: "alert" }, e.message || String(e)));

  // ---- pages -------------------------------------------------------------------------
  const pages = {};
  let timer = null;
  function route() {
    const name = (location.hash || "#overview").slice(1);
    const page = pages[name] ? name : "overview";
    for (const s of document.querySelectorAll("main > section")) s.hidden = s.dataset.page !== page;
    for (const a of document.querySelectorAll("nav a")) {
      if (a.dataset.page === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    clearInterval(timer);
    timer = null;
    pages[page].show();
    document.title = `${$("#page-" + page + " h1").textContent} · dialsync console`;
  }
  window.addEventListener("hashchange", () => { route(); $("#main").focus(); });

  // ---- overview ----------------------------------------------------------------------
  function chart(hourly, label) {
    const NS = "http://www.w3.org/2000/svg";
    const w = 144, hgt = 32, bw = w / hourly.length;
    // Each hour is [accepted, applied, rejected, deadLettered, other].
    hourly = hourly.map(([accepted, applied, rejected, deadLettered, other]) => ({ accepted, applied, rejected, deadLettered, other }));
    const max = Math.max(1, ...hourly.map((c) => c.applied + c.rejected + c.deadLettered + c.other));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    svg.setAttribute("width", w);
    svg.setAttribute("height", hgt);
    svg.setAttribute("role", "img");
    const day = hourly.reduce((a, c) => ({ ap: a.ap + c.applied, re: a.re + c.rejected, dl: a.dl + c.deadLettered }), { ap: 0, re: 0, dl: 0 });
    const title = document.createElementNS(NS, "title");
    title.textContent = `${label}: last 24 hours, ${day.ap} applied, ${day.re} rejected, ${day.dl} dead-lettered (one bar per hour, newest right)`;
    svg.append(title);
    svg.setAttribute("aria-label", title.textContent);
    const base = document.createElementNS(NS, "rect");
    base.setAttribute("x", 0); base.setAttribute("y", hgt - 1); base.setAttribute("width", w); base.setAttribute("height", 1);
    base.setAttribute("fill", "#d1d5db");
    svg.append(base);
    hourly.forEach((c, i) => {
      let y = hgt - 1;
      for (const [n, cls] of [[c.applied, "bar-applied"], [c.other, "bar-other"], [c.rejected, "bar-rejected"], [c.deadLettered, "bar-dead"]]) {
        if (!n) continue;
        const bh = Math.max(1, (n / max) * (hgt - 2));
        y -= bh;
        const r = document.createElementNS(NS, "rect");
        r.setAttribute("x", (i * bw + 0.5).toFixed(1)); r.setAttribute("y", y.toFixed(1));
        r.setAttribute("width", Math.max(1, bw - 1).toFixed(1)); r.setAttribute("height", bh.toFixed(1));
        r.setAttribute("class", cls);
        svg.append(r);
      }
    });
    return svg;
  }
  const counts = (c) => h("span.counts", { title: "accepted · applied · rejected · dead-lettered" },
    fmt(c.accepted), " · ", h("span.a", {}, fmt(c.applied)), " · ", h("span.r", {}, fmt(c.rejected)), " · ", h("span.d", {}, fmt(c.deadLettered)));
  const cell = (label, ...children) => h("td", { "data-label": label }, ...children);
  function lastError(e) {
    if (!e) return h("span.muted", {}, "none");
    return h("div", {}, h("span.err", {}, errorText(e.error)), h("div.muted", {}, `${e.externalId} · ${e.outcome || "retrying"} · ${time(e.atMs)}`));
  }

  let overviewRendered = false;
  async function loadOverview() {
    const status = $("#overview-status");
    try {
      const data = await api("/overview");
      const cards = clear($("#org-cards"));
      for (const o of data.orgs) {
        const rate = o.rate || {};
        const used = rate.usedPerMinute;
        const pct = used == null ? null : Math.min(100, Math.round((used / rate.limitPerMinute) * 100));
        const token = o.token || { state: "missing" };
        const tokenText = { valid: "valid", missing: "none yet", due: "due for refresh", fetching: "fetching" }[token.state] || token.state;
        cards.append(h("article.card", { "aria-label": "Org " + o.name },
          h("h3", {}, h("span", {}, o.name), badge("token " + tokenText, token.state)),
          h("dl.kv", {},
            h("dt", {}, "Sources"), h("dd", {}, o.sources.join(", ")),
            h("dt", {}, "Last hour"), h("dd", {}, counts(o.lastHour)),
            h("dt", {}, "Last day"), h("dd", {}, counts(o.lastDay)),
            h("dt", {}, "Queue"), h("dd", {}, fmt(o.queue)),
            h("dt", {}, "Dead letters"), h("dd", {}, fmt(o.openDeadLetters)),
            h("dt", {}, "Rate budget"), h("dd", {},
              pct == null ? `${fmt(rate.limitPerMinute)}/min (measuring…)` : `${fmt(used)} of ${fmt(rate.limitPerMinute)} req/min (${pct}%)`,
              pct == null ? null : h("div.meter", { role: "meter", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": "rate budget used" }, h("span", { style: `width:${pct}%` })),
              h("div.muted", {}, `429s ${fmt(rate.rateLimited)} · retries ${fmt(rate.retries)} · 409s ${fmt(rate.conflicts)}`)),
            h("dt", {}, "Token"), h("dd", {}, token.state === "valid" ? `valid, refreshed in ${duration(token.refreshInSecs)}` : tokenText),
            h("dt", {}, "Last error"), h("dd", {}, lastError(o.lastError))),
          chart(o.hourly, "org " + o.name)));
      }
      const tbody = clear($("#sources-table tbody"));
      $("#sources-table").classList.add("stack");
      for (const s of data.sources) {
        tbody.append(h("tr", {},
          cell("Source", h("strong", {}, s.name), h("div.muted", {}, `${s.org} · list ${s.listId}`)),
          cell("Plugin", s.plugin.id, h("div.sha", { title: s.plugin.sha256 }, short(s.plugin.sha256))),
          cell("Last hour", counts(s.lastHour)),
          cell("Last day", counts(s.lastDay)),
          cell("24 h", chart(s.hourly, "source " + s.name)),
          h("td.num", { "data-label": "Queue" }, fmt(s.queue), s.openDeadLetters ? h("div", {}, h("a", { href: "#deadletters" }, `${s.openDeadLetters} dead`)) : null),
          cell("Last error", lastError(s.lastError))));
      }
      status.textContent = `Updated ${new Date(data.generatedAtMs).toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
      if (!overviewRendered) { overviewRendered = true; performance.mark("overview-rendered"); }
    } catch (e) {
      status.textContent = "Refresh failed: " + e.message;
    }
  }
  pages.overview = { show() { loadOverview(); timer = setInterval(() => { if (!document.hidden) loadOverview(); }, REFRESH_MS); } };

  // ---- plugins -----------------------------------------------------------------------
  let pluginData = null;
  async function loadPlugins() {
    try {
      pluginData = await api("/plugins");
    } catch (e) { showError($("#swap-result"), e); return; }
    const all = [...pluginData.bundled, ...pluginData.installed];
    const tbody = clear($("#plugins-table tbody"));
    $("#plugins-table").classList.add("stack");
    for (const p of all) {
      tbody.append(h("tr", {}, cell("Name", h("strong", {}, p.name)), cell("Version", p.version || "—"),
        cell("Kind", badge(p.kind, p.kind === "bundled" ? "done" : "pending")), cell("sha256", h("span.sha", {}, p.sha256 || p.error || "—"))));
    }
    const select = $("#test-plugin");
    const keep = select.value;
    clear(select).append(...all.map((p) => h("option", { value: p.name }, `${p.name} ${p.version || ""}`)));
    if (keep) select.value = keep;
    const swaps = clear($("#swap-table tbody"));
    $("#swap-table").classList.add("stack");
    for (const s of pluginData.sources) {
      const id = "swap-" + s.name;
      const choose = h("select", { id, "data-source": s.name }, all.map((p) => h("option", { value: p.name, selected: p.name === s.plugin.reference }, p.name)));
      swaps.append(h("tr", { "data-source": s.name },
        cell("Source", h("strong", {}, s.name), h("div.muted", {}, "list " + s.listId)),
        cell("Runs", s.plugin.id, h("div.sha", { title: s.plugin.sha256 }, short(s.plugin.sha256))),
        cell("Swap to", h("label.sr-only", { for: id }, `Plugin for ${s.name}`), choose, " ",
          h("button", { type: "button", class: "swap-btn", onclick: () => swap(s.name, choose.value) }, "Swap"), " ",
          h("button.secondary", { type: "button", class: "secondary rollback-btn", disabled: !s.canRollBack, onclick: () => rollback(s.name) }, "Roll back")),
        cell("History", s.history.length ? h("ol.cols", {}, s.history.map((r) =>
          h("li", {}, `${time(r.atMs)}: ${r.kind} ${r.from.id} → ${r.to.id}`, r.note ? h("div.muted", {}, r.note) : null))) : h("span.muted", {}, "no swaps yet"))));
    }
  }
  async function swap(source, plugin) {
    const out = $("#swap-result");
    try {
      const r = await api(`/sources/${encodeURIComponent(source)}/plugin`, { method: "POST", json: { plugin } });
      clear(out).append(h("p.ok-box", {}, `${source}: swapped ${r.swap.from.id} → ${r.swap.to.id}`));
      await loadPlugins();
    } catch (e) { showError(out, e); }
  }
  async function rollback(source) {
    const out = $("#swap-result");
    try {
      const r = await api(`/sources/${encodeURIComponent(source)}/rollback`, { method: "POST", json: {} });
      clear(out).append(h("p.ok-box", {}, `${source}: rolled back ${r.swap.from.id} → ${r.swap.to.id}`));
      await loadPlugins();
    } catch (e) { showError(out, e); }
  }
  $("#upload-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = $("#upload-file").files[0];
    const out = $("#upload-result");
    if (!file) return;
    out.textContent = "Uploading…";
    try {
      const r = await api("/plugins", { method: "POST", body: await file.arrayBuffer() });
      clear(out).append(h("span.ok-box", {}, `Installed ${r.installed.name} ${r.installed.version} (sha256 ${short(r.installed.sha256)})`));
      await loadPlugins();
      $("#test-plugin").value = r.installed.name;
    } catch (e) { showError(out, e); }
  });
  $("#test-sample-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) $("#test-sample").value = await f.text();
  });

  // A record's JSON, pretty-printed, with the values at `pointers` (RFC 6901) marked.
  function jsonView(value, pointers) {
    const pre = h("pre.json", { tabindex: 0 });
    const missing = [];
    const esc = (s) => s.replace(/~1/g, "/").replace(/~0/g, "~");
    const wanted = new Set(pointers);
    for (const p of pointers) {
      let v = value;
      for (const part of p.split("/").slice(1).map(esc)) v = v && typeof v === "object" ? v[part] : undefined;
      if (v === undefined) missing.push(p);
    }
    function walk(v, path, indent, keyLabel, last) {
      const pad = "  ".repeat(indent);
      const parts = [];
      const tail = last ? "" : ",";
      const key = keyLabel === null ? "" : JSON.stringify(keyLabel) + ": ";
      if (v && typeof v === "object") {
        const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
        const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
        parts.push(pad + key + open + (entries.length ? "\n" : ""));
        entries.forEach(([k, x], i) => parts.push(...walk(x, path + "/" + String(k).replace(/~/g, "~0").replace(/\//g, "~1"), indent + 1, Array.isArray(v) ? null : k, i === entries.length - 1)));
        parts.push((entries.length ? pad : "") + close + tail + "\n");
      } else {
        const text = key + JSON.stringify(v);
        parts.push(pad, wanted.has(path) ? h("mark", { title: "field error at " + path }, text) : text, tail + "\n");
      }
      if (wanted.has(path) && v && typeof v === "object") return [h("mark", { title: "field error at " + path }, ...parts)];
      return parts;
    }
    pre.append(...walk(value, "", 0, null, true));
    if (wanted.has("")) pre.classList.add("whole");
    const box = h("div", {}, pre);
    if (missing.length) box.prepend(h("p.err", {}, "Not in the record: ", missing.map((m) => h("code", {}, m + " "))));
    return box;
  }
  function columns(data) {
    if (!data) return h("span.muted", {}, "—");
    return h("ul.cols", {}, Object.entries(data).map(([k, v]) => h("li", {}, h("code", {}, k), " ", v)));
  }
  $("#test-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#test-result");
    let config;
    try { config = JSON.parse($("#test-config").value || "{}"); } catch (e) { showError(out, new Error("Config is not JSON: " + e.message)); return; }
    out.textContent = "Running…";
    try {
      const r = await api("/plugins/test", { method: "POST", json: { plugin: $("#test-plugin").value, records: $("#test-sample").value, config } });
      const c = r.counts;
      const rows = r.outcomes.map((o) => {
        const errs = o.errors || [];
        return h("tr", { "data-outcome": o.outcome },
          h("td.num", { "data-label": "#" }, o.index + (o.change !== undefined ? "." + o.change : "")),
          cell("Outcome", badge(o.outcome)),
          cell("externalId", o.externalId ? h("code", {}, o.externalId) : h("span.muted", {}, "—")),
          cell("Columns", o.data ? columns(o.data) : (o.reason ? h("span.muted", {}, o.reason) : "—")),
          cell("Field errors", errs.length ? h("div", {},
            h("ul.cols", {}, errs.map((e) => h("li.field-error", {}, h("code.err", {}, e.field || "/"), ` ${e.message} (${e.code})`))),
            h("details", { open: true }, h("summary", {}, `Record ${o.index}`), jsonView(r.records[o.index], errs.map((e) => e.field)))) :
            o.message ? h("span.err", {}, `${o.limit}: ${o.message}`) : ""));
      });
      put(clear(out),
        h("h2", {}, `Result: ${r.plugin.id}`),
        h("p", {}, `${r.records.length} records: ${c.change || 0} change, ${c.skip || 0} skip, ${c.reject || 0} reject, ${c.failed || 0} failed · ${r.stats.elapsedMs.toFixed(1)} ms · fuel ${fmt(r.stats.fuel)} · peak memory ${fmt(Math.round(r.stats.peakMemoryBytes / 1024))} KiB`),
        h("div.table-wrap", {}, h("table.stack", { id: "test-table" },
          h("thead", {}, h("tr", {}, ["#", "Outcome", "externalId", "Columns", "Field errors"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows))),
        r.logs.length ? h("details", {}, h("summary", {}, `Plugin logs (${r.logs.length})`), h("pre.json", {}, r.logs.map((l) => `[${l.level}] ${l.message}\n`))) : null);
    } catch (e) { showError(out, e); }
  });
  pages.plugins = { show: loadPlugins };

  // ---- records -----------------------------------------------------------------------
  $("#records-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#records-result");
    const q = $("#records-q").value;
    const by = $("#records-by").value;
    out.textContent = "Searching…";
    try {
      const r = await api(`/records?q=${encodeURIComponent(q)}${by ? "&by=" + by : ""}`);
      clear(out);
      if (!r.results.length) { out.append(h("p", { role: "status" }, `No record matches ${JSON.stringify(r.query)}.`)); return; }
      out.append(h("p.muted", {}, `${r.results.length} contact(s), matched by ${r.matchedBy}`));
      for (const { history: c, genesys: g } of r.results) {
        const now = g.contact;
        out.append(h("article.contact", { "data-external-id": c.externalId },
          h("h2", {}, h("code", {}, c.externalId), " ", c.lastOutcome ? badge(c.lastOutcome) : null),
          h("p.muted", {}, `list ${c.listId} · contact id ${g.contactId || "—"}${c.removed ? " · deleted in the CRM" : ""}`),
          h("div.grid2", {},
            h("div", {}, h("h3", {}, "Last row written"), c.row ? columns(c.row.data) : h("p.muted", {}, "nothing written yet")),
            h("div.genesys-now", {}, h("h3", {}, "In Genesys now"),
              g.error ? h("p.err", {}, g.error) : now ? h("div", {}, columns(now.data), h("p.muted", {}, `callable: ${now.callable ?? "—"}`)) : h("p.muted", {}, "not in the contact list"))),
          h("h3", {}, `History (${c.changes.length} changes)`),
          h("div.table-wrap", {}, h("table.stack.history", {},
            h("thead", {}, h("tr", {}, ["Seq", "Accepted", "Source", "Operation", "Outcome", "Attempts", "Mapped columns", "Error"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, c.changes.map((ch) => h("tr", {},
              h("td.num", { "data-label": "Seq" }, ch.seq),
              cell("Accepted", time(ch.acceptedAtMs)),
              cell("Source", ch.source),
              cell("Operation", ch.op),
              cell("Outcome", badge(ch.outcome || ch.state), ch.written ? h("div.muted", {}, "row written") : null),
              h("td.num", { "data-label": "Attempts" }, ch.attempts),
              cell("Mapped columns", columns(Object.assign({}, ch.change.columns, Object.fromEntries((ch.change.phones || []).map((p) => [p.column, p.number]))))),
              cell("Error", h("span.err", {}, errorText(ch.error))))))))));
      }
    } catch (e) { showError(out, e); }
  });
  pages.records = { show() { $("#records-q").focus(); } };

  // ---- dead letters ------------------------------------------------------------------
  let shownLetters = [];
  async function loadLetters() {
    const source = $("#dl-source").value;
    const q = $("#dl-q").value;
    try {
      const r = await api(`/deadletters?source=${encodeURIComponent(source)}&q=${encodeURIComponent(q)}`);
      shownLetters = r.deadLetters;
      const sel = $("#dl-source");
      clear(sel).append(h("option", { value: "" }, "All sources"), ...r.sources.map((s) => h("option", { value: s, selected: s === source }, s)));
      $("#dl-count").textContent = `${r.deadLetters.length} shown of ${r.total} open dead letters`;
      $("#dl-replay-all").textContent = `Replay all (${r.total})`;
      $("#dl-replay-all").disabled = !r.total;
      $("#dl-all").checked = false;
      const tbody = clear($("#dl-table tbody"));
      $("#dl-table").classList.add("stack");
      for (const d of r.deadLetters) {
        tbody.append(h("tr", { "data-id": d.id },
          cell("Select", h("input", { type: "checkbox", class: "dl-pick", value: d.id, "aria-label": `Select dead letter ${d.id} (${d.external_id})` })),
          h("td.num", { "data-label": "Id" }, d.id),
          cell("Source", d.source),
          cell("externalId", h("code", {}, d.external_id)),
          h("td.num", { "data-label": "Attempts" }, d.attempts),
          cell("Dead-lettered", new Date(d.created_at).toLocaleString()),
          cell("Last error", h("span.err", {}, d.error)),
          cell("Replay", h("button.secondary", { type: "button", class: "secondary replay-one", "aria-label": `Replay dead letter ${d.id}`, onclick: () => replay({ ids: [d.id] }) }, "Replay"))));
      }
    } catch (e) { showError($("#dl-result"), e); }
  }
  async function replay(body) {
    const out = $("#dl-result");
    try {
      const r = await api("/deadletters/replay", { method: "POST", json: body });
      clear(out).append(h("p.ok-box", {}, `Replayed ${r.replayed.length} dead letter(s)` + (r.unknown.length ? `; already replayed or unknown: ${r.unknown.join(", ")}` : "")));
      await loadLetters();
      if (!r.seqs.length) return;
      const list = h("ul.cols", { id: "replay-outcomes" });
      out.append(h("h3", {}, "Outcome of the replayed changes"), list);
      for (let i = 0; i < 60; i++) {
        const s = await api(`/changes?seqs=${r.seqs.join(",")}`);
        clear(list).append(...s.changes.map((c) => h("li", { "data-seq": c.seq }, h("code", {}, c.externalId), " ", badge(c.outcome || c.state), c.error ? h("span.err", {}, " " + errorText(c.error)) : "")));
        if (s.changes.every((c) => c.state === "done")) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
    } catch (e) { showError(out, e); }
  }
  $("#dl-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadLetters(); });
  $("#dl-all").addEventListener("change", (ev) => { for (const c of document.querySelectorAll(".dl-pick")) c.checked = ev.target.checked; });
  $("#dl-replay-selected").addEventListener("click", () => {
    const ids = [...document.querySelectorAll(".dl-pick:checked")].map((c) => Number(c.value));
    if (!ids.length) { clear($("#dl-result")).append(h("p.error-box", { role: "alert" }, "Select one or more dead letters first.")); return; }
    replay({ ids });
  });
  $("#dl-replay-all").addEventListener("click", () => replay({ all: true }));
  pages.deadletters = { show: loadLetters };

  // ---- data actions ------------------------------------------------------------------
  async function copyText(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Plain-HTTP pages have no async clipboard: fall back to a selection copy.
      const ta = h("textarea", { "aria-hidden": "true" });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }
  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = h("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  async function loadActions() {
    const base = $("#actions-base").value;
    const list = clear($("#actions-list"));
    try {
      const params = new URLSearchParams();
      if (base) params.set("baseUrl", base);
      const integration = $("#actions-integration").value.trim();
      if (integration) params.set("integrationId", integration);
      const r = await api("/actions" + (params.toString() ? "?" + params : ""));
      $("#actions-integration").value = r.integrationId;
      $("#actions-base").value = r.baseUrl;
      $("#actions-status").textContent = `${r.actions.length} actions · credential: ${r.credential}` +
        (r.enabled ? "" : " · the data-action endpoints are off until [server.actions_auth] is set");
      for (const a of r.actions) {
        const text = JSON.stringify(a.definition, null, 2) + "\n";
        const copy = h("button.secondary", { type: "button", "aria-label": `Copy ${a.name} definition`, onclick: (ev) => copyText(text, ev.target) }, "Copy");
        list.append(h("article.contact", { "data-action": a.name },
          h("h2", {}, h("code", {}, a.name)),
          h("p", {}, a.description),
          a.problems.length ? h("p.err", {}, "Genesys would refuse it: " + a.problems.join("; ")) : null,
          h("div.actions-row", {}, copy, h("button.secondary", { type: "button", "aria-label": `Download .json of ${a.name}`, onclick: () => download(a.name + ".json", text) }, "Download .json")),
          h("details", {}, h("summary", {}, "Definition"), h("pre.json", { tabindex: 0 }, text))));
      }
    } catch (e) { showError(list, e); }
  }
  $("#actions-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadActions(); });

  // `dialsync actions install` from the console: dry run, install, the last ones kept.
  const installVerb = (outcome, dry) => dry ? { created: "would create", updated: "would update", unchanged: "unchanged" }[outcome]
    : outcome;
  function installView(run, heading) {
    const when = `${time(run.atMs)} · org ${run.org} · integration "${run.integrationName}" · base URL ${run.baseUrl}`;
    const box = h("div.install-run", { "data-kind": run.dryRun ? "dry-run" : "install" }, h("h3", {}, heading), h("p.muted", {}, when));
    if (run.error) { box.append(h("p.error-box", {}, (run.dryRun ? "Dry run failed: " : "Install failed: ") + run.error)); return box; }
    const r = run.report;
    const i = r.integration;
    box.append(h("p", {}, "Integration ", h("code", {}, i.name), ` (${i.id || "not created yet"}): `,
      badge(i.outcome === "unchanged" ? "found" : installVerb(i.outcome, r.dryRun), i.outcome === "unchanged" ? "done" : "pending")));
    box.append(h("div.table-wrap", {}, h("table.stack.install-table", {},
      h("caption.sr-only", {}, (run.dryRun ? "Plan" : "Result") + " per data action"),
      h("thead", {}, h("tr", {}, ["Action", run.dryRun ? "Plan" : "Result", "Changed", "Version", "Id"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, r.actions.map((a) => h("tr", { "data-action": a.name, "data-outcome": a.outcome },
        cell("Action", h("code", {}, a.name)),
        cell(run.dryRun ? "Plan" : "Result", badge(installVerb(a.outcome, r.dryRun), a.outcome === "unchanged" ? "done" : "pending")),
        cell("Changed", a.changed.length ? a.changed.join(", ") : "—"),
        h("td.num", { "data-label": "Version" }, a.version ?? "—"),
        cell("Id", h("span.sha", {}, a.id || "—"))))))));
    box.append(h("p.muted", {}, `${r.requests} API requests`));
    return box;
  }
  let installState = null;
  function showLastInstalls() {
    const last = clear($("#install-last"));
    const runs = (installState.runs || {})[$("#install-org").value] || {};
    if (installState.stateError) last.append(h("p.error-box", {}, "The last installs could not be read: " + installState.stateError));
    if (runs.lastInstall) last.append(installView(runs.lastInstall, "Last install"));
    if (runs.lastDryRun) last.append(installView(runs.lastDryRun, "Last dry run"));
    if (!runs.lastInstall && !runs.lastDryRun) last.append(h("p.muted", {}, "No install or dry run from the console yet for this org."));
  }
  async function loadInstalls() {
    try {
      installState = await api("/actions/install");
      const org = $("#install-org");
      const keep = org.value;
      clear(org).append(...installState.orgs.map((o) => h("option", { value: o }, o)));
      if (keep) org.value = keep;
      if (!$("#install-name").value) $("#install-name").value = installState.defaultIntegrationName;
      const none = !installState.orgs.length;
      $("#install-dry-run").disabled = none;
      $("#install-run").disabled = none;
      if (none) clear($("#install-result")).append(h("p.muted", {}, "No org in dialsync.toml has Genesys credentials: nothing to install into."));
      showLastInstalls();
    } catch (e) { showError($("#install-last"), e); }
  }
  async function runInstall(dryRun) {
    const out = clear($("#install-result"));
    out.append(h("p", {}, dryRun ? "Dry run…" : "Installing…"));
    for (const b of ["#install-dry-run", "#install-run"]) $(b).disabled = true;
    try {
      const body = { org: $("#install-org").value, integrationName: $("#install-name").value, baseUrl: $("#actions-base").value, dryRun };
      const r = await api("/actions/install", { method: "POST", json: body });
      clear(out).append(installView(r.run, dryRun ? "Dry run" : "Install"));
      // After a real install the definitions below show the integration it used.
      const installedInto = !dryRun && r.run.report && r.run.report.integration.id;
      if (installedInto) { $("#actions-integration").value = installedInto; loadActions(); }
      if (r.saveError) out.append(h("p.error-box", {}, "The result could not be kept: " + r.saveError));
      await loadInstalls();
    } catch (e) { showError(out, e); }
    for (const b of ["#install-dry-run", "#install-run"]) $(b).disabled = !(installState && installState.orgs.length);
  }
  $("#install-form").addEventListener("submit", (ev) => ev.preventDefault());
  $("#install-org").addEventListener("change", showLastInstalls);
  $("#install-dry-run").addEventListener("click", () => runInstall(true));
  $("#install-run").addEventListener("click", () => runInstall(false));
  pages.actions = { show() { loadActions(); loadInstalls(); } };

  route();
})();
