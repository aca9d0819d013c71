'use strict';
// Stand-ins for the Apps Script services Code.gs and Sheet.gs use, as faithful as the
// documentation allows, and stricter where it is silent:
// - UrlFetchApp.fetch is synchronous, like Apps Script's, and performs the real HTTP request
//   (through fetch-sync.js, a child process the caller blocks on). https://pubsub.googleapis.com
//   is served by the Pub/Sub emulator given as emulatorHost; any other host is refused.
// - Utilities.base64Encode(String) without a charset refuses non-ASCII text: Apps Script does
//   not document which charset it would use, so code must not rely on it. Same for
//   computeDigest(algorithm, String) and string payloads with non-ASCII text in UrlFetchApp.
// - Byte arrays are arrays of signed bytes (-128..127), as Apps Script's Java byte[] are.
// - Utilities.sleep blocks (Atomics.wait), scaled by sleepScale so tests stay fast.
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');

const FETCH_SYNC = path.join(__dirname, 'fetch-sync.js');
const PUBSUB_ROOT = 'https://pubsub.googleapis.com/';
const FETCH_PARAMS = new Set([
  'method', 'contentType', 'payload', 'headers', 'muteHttpExceptions', 'followRedirects',
  'validateHttpsCertificates', 'escaping',
]);

function isAscii(text) {
  return /^[\x00-\x7f]*$/.test(text);
}

function toSigned(buffer) {
  return Array.from(buffer, (b) => (b > 127 ? b - 256 : b));
}

function fromSigned(bytes, what) {
  if (!Array.isArray(bytes) || !bytes.every((b) => Number.isInteger(b) && b >= -128 && b <= 127)) {
    throw new Error(`${what}: expected Byte[] (integers -128..127)`);
  }
  return Buffer.from(bytes.map((b) => (b < 0 ? b + 256 : b)));
}

