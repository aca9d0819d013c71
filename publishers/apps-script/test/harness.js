'use strict';
// Runs Code.gs and Sheet.gs as Apps Script would (one global scope, V8), with the stand-ins.
//   node harness.js scenario.json
// scenario: {"emulatorHost", "properties", "faults", "sleepScale", "sheet",
//            "steps": [{"call": "enqueue", "args": [...]}, ...]}
// stdout: {"steps": [{"ok": value} | {"error": message, "publishedIds", "published"}], "fetches", "sleeps",
//          "alerts", "menus", "grid"}
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { makeStandIns } = require('./standins');

const SOURCES = ['Code.gs', 'Sheet.gs'];

function main() {
  const scenario = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const { globals, log, grid } = makeStandIns(scenario);
  const context = vm.createContext({ ...globals, console });
  for (const name of SOURCES) {
    const file = path.join(__dirname, '..', name);
    vm.runInContext(fs.readFileSync(file, 'utf8'), context, { filename: name });
  }
  const steps = scenario.steps.map((step) => {
    context.__args = JSON.stringify(step.args || []);
    try {
      // Arguments are built inside the script's realm, as Apps Script values would be.
      const value = vm.runInContext(`${step.call}.apply(null, JSON.parse(__args))`, context);
      return { ok: value === undefined ? null : JSON.parse(JSON.stringify(value)) };
    } catch (e) {
      return {
        error: String(e && e.message),
        publishedIds: (e && e.publishedIds) || null,
        published: (e && e.published) || null,
      };
    }
  });
  const digest = (body) => require('node:crypto').createHash('sha256').update(body, 'latin1').digest('hex');
  const fetches = log.fetches.map(({ body, ...rest }) => ({ ...rest, bodyBytes: body.length, bodySha256: digest(body) }));
  process.stdout.write(JSON.stringify({ steps, fetches, sleeps: log.sleeps, alerts: log.alerts, menus: log.menus, grid }));
}

main();
