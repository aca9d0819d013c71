// What the emulator's console and the bridge's local-stack page share: a page drawn again from
// each answer of its own server, that says so when the server is gone. Plain JS, no build step,
// loaded before each page's own script. One file, served by both: the console from this package,
// the bridge's page (bridge/stack/bridge_page.py) from here too; it lives with the emulator,
// which knows nothing of the bridge.
//
//   h(tag, attrs, ...children)       an element; user data only ever goes in as text
//   flash(text, isError)             a sentence at the foot of the page, for a while
//   liveBadge(goneText)              the header's "live" badge and the "gone" banner
//   poller(step)                     step now, and again after each answer; stale answers dropped
//   getJson(path), postAction(...)   the server's answers; Gone when nothing came back
"use strict";

const FLASH_MS = { ok: 5000, error: 10000 };

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function flash(text, isError) {
  const el = document.getElementById("flash");
  el.textContent = text;
  el.className = isError ? "flash error" : "flash";
  el.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (el.hidden = true), isError ? FLASH_MS.error : FLASH_MS.ok);
}

// #live and #gone. goneText(since) is the banner's sentence; since is " since 10:00:01", or ""
// before any answer. show(ok) returns true when the server answers again after being gone.
function liveBadge(goneText) {
  let lastOk = null;
  let gone = false;
  const clock = (date) => date.toLocaleTimeString("en-GB");
  return {
    get gone() {
      return gone;
    },
    show(ok) {
      const live = document.getElementById("live");
      const banner = document.getElementById("gone");
      const back = ok && gone;
      gone = !ok;
      if (ok) {
        lastOk = new Date();
        live.textContent = `live · updated ${clock(lastOk)}`;
        live.className = "live is-ok";
      } else {
        live.textContent = "not answering";
        live.className = "live is-bad";
        banner.textContent = goneText(lastOk ? ` since ${clock(lastOk)}` : "");
      }
      banner.hidden = ok;
      document.body.classList.toggle("is-gone", !ok);
      return back;
    },
  };
}

// run() calls step(isStale) now, and again step's answer (ms) after it ends. Calling run() again
// (a new route, an action) starts at once: the pending run is dropped, and a run still waiting
// for its answer learns from isStale() that a newer one draws the page (what it returns then
// is not used).
function poller(step) {
  let timer = null;
  let generation = 0;
  return async function run() {
    const mine = ++generation;
    clearTimeout(timer);
    const stale = () => mine !== generation;
    const againMs = await step(stale);
    if (!stale()) timer = setTimeout(run, againMs);
  };
}

class Gone extends Error {}

// The JSON answer; raised: Gone if nothing came back, an Error with .status for an HTTP error.
async function getJson(path) {
  let answer;
  try {
    answer = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  } catch (e) {
    throw new Gone(String(e));
  }
  const body = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
  if (!answer.ok) {
    const err = new Error(body.error || `HTTP ${answer.status}`);
    err.status = answer.status;
    throw err;
  }
  return body;
}

// POST body (JSON) with the page's token; what the server said goes in the flash (who: the
// server's name, when it did not answer). True if the server did it.
async function postAction(path, body, { token, who }) {
  let answer;
  try {
    answer = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Console-Token": token },
      body: JSON.stringify(body),
    });
  } catch (e) {
    flash(`${who} did not answer: ${e}`, true);
    return false;
  }
  const said = await answer.json().catch(() => ({}));
  const text = answer.ok ? said.message || "done" : said.error || said.message;
  flash(text || `HTTP ${answer.status}`, !answer.ok);
  return answer.ok;
}
