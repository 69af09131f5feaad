// The campaigns page's script: it refreshes the list from the API every
// second and sends Pause, Resume and Cancel. What the server sends is set as
// text, never parsed as HTML: campaign and account names come from users.
"use strict";
(function () {
  const api = document.body.dataset.api;
  const readOnly = document.body.dataset.readOnly === "true";
  const rows = document.querySelector("#campaigns tbody");
  const status = document.getElementById("status");
  const message = document.getElementById("message");
  const columns = ["account", "name", "state", "progress", "total", "pending", "delivered", "retrying",
    "dead_lettered", "expired", "cancelled", "rate", "eta"].concat(readOnly ? [] : ["actions"]);
  const labels = { pause: "Pause", resume: "Resume", cancel: "Cancel" };
  const shown = new Map(); // account NUL name -> tr

  // eta writes seconds as Go's time.Duration does: 1h2m3s, 4m0s, 5s; 0 is "-".
  function eta(seconds) {
    const s = Math.round(seconds);
    if (!(s > 0)) return "-";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + "h" : "") + (h || m ? m + "m" : "") + (s % 60) + "s";
  }

  function set(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function newRow(c) {
    const tr = document.createElement("tr");
    tr.dataset.account = c.account;
    tr.dataset.name = c.name;
    for (const col of columns) {
      const td = document.createElement("td");
      td.className = col;
      tr.appendChild(td);
    }
    const bar = document.createElement("progress");
    bar.max = 100;
    tr.querySelector(".progress").append(bar, document.createElement("span"));
    return tr;
  }

  function fill(tr, c) {
    const k = c.counts, cell = (col) => tr.querySelector("." + col);
    const text = {
      account: c.account, name: c.name, state: c.state + (c.enqueuing ? " (enqueuing)" : ""),
      total: k.total, pending: k.pending, retrying: k.retrying, dead_lettered: k.dead_lettered,
      expired: k.expired, cancelled: k.cancelled,
      delivered: k.delivered + (k.unconfirmed ? " (" + k.unconfirmed + " unconfirmed)" : ""),
      rate: c.state === "running" ? c.rate_per_second.toFixed(2) + "/s" : "-",
      eta: eta(c.eta_seconds),
    };
    for (const [col, t] of Object.entries(text)) set(cell(col), String(t));
    cell("state").dataset.state = c.state;
    const bar = tr.querySelector("progress");
    bar.value = c.percent;
    set(bar, c.percent + "%");
    set(tr.querySelector(".progress span"), c.percent + "% · " + c.done + " of " + k.total);
    if (!readOnly) fillActions(cell("actions"), c.actions);
  }

  // fillActions rebuilds the buttons only when they change, so that a
  // refresh never swaps a button away under the pointer.
  function fillActions(td, actions) {
    const key = actions.join(",");
    if (td.dataset.actions === key) return;
    td.dataset.actions = key;
    td.replaceChildren(...actions.map((verb) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.verb = verb;
      b.textContent = labels[verb] || verb;
      return b;
    }));
  }

  function render(list) {
    const seen = new Set(), order = [];
    for (const c of list) {
      const key = c.account + "\u0000" + c.name;
      let tr = shown.get(key);
      if (!tr) shown.set(key, (tr = newRow(c)));
      fill(tr, c);
      seen.add(key);
      order.push(tr);
    }
    for (const key of shown.keys()) if (!seen.has(key)) shown.delete(key);
    if (order.length === 0) {
      const tr = document.createElement("tr"), td = document.createElement("td");
      tr.className = "empty";
      td.colSpan = columns.length;
      td.textContent = "No campaigns: ended ones are kept 7 days.";
      tr.appendChild(td);
      order.push(tr);
    }
    const current = Array.from(rows.children);
    if (current.length !== order.length || current.some((tr, i) => tr !== order[i])) rows.replaceChildren(...order);
  }

  // call fetches url and returns its JSON, or throws the API's error.
  async function call(url, init) {
    const res = await fetch(url, Object.assign({ headers: { Accept: "application/json" }, cache: "no-store" }, init));
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || res.status + " " + res.statusText);
    return data;
  }

  async function refresh() {
    try {
      render((await call(api)).campaigns);
      set(status, "");
    } catch (e) {
      set(status, e.message);
    }
    setTimeout(refresh, 1000);
  }

  async function act(tr, verb) {
    const { account, name } = tr.dataset;
    if (verb === "cancel" && !confirm("Cancel campaign \"" + name + "\" of account \"" + account +
        "\"? Its notifications not sent yet never will be.")) return;
    const url = api + "/" + encodeURIComponent(account) + "/" + encodeURIComponent(name) + "/" + verb;
    try {
      const c = await call(url, { method: "POST" });
      fill(tr, c);
      set(message, "Campaign \"" + name + "\" of account \"" + account + "\" is " + c.state + ".");
      message.className = "";
    } catch (e) {
      set(message, e.message);
      message.className = "error";
    }
  }

  rows.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-verb]");
    if (!b || b.disabled) return;
    b.disabled = true;
    act(b.closest("tr"), b.dataset.verb).finally(() => { b.disabled = false; });
  });
  refresh();
})();