function makeStandIns(config) {
  const log = { fetches: [], sleeps: [], alerts: [], menus: [], logs: [] };
  const faults = [...(config.faults || [])];
  const Charset = Object.freeze({ UTF_8: 'UTF_8', US_ASCII: 'US_ASCII' });
  const DigestAlgorithm = Object.freeze({ SHA_256: 'SHA_256', SHA_1: 'SHA_1', MD5: 'MD5' });

  function encodeText(text, charset, what) {
    if (typeof text !== 'string') throw new Error(`${what}: expected a String`);
    if (charset === undefined) {
      if (!isAscii(text)) {
        throw new Error(
          `${what}(String) without a charset: Apps Script does not document how non-ASCII ` +
          'text is encoded here; pass Utilities.Charset.UTF_8 (or bytes)');
      }
      return Buffer.from(text, 'latin1');
    }
    if (charset === Charset.UTF_8) {
      if (!text.isWellFormed()) throw new Error(`${what}: text with a lone surrogate`);
      return Buffer.from(text, 'utf8');
    }
    if (charset === Charset.US_ASCII) {
      if (!isAscii(text)) throw new Error(`${what}: non-ASCII text with Charset.US_ASCII`);
      return Buffer.from(text, 'latin1');
    }
    throw new Error(`${what}: unknown charset ${String(charset)}`);
  }

  function bytesOf(data, charset, what) {
    return typeof data === 'string' ? encodeText(data, charset, what) : fromSigned(data, what);
  }

  function makeBlob(bytes, contentType, name) {
    return {
      getBytes: () => toSigned(bytes),
      getDataAsString: (charset) => bytes.toString(charset === Charset.US_ASCII ? 'latin1' : 'utf8'),
      getContentType: () => contentType || null,
      getName: () => name || null,
    };
  }

  const Utilities = {
    Charset,
    DigestAlgorithm,
    base64Encode(data, charset) {
      return bytesOf(data, charset, 'Utilities.base64Encode').toString('base64');
    },
    base64EncodeWebSafe(data, charset) {
      return bytesOf(data, charset, 'Utilities.base64EncodeWebSafe').toString('base64url');
    },
    base64Decode(encoded) {
      return toSigned(Buffer.from(encoded, 'base64'));
    },
    newBlob(data, contentType, name) {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : fromSigned(data, 'newBlob');
      return makeBlob(bytes, contentType, name);
    },
    computeDigest(algorithm, value, charset) {
      const names = { SHA_256: 'sha256', SHA_1: 'sha1', MD5: 'md5' };
      if (!names[algorithm]) throw new Error(`computeDigest: unknown algorithm ${algorithm}`);
      const bytes = bytesOf(value, charset, 'Utilities.computeDigest');
      return toSigned(crypto.createHash(names[algorithm]).update(bytes).digest());
    },
    sleep(ms) {
      if (!Number.isInteger(ms) || ms < 0) throw new Error(`Utilities.sleep: bad duration ${ms}`);
      if (ms > 300000) throw new Error('Utilities.sleep: at most 300000 ms');
      log.sleeps.push(ms);
      const scaled = Math.round(ms * (config.sleepScale ?? 1));
      if (scaled > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, scaled);
    },
    getUuid: () => crypto.randomUUID(),
  };

  function httpResponse(status, headers, body) {
    return {
      getResponseCode: () => status,
      getContentText: (charset) => body.toString(charset === Charset.US_ASCII ? 'latin1' : 'utf8'),
      getHeaders: () => ({ ...headers }),
      getAllHeaders: () => ({ ...headers }),
      getContent: () => toSigned(body),
      getBlob: () => makeBlob(body, headers['content-type']),
    };
  }

  const UrlFetchApp = {
    fetch(url, params = {}) {
      if (typeof url !== 'string') throw new Error('UrlFetchApp.fetch: the URL must be a String');
      for (const key of Object.keys(params)) {
        if (!FETCH_PARAMS.has(key)) throw new Error(`UrlFetchApp.fetch: unknown parameter ${key}`);
      }
      if (!url.startsWith(PUBSUB_ROOT)) {
        throw new Error(`stand-in: only ${PUBSUB_ROOT} is served here, not ${url}`);
      }
      const method = String(params.method || 'get').toUpperCase();
      const headers = { ...(params.headers || {}) };
      let body = Buffer.alloc(0);
      if (params.payload !== undefined) {
        if (typeof params.payload === 'string') {
          if (!isAscii(params.payload)) {
            throw new Error('stand-in: a non-ASCII String payload is sent in a charset Apps ' +
              'Script does not document; send ASCII JSON (base64 the data) or bytes');
          }
          body = Buffer.from(params.payload, 'latin1');
        } else {
          body = fromSigned(params.payload, 'UrlFetchApp.fetch payload');
        }
        headers['Content-Type'] = params.contentType || 'application/x-www-form-urlencoded';
      }
      const record = { url, method, headers, body: body.toString('latin1') };
      log.fetches.push(record);
      let result;
      const forward = () => {
        const target = `http://${config.emulatorHost}/${url.slice(PUBSUB_ROOT.length)}`;
        const out = childProcess.execFileSync(process.execPath, [FETCH_SYNC], {
          input: JSON.stringify({ url: target, method, headers, bodyBase64: body.toString('base64'), timeoutMs: 30000 }),
          maxBuffer: 64 * 1024 * 1024,
        });
        const answer = JSON.parse(out.toString('utf8'));
        if (answer.error) throw new Error(`Address unavailable: ${url} (${answer.error})`);
        return answer;
      };
      const fault = faults.shift(); // null: this request goes through
      // afterSending: Pub/Sub takes the request, then its reply is lost (the fault answers).
      if (fault && fault.afterSending) forward();
      if (fault && fault.throw) {
        record.fault = fault;
        throw new Error(fault.throw); // as Apps Script does for DNS failures, timeouts
      }
      if (fault) {
        record.fault = fault;
        result = { status: fault.status, headers: {}, bodyBase64: Buffer.from(fault.body || '').toString('base64') };
      } else {
        result = forward();
      }
      record.status = result.status;
      const response = httpResponse(result.status, result.headers, Buffer.from(result.bodyBase64, 'base64'));
      if ((result.status < 200 || result.status >= 300) && !params.muteHttpExceptions) {
        throw new Error(`Request failed for ${url} returned code ${result.status}. ` +
          `Truncated server response: ${response.getContentText().slice(0, 200)}`);
      }
      return response;
    },
  };

  function store(initial) {
    const values = { ...(initial || {}) };
    return {
      getProperty: (key) => (Object.prototype.hasOwnProperty.call(values, key) ? values[key] : null),
      setProperty(key, value) { values[key] = String(value); return this; },
      deleteProperty(key) { delete values[key]; return this; },
      getProperties: () => ({ ...values }),
    };
  }
  const scriptProperties = store(config.properties);
  const PropertiesService = {
    getScriptProperties: () => scriptProperties,
    getUserProperties: (() => { const s = store(); return () => s; })(),
    getDocumentProperties: (() => { const s = store(); return () => s; })(),
  };

  const ScriptApp = { getOAuthToken: () => config.token || 'ya29.stand-in-token' };

  const sheetConfig = config.sheet || { id: 'spreadsheet-1', sheetId: 0, values: [[]], active: { row: 1, numRows: 1 } };
  const grid = sheetConfig.values;
  function cell(row, column) {
    while (grid.length < row) grid.push([]);
    const line = grid[row - 1];
    return line[column - 1] === undefined ? '' : line[column - 1];
  }
  function range(row, column, numRows = 1, numColumns = 1) {
    return {
      getRow: () => row,
      getNumRows: () => numRows,
      getValues: () => Array.from({ length: numRows }, (_, r) =>
        Array.from({ length: numColumns }, (_, c) => cell(row + r, column + c))),
      setValue(value) {
        if (numRows !== 1 || numColumns !== 1) throw new Error('setValue on a range of many cells');
        cell(row, column);
        grid[row - 1][column - 1] = value;
        return this;
      },
    };
  }
  const sheet = {
    getSheetId: () => sheetConfig.sheetId,
    getName: () => sheetConfig.name || 'Sheet1',
    getLastColumn: () => Math.max(0, ...grid.map((line) => line.length)),
    getRange: range,
    getActiveRange: () => range(sheetConfig.active.row, 1, sheetConfig.active.numRows, 1),
  };
  const SpreadsheetApp = {
    getActiveSpreadsheet: () => ({ getId: () => sheetConfig.id, getActiveSheet: () => sheet }),
    getActiveSheet: () => sheet,
    getUi: () => ({
      createMenu(name) {
        const menu = { name, items: [] };
        log.menus.push(menu);
        return {
          addItem(caption, fn) { menu.items.push([caption, fn]); return this; },
          addSeparator() { return this; },
          addToUi() {},
        };
      },
      alert(message) { log.alerts.push(String(message)); },
    }),
  };

  const Logger = { log: (...args) => { log.logs.push(args.map(String).join(' ')); } };
  const globals = { UrlFetchApp, Utilities, PropertiesService, ScriptApp, SpreadsheetApp, Logger };
  return { globals, log, grid };
}

module.exports = { makeStandIns };
