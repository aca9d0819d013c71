// The bridge's page: plain JS, no build step. Live, it polls /api/messages; as `make demo`'s
// report, it draws the snapshot written into the page and polls nothing. User data goes in as
// text only (textContent), never as HTML. h, flash, liveBadge, poller, getJson and postAction
// are tasks_emulator's console's shared.js (loaded first; the console uses it too).
"use strict";

const POLL_MS = 1000;
const config = JSON.parse(document.getElementById("config").textContent);
const isReport = config.snapshot !== null;
const live = liveBadge((since) =>
  `The local stack is gone: this page's server has not answered${since}. ` +
  "What you see is its last answer; this page keeps trying.");

function fmtTime(rfc3339) {
  if (!rfc3339) return "—";
  return rfc3339.replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
}

function taskLink(task) {
  if (!task) return null;
  const id = task.split("/").pop();
  if (isReport) return h("span", { class: "mono", title: task }, `${id.slice(0, 12)}…`);
  return h("a", {
    class: "mono", title: task,
    href: `${config.console_url}#/task/${encodeURIComponent(task)}`,
  }, `${id.slice(0, 12)}…`);
}

function outcomeBadge(row) {
  const label = row.outcome === "duplicate" && row.task_state
    ? `duplicate · ${row.task_state}` : row.outcome;
  const warn = row.outcome === "duplicate" && row.task_state === "reserved";
  return h("span", { class: `badge ${row.outcome}${warn ? " warn" : ""}` }, label);
}

function detail(row) {
  const retries = row.history.filter((o) => o === "retry").length;
  const after = retries && row.outcome !== "retry" ? ` (after ${retries} retr${retries > 1 ? "ies" : "y"})` : "";
  switch (row.outcome) {
    case "created":
      return h("span", {}, "task ", taskLink(row.task), after);
    case "duplicate":
      return row.task_state === "reserved"
        ? h("span", {}, "task ", taskLink(row.task),
            " already ran or was deleted: this request will not run; publish with a new key to run it again")
        : h("span", {}, "served by the earlier request's task ", taskLink(row.task),
            row.task_state === "pending" ? ", still queued" : "");
    case "rejected":
      return h("span", {}, h("b", {}, row.reason), ": ", row.error);
    case "retry":
      return h("span", {}, h("b", {}, row.reason), ": ", row.error, " — Pub/Sub delivers it again");
    default:
      return h("span", { class: "muted" }, "published; the bridge has not logged it yet");
  }
}

function drawMessages(snap) {
  const counts = snap.counts;
  const parts = ["created", "duplicate", "rejected", "retry", "waiting"]
    .filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`);
  document.getElementById("summary").textContent =
    `${snap.messages.length} published` + (parts.length ? `: ${parts.join(", ")}` : "") +
    (snap.unmatched_lines ? `. (${snap.unmatched_lines} other log lines are for messages from other topics or from before this page started.)` : ".");
  const box = document.getElementById("messages");
  if (snap.messages.length === 0) {
    box.replaceChildren(h("p", { class: "empty" },
      "Nothing published yet. Publish with `bridge publish` or gcloud (make up prints how)."));
    return;
  }
  box.replaceChildren(h("table", { class: "grid", id: "message-table" },
    h("thead", {}, h("tr", {}, ["Published", "Message", "Service", "Idempotency key", "Outcome", "What happened"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, snap.messages.map((row) =>
      h("tr", { "data-message": row.message_id, "data-outcome": row.outcome },
        h("td", { class: "nowrap" }, fmtTime(row.publish_time)),
        h("td", { class: "mono" }, row.message_id,
          row.replay_of ? h("div", { class: "sub" }, `replay of ${row.replay_of}`) : null),
        h("td", {}, row.service || "—"),
        h("td", { class: "mono" }, row.key || "—"),
        h("td", {}, outcomeBadge(row)),
        h("td", {}, detail(row)))))));
}

function drawRejected(snap) {
  const box = document.getElementById("rejected");
  if (snap.rejected.length === 0) {
    box.replaceChildren(h("p", { class: "empty" }, "No rejected messages."));
    return;
  }
  box.replaceChildren(h("table", { class: "grid", id: "rejected-table" },
    h("thead", {}, h("tr", {}, ["Rejected", "Original message", "Service", "Reason", "Error", ""]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, snap.rejected.map((r) => {
      let action;
      if (r.replays.length) {
        action = h("span", {}, r.replays.map((x) =>
          h("div", {}, `replayed as ${x.message_id}: `, x.outcome, " ", x.task ? taskLink(x.task) : "")));
      } else if (isReport) {
        action = h("span", { class: "muted" }, "not replayed");
      } else {
        action = h("button", { class: "btn", onclick: (e) => replay(r.origin_message_id, e.target) }, "Replay");
      }
      return h("tr", { "data-origin": r.origin_message_id },
        h("td", { class: "nowrap" }, fmtTime(r.publish_time)),
        h("td", { class: "mono" }, r.origin_message_id || "—"),
        h("td", {}, r.service || "—"),
        h("td", {}, h("span", { class: "badge rejected" }, r.reason || "—")),
        h("td", {}, r.error || ""),
        h("td", { class: "right" }, action));
    }))));
}

async function replay(messageId, button) {
  button.disabled = true;
  button.textContent = "Replaying…";
  const body = { message_id: messageId };
  await postAction("/api/replay", body, { token: config.token, who: "The stack" });
  poll();
}

const poll = poller(async (stale) => {
  try {
    const snap = await getJson("/api/messages");
    if (stale()) return; // a newer run draws the page
    live.show(true);
    drawMessages(snap);
    drawRejected(snap);
  } catch (e) {
    if (!stale()) live.show(false); // no answer, or the stack behind the server did not answer
  }
  return POLL_MS;
});

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("console-link").href = config.console_url;
  if (isReport) {
    document.getElementById("live").textContent = `report · ${new Date(config.written_at_s * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
    document.getElementById("intro").append(
      " This is make demo's report, written as the demo ended; the stack has stopped since.");
    document.getElementById("console-link").hidden = true;
    drawMessages(config.snapshot);
    drawRejected(config.snapshot);
  } else {
    poll();
  }
});
