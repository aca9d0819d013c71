// The console's page: plain JS, no build step, nothing fetched but this emulator's /console/api.
// Routes (the hash): #/ queues, #/queue/<name>?state=&offset=, #/task/<name>.
// Every view polls its endpoint (POLL_MS) and is drawn again from the answer; user data only
// ever goes in as text (textContent), never as HTML. h, flash, liveBadge, poller, getJson and
// postAction are shared.js's (loaded first; the bridge's page uses it too).
"use strict";

const POLL_MS = 1000;
const PAGE_SIZE = 50;
const STATES = [
  ["pending", "Pending"],
  ["in_flight", "In flight"],
  ["retrying", "Retrying"],
  ["reserved", "Reserved names"],
];
let token = document.querySelector('meta[name="console-token"]').content;
const live = liveBadge((since) =>
  `The emulator is gone: ${location.origin} has not answered${since}. ` +
  "What you see is the last answer it gave; this page keeps trying and comes back by itself.");

// --- small helpers -------------------------------------------------------------------------
function fmtNumber(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

function fmtTime(s) {
  if (s === null || s === undefined) return "—";
  return new Date(s * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function fmtAgo(s, nowS) {
  if (s === null || s === undefined) return "—";
  const d = Math.round(nowS - s);
  const abs = Math.abs(d);
  if (abs < 1) return "now";
  const two = (big, bigUnit, small, smallUnit) => {
    const rest = Math.floor(abs / small) % (big / small);
    return `${Math.floor(abs / big)} ${bigUnit}` + (rest ? ` ${rest} ${smallUnit}` : "");
  };
  const text =
    abs < 60 ? `${abs} s` : abs < 3600 ? two(60, "min", 1, "s") :
    abs < 86400 ? two(3600, "h", 60, "min") : two(86400, "d", 3600, "h");
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

function when(s, nowS) {
  return h("span", { title: fmtTime(s) }, fmtAgo(s, nowS));
}

function queueHref(name, state, offset) {
  let href = `#/queue/${encodeURIComponent(name)}`;
  const q = [];
  if (state && state !== "pending") q.push(`state=${state}`);
  if (offset) q.push(`offset=${offset}`);
  return q.length ? `${href}?${q.join("&")}` : href;
}

function taskHref(name) {
  return `#/task/${encodeURIComponent(name)}`;
}

function badge(state) {
  return h("span", { class: `badge ${state}` }, state.replace("_", " "));
}

// --- talking to the emulator ---------------------------------------------------------------
async function act(action, name, confirm) {
  const body = { name, confirm: confirm || "" };
  const done = await postAction(`/console/api/actions/${action}`, body, { token, who: "The emulator" });
  if (done) refresh();
  return done;
}

function setLive(ok) {
  if (live.show(ok)) reloadToken(); // a restarted emulator has a new page token
}

async function reloadToken() {
  try {
    const html = await (await fetch("/console/", { cache: "no-store" })).text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    token = doc.querySelector('meta[name="console-token"]').content;
  } catch (e) {
    /* the next reconnect tries again */
  }
}

function confirmDialog({ title, text, word, ok }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const label = document.getElementById("confirm-label");
  const input = document.getElementById("confirm-input");
  const okButton = document.getElementById("confirm-ok");
  okButton.textContent = ok;
  label.hidden = !word;
  input.value = "";
  document.getElementById("confirm-word").textContent = word || "";
  okButton.disabled = Boolean(word);
  input.oninput = () => (okButton.disabled = input.value !== word);
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "ok" ? input.value : null);
    dialog.returnValue = "";
    dialog.showModal();
    (word ? input : okButton).focus();
  });
}

// --- the views -----------------------------------------------------------------------------
function queueButtons(q) {
  const buttons = [];
  if (q.state === "paused") {
    buttons.push(h("button", { class: "btn", onclick: () => act("resume", q.name) }, "Resume"));
  } else {
    buttons.push(h("button", { class: "btn", onclick: () => act("pause", q.name) }, "Pause"));
  }
  buttons.push(
    h("button", {
      class: "btn danger",
      onclick: async () => {
        const word = await confirmDialog({
          title: `Purge ${q.id}?`,
          text:
            `Every task in ${q.name} is deleted (${fmtNumber(q.tasks)} now); their names stay ` +
            "reserved. This cannot be undone.",
          word: q.id,
          ok: "Purge",
        });
        if (word !== null) act("purge", q.name, word);
      },
    }, "Purge…"),
  );
  return h("span", { class: "buttons" }, buttons);
}

function drawQueues(data) {
  const head = [
    ["Queue", ""], ["State", ""], ["Tasks", "num"], ["Max rate", "num"],
    ["Max concurrent", "num"], ["Max attempts", "num"], ["Oldest task", ""],
    ["Finished (last min)", "num"], ["In flight", "num"], ["", ""],
  ];
  const rows = data.queues.map((q) =>
    h("tr", { "data-queue": q.name },
      h("td", {}, h("a", { href: queueHref(q.name) }, q.id), h("div", { class: "sub" }, q.location)),
      h("td", {}, badge(q.state)),
      h("td", { class: "num" }, fmtNumber(q.tasks)),
      h("td", { class: "num" }, `${fmtNumber(q.max_rate_per_s)}/s`),
      h("td", { class: "num" }, fmtNumber(q.max_concurrent)),
      h("td", { class: "num" }, q.max_attempts === -1 ? "unlimited" : fmtNumber(q.max_attempts)),
      h("td", {}, when(q.oldest_task_s, data.now_s)),
      h("td", { class: "num" }, fmtNumber(q.finished_last_minute)),
      h("td", { class: "num" }, fmtNumber(q.in_flight)),
      h("td", { class: "right" }, queueButtons(q)),
    ),
  );
  return [
    h("h1", {}, "Queues"),
    h("p", { class: "muted" },
      "Every queue of this emulator, as the Cloud Console lists them. Open one to see its tasks. ",
      h("span", { title: "tasks that ran, gave up, or were deleted or purged in the last 60 s" },
        "“Finished” counts tasks that left the queue in the last minute.")),
    data.queues.length === 0
      ? h("p", { class: "empty" }, "No queues yet. Create one with the API (gcloud, the client " +
          "library) or start the emulator with --queue projects/P/locations/L/queues/Q.")
      : h("table", { class: "grid", id: "queues" },
          h("thead", {}, h("tr", {}, head.map(([t, c]) => h("th", { class: c }, t)))),
          h("tbody", {}, rows)),
  ];
}

function responseCell(t, nowS) {
  if (t.last_response_time_s === null && t.last_response_status === null) return "—";
  return h("span", {},
    h("span", { class: t.last_response_code >= 200 && t.last_response_code < 300 ? "ok" : "bad" },
      t.last_response_status || (t.last_response_code ? String(t.last_response_code) : "no answer")),
    " ", h("span", { class: "sub" }, when(t.last_response_time_s, nowS)));
}

function drawQueue(data) {
  const q = data.queue;
  const tabs = STATES.map(([state, label]) =>
    h("a", {
      class: state === data.state ? "tab on" : "tab",
      href: queueHref(q.name, state),
      "data-state": state,
    }, `${label} `, h("span", { class: "count" }, fmtNumber(q.counts[state]))),
  );
  let table;
  if (data.tasks.length === 0) {
    const what = STATES.find(([s]) => s === data.state)[1].toLowerCase();
    table = h("p", { class: "empty" }, `No ${what} tasks in this queue.`);
  } else if (data.state === "reserved") {
    table = h("table", { class: "grid", id: "tasks" },
      h("thead", {}, h("tr", {}, h("th", {}, "Task name"), h("th", {}, "Reserved since"))),
      h("tbody", {}, data.tasks.map((t) =>
        h("tr", { "data-task": t.name },
          h("td", { class: "mono" }, t.id), h("td", {}, when(t.reserved_at_s, data.now_s))))));
  } else {
    table = h("table", { class: "grid", id: "tasks" },
      h("thead", {}, h("tr", {},
        ["Task", "Schedule time", "Dispatched / answered", "Last response", "URL", ""].map((t, i) =>
          h("th", { class: i === 2 ? "num" : "" }, t)))),
      h("tbody", {}, data.tasks.map((t) =>
        h("tr", { "data-task": t.name },
          h("td", { class: "mono" }, h("a", { href: taskHref(t.name) }, t.id)),
          h("td", {}, when(t.schedule_time_s, data.now_s)),
          h("td", { class: "num", title: "dispatched / answered" },
            `${t.dispatch_count} / ${t.response_count}`),
          h("td", {}, responseCell(t, data.now_s)),
          h("td", { class: "url" }, h("span", { class: "method" }, t.method), " ", t.url),
          h("td", { class: "right" }, taskButtons(t))))));
  }
  const first = data.total === 0 ? 0 : data.offset + 1;
  const last = data.offset + data.tasks.length;
  const pager = h("div", { class: "pager" },
    h("span", { class: "muted" }, `${fmtNumber(first)}–${fmtNumber(last)} of ${fmtNumber(data.total)}`),
    h("a", {
      class: data.offset > 0 ? "btn" : "btn disabled",
      href: queueHref(q.name, data.state, Math.max(0, data.offset - data.limit)),
    }, "‹ Previous"),
    h("a", {
      class: last < data.total ? "btn" : "btn disabled",
      href: queueHref(q.name, data.state, data.offset + data.limit),
    }, "Next ›"));
  return [
    h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Queues"), " › ", q.id),
    h("div", { class: "title" }, h("h1", {}, q.id), badge(q.state), queueButtons(q)),
    h("p", { class: "muted mono" }, q.name),
    h("dl", { class: "facts" },
      fact("Tasks", fmtNumber(q.tasks)),
      fact("In flight", fmtNumber(q.in_flight)),
      fact("Max rate", `${fmtNumber(q.max_rate_per_s)}/s (burst ${fmtNumber(q.max_burst)})`),
      fact("Max concurrent", fmtNumber(q.max_concurrent)),
      fact("Max attempts", q.max_attempts === -1 ? "unlimited" : fmtNumber(q.max_attempts)),
      fact("Oldest task", when(q.oldest_task_s, data.now_s)),
      fact("Finished (last min)", fmtNumber(q.finished_last_minute))),
    h("div", { class: "tabs" }, tabs),
    table,
    data.total > data.tasks.length ? pager : null,
  ];
}

function fact(term, value) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

function taskButtons(t) {
  return h("span", { class: "buttons" },
    h("button", { class: "btn", disabled: t.state === "in_flight",
      onclick: () => act("run", t.name) }, "Run now"),
    h("button", {
      class: "btn danger",
      onclick: async () => {
        const yes = await confirmDialog({
          title: `Delete task ${t.id}?`,
          text: "It will not run; its name stays reserved, as in Cloud Tasks.",
          ok: "Delete",
        });
        if (yes !== null) act("delete", t.name);
      },
    }, "Delete…"));
}

function drawTask(t) {
  const queueId = t.queue.split("/").pop();
  const body = t.request.body;
  let bodyView;
  if (body.bytes === 0) bodyView = h("p", { class: "muted" }, "No body.");
  else if (body.kind === "binary")
    bodyView = h("div", {}, h("p", { class: "muted" }, `${fmtNumber(body.bytes)} bytes, not text (base64):`),
      h("pre", { class: "body" }, body.base64));
  else
    bodyView = h("div", {}, h("p", { class: "muted" },
      `${fmtNumber(body.bytes)} bytes${body.kind === "json" ? ", JSON (pretty-printed)" : ""}:`),
      h("pre", { class: "body", id: "body" }, body.text));
  const attempt = (label, a) =>
    h("tr", {},
      h("th", {}, label),
      h("td", {}, a && a.schedule_time_s ? fmtTime(a.schedule_time_s) : "—"),
      h("td", {}, a && a.dispatch_time_s ? fmtTime(a.dispatch_time_s) : "—"),
      h("td", {}, a && a.response_time_s ? fmtTime(a.response_time_s) : "—"),
      h("td", {}, a && a.status_message !== null ? `${a.status_message} (code ${a.status_code})` : "—"));
  const token = t.token;
  let tokenView = h("p", { class: "muted" }, "No token: the request carries no Authorization of Cloud Tasks'.");
  if (token && token.kind === "oidc") {
    tokenView = h("div", {},
      h("p", { class: "muted" },
        `An OIDC ID token for ${token.service_account_email}, audience ${token.audience}. ` +
        "Its claims, as the next attempt's token carries them:"),
      h("table", { class: "kv", id: "claims" }, h("tbody", {},
        Object.entries(token.claims).map(([k, v]) =>
          h("tr", {}, h("th", {}, k),
            h("td", { class: "mono" }, (k === "iat" || k === "exp") ? `${v}  (${fmtTime(v)})` : JSON.stringify(v)))))));
  } else if (token && token.kind === "oauth") {
    tokenView = h("p", {}, `An OAuth access token for ${token.service_account_email}, scope ${token.scope}.`);
  }
  return [
    h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Queues"), " › ",
      h("a", { href: queueHref(t.queue) }, queueId), " › ", t.id),
    h("div", { class: "title" }, h("h1", { class: "mono" }, t.id), badge(t.state), taskButtons(t)),
    h("p", { class: "muted mono" }, t.name),
    h("dl", { class: "facts" },
      fact("Scheduled", when(t.schedule_time_s, t.now_s)),
      fact("Created", fmtTime(t.create_time_s)),
      fact("Dispatched", fmtNumber(t.dispatch_count)),
      fact("Answered", fmtNumber(t.response_count)),
      fact("Dispatch deadline", `${t.dispatch_deadline_s} s`)),
    h("h2", {}, "Request, as the worker gets it"),
    t.request.queue_overrides ? h("p", { class: "muted" }, "The queue's http_target overrides parts of it.") : null,
    h("p", { class: "mono request-line" }, h("span", { class: "method" }, t.request.method), " ", t.request.url),
    h("table", { class: "kv", id: "headers" }, h("tbody", {},
      t.request.headers.map(([k, v]) => h("tr", {}, h("th", {}, k),
        v === "" ? h("td", { class: "muted" }, "(empty)") : h("td", { class: "mono" }, v))))),
    bodyView,
    h("h2", {}, "Attempts"),
    h("p", { class: "muted" }, "Cloud Tasks keeps a task's first and last attempt; so does the emulator."),
    h("table", { class: "grid", id: "attempts" },
      h("thead", {}, h("tr", {}, ["", "Scheduled", "Dispatched", "Answered", "Status"].map((x) => h("th", {}, x)))),
      h("tbody", {}, attempt("First", t.first_attempt), attempt("Last", t.last_attempt))),
    h("h2", {}, "Token"),
    tokenView,
  ];
}

