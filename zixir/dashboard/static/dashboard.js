// The dashboard page: renders each state the server streams (server-sent events) and keeps
// a short history of per-module counters to chart rates and latencies (uPlot).
(() => {
  "use strict";
  const token = document.querySelector('meta[name="zixir-token"]').content;
  const withToken = (path) => path + "?token=" + encodeURIComponent(token);
  const HISTORY = 180; // points kept per chart (one per state)
  const COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#b83280", "#6b46c1", "#c53030",
                  "#2c7a7b", "#975a16"];
  const history = { t: [], rate: {}, latency: {}, errors: {} };
  let previous = null;
  let approvalsShown = null;
  const charts = {};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const badge = (state) => el("span", { class: "badge state-" + String(state).replace(/[^a-z]+/gi, "-") }, state);
  const bytes = (b) => (b === null || b === undefined ? "-" : (b / 1048576).toFixed(1) + " MB");
  const ms = (s) => (s === null || s === undefined ? "-" : (s * 1000).toFixed(1) + " ms");
  const when = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "-");

  function setConnection(state) {
    const node = document.getElementById("connection");
    node.textContent = state;
    node.className = "badge state-" + state;
  }

  // ---- supervision tree ---------------------------------------------------------------
  function treeNode(node) {
    const fields = el("span", { class: "node" },
      el("span", { class: "name" }, node.name),
      badge(node.state),
      node.thread_of ? el("span", { class: "field" }, "a thread of the " + node.thread_of)
                     : el("span", { class: "field pid" }, "pid " + (node.pid ?? "-")),
      el("span", { class: "field restarts", "data-restarts": node.restarts ?? 0 },
         "restarts " + (node.restarts ?? 0)),
      node.thread_of ? null : el("span", { class: "field rss" }, "RSS " + bytes(node.rss)),
      node.error ? el("span", { class: "error" }, node.error) : null);
    const item = el("li", { "data-node": node.name, "data-pid": node.pid ?? "",
                            "data-state": node.state }, fields);
    if (node.children && node.children.length) {
      item.append(el("ul", {}, node.children.map(treeNode)));
    }
    return item;
  }

  function renderTree(tree, agents) {
    const root = document.getElementById("tree");
    if (!tree) { root.replaceChildren(); return; }
    const copy = JSON.parse(JSON.stringify(tree));
    if (agents && agents.length) { // agents are supervised in the router
      const router = findNode(copy, "router");
      if (router) {
        router.children.push({ name: "agent supervisor", state: "running", thread_of: "router",
          pid: null, restarts: null, rss: null, children: agents.map((a) => ({ name: "agent " + a.name, state: a.status,
            pid: a.pid, restarts: a.restarts, rss: a.rss ?? null, children: [] })) });
      }
    }
    root.replaceChildren(treeNode(copy));
  }

  function findNode(node, name) {
    if (node.name === name) return node;
    for (const child of node.children || []) {
      const found = findNode(child, name);
      if (found) return found;
    }
    return null;
  }

  // ---- per-module charts ----------------------------------------------------------------
  function record(state) {
    const modules = state.modules || {};
    if (previous && previous.modules && state.time > previous.time) {
      const dt = state.time - previous.time;
      history.t.push(state.time);
      for (const name of Object.keys(modules)) {
        const now = modules[name], before = previous.modules[name] || { calls: 0, errors: 0, seconds: 0 };
        const calls = now.calls - before.calls;
        for (const key of ["rate", "latency", "errors"]) {
          if (!history[key][name]) history[key][name] = new Array(history.t.length - 1).fill(null);
        }
        history.rate[name].push(calls / dt);
        history.errors[name].push((now.errors - before.errors) / dt);
        history.latency[name].push(calls > 0 ? ((now.seconds - before.seconds) / calls) * 1000 : null);
      }
      for (const key of ["rate", "latency", "errors"]) {
        for (const name of Object.keys(history[key])) {
          const series = history[key][name];
          while (series.length < history.t.length) series.push(null);
          while (series.length > HISTORY) series.shift();
        }
      }
      while (history.t.length > HISTORY) history.t.shift();
    }
    previous = state;
  }

  function drawCharts() {
    if (!window.uPlot) return;
    const names = Object.keys(history.rate).sort();
    const key = names.join("\n");
    for (const [id, field] of [["chart-rate", "rate"], ["chart-latency", "latency"], ["chart-errors", "errors"]]) {
      const data = [history.t, ...names.map((n) => history[field][n])];
      const target = document.getElementById(id);
      if (!charts[id] || charts[id].key !== key) {
        if (charts[id]) charts[id].plot.destroy();
        const width = Math.max(300, target.clientWidth || 360);
        const plot = new uPlot({
          width, height: 200,
          series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2,
                                                 spanGaps: field === "latency" }))],
          axes: [{ space: 90, values: (u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })) },
                 { size: 56 }],
          scales: { x: { time: true } },
        }, data, target);
        charts[id] = { plot, key };
      } else {
        charts[id].plot.setData(data);
      }
      target.dataset.points = String(history.t.length);
      target.dataset.series = String(names.length);
    }
  }

  function renderModules(modules) {
    const body = document.querySelector("#modules tbody");
    const names = Object.keys(modules || {});
    if (!names.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, "no Python calls yet")));
      return;
    }
    body.replaceChildren(...names.map((n) => {
      const m = modules[n];
      return el("tr", { "data-module": n }, el("td", {}, n), el("td", { class: "calls" }, m.calls),
        el("td", { class: "errors" }, m.errors), el("td", {}, m.calls ? ms(m.seconds / m.calls) : "-"));
    }));
  }

  // ---- breakers, agents ------------------------------------------------------------------
  function renderBreakers(breakers) {
    const body = document.querySelector("#breakers tbody");
    if (!breakers || !breakers.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "empty" }, "no breaker has seen a call yet")));
      return;
    }
    body.replaceChildren(...breakers.map((b) => el("tr", { "data-breaker": b.key },
      el("td", {}, b.key), el("td", {}, badge(b.state)), el("td", {}, b.failures),
      el("td", {}, b.retry_after ? b.retry_after.toFixed(1) + " s" : "-"))));
  }

  function renderAgents(agents) {
    const box = document.getElementById("agents");
    if (agents === null || agents === undefined) {
      box.replaceChildren(el("p", { class: "empty" }, "this runtime has no agents"));
      return;
    }
    if (!agents.length) { box.replaceChildren(el("p", { class: "empty" }, "no agents running")); return; }
    box.replaceChildren(el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, ["name", "class", "status", "pid", "restarts", "calls", "last error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, agents.map((a) => el("tr", { "data-agent": a.name },
        el("td", {}, a.name), el("td", {}, a.class ?? a.cls ?? "-"), el("td", {}, badge(a.status ?? "-")),
        el("td", {}, a.pid ?? "-"), el("td", {}, a.restarts ?? 0), el("td", {}, a.calls ?? a.calls_served ?? 0),
        el("td", {}, a.last_error ?? ""))))));
  }

  // ---- workflows and approvals -------------------------------------------------------------
  function renderWorkflows(runs) {
    const box = document.getElementById("workflows");
    if (!runs || !runs.length) { box.replaceChildren(el("p", { class: "empty" }, "no workflow runs")); return; }
    box.replaceChildren(...runs.map((run) => el("div", { class: "run", "data-workflow": run.name, "data-key": run.key },
      el("div", { class: "title" }, el("span", { class: "name" }, run.name),
        el("span", {}, "key " + run.key), badge(run.status || "-"),
        el("span", {}, run.steps_done + "/" + run.steps_total + " steps done"),
        el("span", { class: "field" }, "updated " + when(run.updated)),
        run.error ? el("span", { class: "error" }, run.error) : null),
      el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ["step", "kind", "status", "duration", "attempts", "detail"].map((h) => el("th", {}, h)))),
        el("tbody", {}, run.steps.map((s) => el("tr", { "data-step": s.name },
          el("td", {}, s.name), el("td", {}, s.kind || "-"), el("td", {}, badge(s.status || "-")),
          el("td", {}, s.duration === undefined ? "-" : ms(s.duration)), el("td", {}, s.attempts ?? 0),
          el("td", {}, s.error || (s.kind === "map" ? (s.elements_done ?? 0) + "/" + (s.elements ?? "?") + " elements"
                                    : (s.note || s.message || ""))))))))));
  }

  function renderApprovals(approvals) {
    const shown = JSON.stringify(approvals || []);
    if (shown === approvalsShown) return; // keep what the reviewer is typing
    approvalsShown = shown;
    const box = document.getElementById("approvals");
    if (!approvals || !approvals.length) { box.replaceChildren(el("p", { class: "empty" }, "nothing waits for an approval")); return; }
    box.replaceChildren(...approvals.map((a) => {
      const note = el("input", { type: "text", placeholder: "note (optional)", "aria-label": "note" });
      const status = el("span", { class: "status" });
      const decide = (decision) => async () => {
        status.textContent = "...";
        try {
          const reply = await fetch("/api/decision", {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-Zixir-Token": token },
            body: JSON.stringify({ workflow: a.workflow, key: a.key, step: a.step, decision, note: note.value }),
          });
          const body = await reply.json();
          // outside the list, which the next state redraws without this approval
          const decided = document.getElementById("decided");
          decided.textContent = reply.ok
            ? `${a.workflow} ${a.step}: ${body.status}; run the program again to continue` : "";
          status.textContent = reply.ok ? body.status : body.error;
          status.className = reply.ok ? "status" : "status error";
        } catch (e) {
          status.textContent = String(e);
          status.className = "status error";
        }
      };
      return el("div", { class: "approval", "data-workflow": a.workflow, "data-step": a.step },
        el("strong", {}, a.workflow), el("span", {}, a.key === "default" ? "" : "key " + a.key),
        el("span", {}, "step " + a.step + (a.message ? ": " + a.message : "")), note,
        el("button", { class: "approve", type: "button", onclick: decide("approve") }, "Approve"),
        el("button", { class: "reject", type: "button", onclick: decide("reject") }, "Reject"), status);
    }));
  }

  // ---- one state ---------------------------------------------------------------------------
  function render(state) {
    document.body.classList.toggle("store", state.mode === "store");
    document.getElementById("mode").textContent = state.mode === "store"
      ? "stored workflows of " + (state.store || "a memory store") : "live program";
    if (state.error) {
      setConnection("disconnected");
      document.getElementById("updated").textContent = state.error;
      return;
    }
    document.getElementById("updated").textContent = "updated " + when(state.time);
    if (state.mode !== "store") {
      record(state);
      renderTree(state.tree, state.agents);
      renderModules(state.modules);
      drawCharts();
      renderBreakers(state.breakers);
      renderAgents(state.agents);
    }
    renderApprovals(state.approvals);
    renderWorkflows(state.workflows);
    document.body.dataset.states = String(Number(document.body.dataset.states || 0) + 1);
  }

  const events = new EventSource(withToken("/api/events"));
  events.onopen = () => setConnection("connected");
  events.onmessage = (message) => { setConnection("connected"); render(JSON.parse(message.data)); };
  events.onerror = () => setConnection("disconnected");
})();