// --- routing and polling -------------------------------------------------------------------
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  if (path.startsWith("/queue/")) {
    const name = decodeURIComponent(path.slice("/queue/".length));
    const state = params.get("state") || "pending";
    const offset = params.get("offset") || "0";
    return {
      view: "queue",
      url: `/console/api/queue?name=${encodeURIComponent(name)}&state=${state}&offset=${offset}&limit=${PAGE_SIZE}`,
      draw: drawQueue,
      title: name.split("/").pop(),
    };
  }
  if (path.startsWith("/task/")) {
    const name = decodeURIComponent(path.slice("/task/".length));
    return { view: "task", url: `/console/api/task?name=${encodeURIComponent(name)}`, draw: drawTask,
      title: name.split("/").pop() };
  }
  return { view: "queues", url: "/console/api/queues", draw: drawQueues, title: "Queues" };
}

const refresh = poller(async (stale) => {
  const r = route();
  const main = document.getElementById("main");
  try {
    const data = await getJson(r.url);
    if (stale()) return; // a newer run draws the page
    setLive(true);
    // A reader selecting text (a body to copy) keeps it until the selection ends.
    const selecting = String(window.getSelection() || "") !== "" && main.dataset.view === r.view;
    if (!selecting) {
      main.replaceChildren(...r.draw(data).filter((part) => part !== null));
      main.dataset.view = r.view;
    }
  } catch (e) {
    if (stale()) return; // a newer run draws the page
    if (e instanceof Gone) setLive(false);
    else {
      setLive(true);
      main.replaceChildren(
        h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Queues")),
        h("p", { class: "empty", id: "missing" }, e.message));
      main.dataset.view = "missing";
    }
  }
  document.title = `${r.title} · Cloud Tasks emulator`;
  return live.gone ? 2 * POLL_MS : POLL_MS;
});

window.addEventListener("hashchange", refresh);
document.addEventListener("DOMContentLoaded", refresh);
