/**
 * enqueue-bridge publisher for Apps Script: publish envelopes to the enqueue-requests topic.
 *
 *   enqueue('brain', {case_id: 'C-1'}, {idempotency_key: 'case-C-1'})  -> message id
 *   enqueueBatch([{service: 'brain', payload: {...}, options: {...}}, ...]) -> message ids
 *   enqueueTraced('brain', {case_id: 'C-2'})  -> {messageId, traceparent}
 *   enqueueBatchTraced([{service, payload, options, traceparent}, ...]) -> [{messageId, traceparent}]
 *
 * The traced forms send a W3C `traceparent` attribute (the one given, or a new sampled one): the
 * bridge forwards it to the worker and logs its trace id, so a Sheet row can be followed in
 * Cloud Logging as one trace.
 *
 * Script Properties (Project Settings > Script Properties):
 *   ENQUEUE_PROJECT_ID  the Cloud project of the topic, e.g. my-project
 *   ENQUEUE_TOPIC       the topic id, e.g. enqueue-requests
 *
 * Every envelope is checked with the bridge's rules before anything is sent, so a mistake is an
 * error here and now, not a rejected message later. Text is sent as UTF-8 (accents, ñ, emoji).
 * Pub/Sub's 429 and 5xx answers are retried with backoff; other errors say what to fix.
 *
 * Every envelope carries an idempotency_key: the caller's, or one generated once ('gas-' and a
 * random UUID) before the first attempt, so every retry sends the same key. A retry after a lost
 * reply makes a second Pub/Sub message; with the same key the bridge makes one task of both.
 * Give your own key (a row id, a case id) to make a retry of your own safe too.
 */

var ENQUEUE_PUBSUB_ROOT = 'https://pubsub.googleapis.com/v1/';
// The bridge's limits (bridge/limits.py; tests/test_limits.py checks these copies against it).
var ENQUEUE_MAX_REQUEST_MESSAGES = 1000; // Pub/Sub: at most 1,000 messages per publish request
// Not bridge/limits.py's MAX_REQUEST_BYTES (10,000,000) on purpose: this counts the JSON of the
// REST request (each message's data in base64, the JSON around it), the bridge's publisher the
// protobuf; 1 MB below Pub/Sub's 10 MB leaves the REST framing a margin.
var ENQUEUE_MAX_REQUEST_BYTES = 9000000;
var ENQUEUE_MAX_PAYLOAD_BYTES = 1000000; // DEFAULT_MAX_BODY_BYTES (Cloud Tasks: 1 MB a task)
var ENQUEUE_MAX_DELAY_S = 30 * 24 * 3600; // MAX_DELAY_S
var ENQUEUE_MIN_DEADLINE_S = 15; // MIN_DEADLINE_S
var ENQUEUE_MAX_DEADLINE_S = 1800; // MAX_DEADLINE_S
var ENQUEUE_MAX_KEY_CHARS = 500; // MAX_KEY_CHARS
var ENQUEUE_MAX_ATTEMPTS = 5; // per request; waits 1, 2, 4, 8 s (+ jitter) between attempts
var ENQUEUE_RETRIED_CODES = [429, 500, 502, 503, 504];
var ENQUEUE_OPTIONS = ['delay_s', 'idempotency_key', 'deadline_s'];
var ENQUEUE_GENERATED_KEY_PREFIX = 'gas-'; // a key this library made: the caller gave none
// W3C trace context, version 00: lowercase hex, trace id and parent id not all zeros.
var ENQUEUE_TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Publish one envelope. Returns the Pub/Sub message id.
 * @param {string} service the worker service, e.g. 'brain'
 * @param {Object} payload a plain object, sent to the worker as JSON
 * @param {{delay_s: (number|undefined), idempotency_key: (string|undefined),
 *          deadline_s: (number|undefined)}=} options
 * @return {string}
 */
function enqueue(service, payload, options) {
  return enqueueBatch([{ service: service, payload: payload, options: options }])[0];
}

/**
 * Publish many envelopes, in as few requests as Pub/Sub's limits allow. All are checked first:
 * if one is invalid, nothing is sent. Returns the message ids, in order. If a request fails
 * after others succeeded, the error carries `publishedIds` (the ids of those already sent).
 * @param {Array<{service: string, payload: Object, options: (Object|undefined)}>} items
 * @return {Array<string>}
 */
function enqueueBatch(items) {
  return publishItems_(items, 'enqueueBatch', false).map(function (sent) {
    return sent.messageId;
  });
}

/**
 * Publish one envelope with a W3C `traceparent` attribute: `traceparent` if given (checked), or
 * a new sampled one. Returns {messageId, traceparent}: keep the traceparent (its second field is
 * the trace id) to find the bridge's and the worker's log lines of this request.
 * @param {string} service
 * @param {Object} payload
 * @param {Object=} options as for enqueue
 * @param {string=} traceparent e.g. '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
 * @return {{messageId: string, traceparent: string}}
 */
function enqueueTraced(service, payload, options, traceparent) {
  var item = { service: service, payload: payload, options: options, traceparent: traceparent };
  return publishItems_([item], 'enqueueTraced', true)[0];
}

/**
 * enqueueBatch with a `traceparent` per item (`item.traceparent`, or a new one each). Returns
 * [{messageId, traceparent}], in order; on a failure after others were sent, the error carries
 * `publishedIds` as enqueueBatch's does, and `published`: their [{messageId, traceparent}].
 * @param {Array<{service: string, payload: Object, options: (Object|undefined),
 *                traceparent: (string|undefined)}>} items
 * @return {Array<{messageId: string, traceparent: string}>}
 */
function enqueueBatchTraced(items) {
  return publishItems_(items, 'enqueueBatchTraced', true);
}

/** Check every item, then publish them all; [{messageId, traceparent (traced only)}]. */
function publishItems_(items, caller, traced) {
  if (!Array.isArray(items)) {
    throw new Error(caller + ': pass an array of {service, payload, options}');
  }
  var messages = items.map(function (item, index) {
    var where = items.length > 1 ? 'item ' + index + ': ' : '';
    if (!isPlainObject_(item)) {
      throw new Error(caller + ': ' + where + 'each item must be {service, payload, options}');
    }
    var envelope = buildEnvelope_(item.service, item.payload, item.options, where);
    var message = { data: base64Utf8_(JSON.stringify(envelope)) };
    if (traced) message.attributes = { traceparent: traceparentFor_(item.traceparent, where) };
    return message;
  });
  var url = topicUrl_() + ':publish';
  var published = [];
  splitRequests_(messages).forEach(function (batch) {
    try {
      published = published.concat(publishRequest_(url, batch));
    } catch (e) {
      if (published.length) {
        e.message += ' (' + published.length + ' of ' + messages.length +
          ' messages were published before this failure; see error.publishedIds)';
      }
      e.publishedIds = published;
      if (traced) e.published = sentOf_(published, messages);
      throw e;
    }
  });
  return traced ? sentOf_(published, messages) : published.map(function (id) {
    return { messageId: id };
  });
}

/** [{messageId, traceparent}] of the first published.length messages, in order. */
function sentOf_(published, messages) {
  return published.map(function (id, i) {
    return { messageId: id, traceparent: messages[i].attributes.traceparent };
  });
}

/** The caller's traceparent (checked), or a new sampled one from two random UUIDs. */
function traceparentFor_(given, where) {
  if (given !== undefined && given !== null) {
    if (typeof given !== 'string' || !ENQUEUE_TRACEPARENT.test(given)) {
      throw new Error('enqueue: ' + (where || '') + 'traceparent must be a W3C traceparent ' +
        '(00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase), got ' +
        describe_(given));
    }
    return given;
  }
  // Utilities.getUuid is random (version 4): its hex, less the dashes, is a valid id.
  var traceId = Utilities.getUuid().replace(/-/g, '').toLowerCase();
  var spanId = Utilities.getUuid().replace(/-/g, '').toLowerCase().slice(0, 16);
  var value = '00-' + traceId + '-' + spanId + '-01';
  if (!ENQUEUE_TRACEPARENT.test(value)) {
    throw new Error('enqueue: Utilities.getUuid gave ' + describe_(value) + ', not random hex');
  }
  return value;
}

/** The envelope the bridge expects, or an Error naming the field to fix. */
function buildEnvelope_(service, payload, options, where) {
  var fail = function (text) { throw new Error('enqueue: ' + (where || '') + text); };
  if (typeof service !== 'string' || service.length < 1 || service.length > 63) {
    fail('service must be a service name such as "brain" (1 to 63 characters), got ' +
      describe_(service));
  }
  if (!isPlainObject_(payload)) {
    fail('payload must be a plain object such as {case_id: "C-1"}, got ' + describe_(payload));
  }
  checkJson_(payload, 'payload', fail);
  var payloadBytes = utf8Length_(JSON.stringify(payload));
  if (payloadBytes > ENQUEUE_MAX_PAYLOAD_BYTES) {
    fail('payload is ' + payloadBytes + ' bytes as JSON; the bridge accepts at most ' +
      ENQUEUE_MAX_PAYLOAD_BYTES);
  }
  var envelope = { service: service, payload: payload };
  if (options === undefined || options === null) options = {};
  if (!isPlainObject_(options)) fail('options must be an object, got ' + describe_(options));
  Object.keys(options).forEach(function (name) {
    if (ENQUEUE_OPTIONS.indexOf(name) < 0) {
      fail('unknown option "' + name + '"; the options are ' + ENQUEUE_OPTIONS.join(', '));
    }
  });
  if (options.delay_s !== undefined && options.delay_s !== 0) {
    if (!isWholeNumber_(options.delay_s) || options.delay_s < 0 ||
        options.delay_s > ENQUEUE_MAX_DELAY_S) {
      fail('options.delay_s must be a whole number of seconds from 0 to ' +
        ENQUEUE_MAX_DELAY_S + ' (30 days), got ' + describe_(options.delay_s));
    }
    envelope.delay_s = options.delay_s;
  }
  if (options.idempotency_key !== undefined) {
    var key = options.idempotency_key;
    if (typeof key !== 'string' || key.length < 1 || key.length > ENQUEUE_MAX_KEY_CHARS ||
        !/^[\x20-\x7e]+$/.test(key)) {
      fail('options.idempotency_key must be 1 to ' + ENQUEUE_MAX_KEY_CHARS + ' printable ASCII ' +
        'characters (no accents, no line breaks), got ' + describe_(key));
    }
    // As the bridge (bad_idempotency_key): HTTP strips the spaces, so "K " and "K" would be two
    // tasks that the worker sees with one key.
    if (/^ | $/.test(key)) {
      fail('options.idempotency_key must not start or end with a space, got ' + describe_(key));
    }
    envelope.idempotency_key = key;
  }
  if (options.deadline_s !== undefined) {
    if (!isWholeNumber_(options.deadline_s) || options.deadline_s < ENQUEUE_MIN_DEADLINE_S ||
        options.deadline_s > ENQUEUE_MAX_DEADLINE_S) {
      fail('options.deadline_s must be a whole number of seconds from ' +
        ENQUEUE_MIN_DEADLINE_S + ' to ' + ENQUEUE_MAX_DEADLINE_S + ', got ' +
        describe_(options.deadline_s));
    }
    envelope.deadline_s = options.deadline_s;
  }
  if (envelope.idempotency_key === undefined) {
    envelope.idempotency_key = ENQUEUE_GENERATED_KEY_PREFIX + Utilities.getUuid();
  }
  return envelope;
}

/** Refuse what JSON.stringify would silently change: NaN, Infinity, undefined, functions. */
function checkJson_(value, path, fail) {
  if (typeof value === 'number' && !isFinite(value)) {
    fail(path + ' is ' + value + ', which JSON cannot carry (it would arrive as null)');
  }
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    fail(path + ' is ' + typeof value + ', which JSON cannot carry');
  }
  if (typeof value === 'string' && /[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/.test(value)) {
    fail(path + ' contains a broken character (a lone UTF-16 surrogate)');
  }
  if (Array.isArray(value)) {
    value.forEach(function (item, i) { checkJson_(item, path + '[' + i + ']', fail); });
  } else if (isPlainObject_(value)) {
    Object.keys(value).forEach(function (k) { checkJson_(value[k], path + '.' + k, fail); });
  }
}

/** Pub/Sub's publish, retried on 429 and 5xx with backoff. Returns the message ids. */
function publishRequest_(url, messages) {
  var body = JSON.stringify({ messages: messages });
  var lastProblem = '';
  for (var attempt = 1; attempt <= ENQUEUE_MAX_ATTEMPTS; attempt++) {
    var response = null;
    try {
      response = UrlFetchApp.fetch(url, {
        method: 'post',
        contentType: 'application/json',
        payload: body,
        headers: { Authorization: 'Bearer ' + ScriptApp.getOAuthToken() },
        muteHttpExceptions: true,
      });
    } catch (e) { // network trouble (timeouts, DNS): worth another attempt
      lastProblem = String(e && e.message || e);
    }
    if (response !== null) {
      var code = response.getResponseCode();
      var text = response.getContentText();
      if (code >= 200 && code < 300) {
        var ids = JSON.parse(text).messageIds;
        if (!Array.isArray(ids) || ids.length !== messages.length) {
          throw new Error('enqueue: Pub/Sub answered without the message ids: ' + text);
        }
        return ids;
      }
      if (ENQUEUE_RETRIED_CODES.indexOf(code) < 0) throw new Error(explain_(code, text, url));
      lastProblem = 'HTTP ' + code + ' ' + errorMessage_(text);
    }
    if (attempt < ENQUEUE_MAX_ATTEMPTS) {
      Utilities.sleep(Math.round(1000 * Math.pow(2, attempt - 1) * (1 + Math.random() / 2)));
    }
  }
  throw new Error('enqueue: Pub/Sub did not accept the request after ' + ENQUEUE_MAX_ATTEMPTS +
    ' attempts (' + lastProblem + '); Pub/Sub may have taken it all the same (a lost reply): ' +
    'calling again is safe for envelopes that carry an idempotency_key of your own');
}

function explain_(code, text, url) {
  var detail = errorMessage_(text);
  var topic = url.replace(ENQUEUE_PUBSUB_ROOT, '').replace(/:publish$/, '');
  if (code === 404) {
    return 'enqueue: ' + topic + ' was not found: check the Script Properties ' +
      'ENQUEUE_PROJECT_ID and ENQUEUE_TOPIC (' + detail + ')';
  }
  if (code === 403) {
    return 'enqueue: permission denied on ' + topic + ': grant your account the role ' +
      'Pub/Sub Publisher (roles/pubsub.publisher) on the topic, and make sure the Pub/Sub API ' +
      'is enabled in the script\'s Cloud project (' + detail + ')';
  }
  if (code === 401) {
    return 'enqueue: not authorized: appsscript.json must list the oauthScopes ' +
      'https://www.googleapis.com/auth/pubsub and ' +
      'https://www.googleapis.com/auth/script.external_request (' + detail + ')';
  }
  return 'enqueue: Pub/Sub refused the request (HTTP ' + code + '): ' + detail;
}

function errorMessage_(text) {
  try {
    var parsed = JSON.parse(text);
    if (parsed && parsed.error && parsed.error.message) return parsed.error.message;
  } catch (ignored) { /* not JSON: show the text */ }
  return String(text).slice(0, 300);
}

/** Requests of at most 1,000 messages and ENQUEUE_MAX_REQUEST_BYTES of JSON each, in order. */
function splitRequests_(messages) {
  var requests = [];
  var current = [];
  var bytes = 0;
  messages.forEach(function (message) {
    var size = message.data.length + 16; // base64 is ASCII: one byte a character; {"data":""},
    if (message.attributes) size += JSON.stringify(message.attributes).length + 14;
    if (size > ENQUEUE_MAX_REQUEST_BYTES) {
      throw new Error('enqueue: one envelope is ' + size + ' bytes once encoded, over ' +
        'Pub/Sub\'s limit; send the data by reference (a file id) instead');
    }
    if (current.length && (current.length === ENQUEUE_MAX_REQUEST_MESSAGES ||
        bytes + size > ENQUEUE_MAX_REQUEST_BYTES)) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  });
  if (current.length) requests.push(current);
  return requests;
}

function topicUrl_() {
  var properties = PropertiesService.getScriptProperties();
  var project = (properties.getProperty('ENQUEUE_PROJECT_ID') || '').trim();
  var topic = (properties.getProperty('ENQUEUE_TOPIC') || '').trim();
  var missing = [];
  if (!project) missing.push('ENQUEUE_PROJECT_ID (the Cloud project, e.g. my-project)');
  if (!topic) missing.push('ENQUEUE_TOPIC (the topic id, e.g. enqueue-requests)');
  if (missing.length) {
    throw new Error('enqueue: set the Script Properties ' + missing.join(' and ') +
      ' in Project Settings > Script Properties');
  }
  if (!/^[a-z][a-z0-9:.-]*[a-z0-9]$/.test(project) || !/^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/.test(topic)) {
    throw new Error('enqueue: Script Properties ENQUEUE_PROJECT_ID "' + project +
      '" or ENQUEUE_TOPIC "' + topic + '" is not a valid id (give ids, not full paths)');
  }
  return ENQUEUE_PUBSUB_ROOT + 'projects/' + project + '/topics/' + topic;
}

/** Base64 of the UTF-8 bytes of text (the charset is explicit: accents, ñ, emoji survive). */
function base64Utf8_(text) {
  return Utilities.base64Encode(text, Utilities.Charset.UTF_8);
}

function utf8Length_(text) {
  var bytes = 0;
  for (var i = 0; i < text.length; i++) {
    var c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { bytes += 4; i++; } // a surrogate pair: 4 bytes
    else bytes += 3;
  }
  return bytes;
}

function isPlainObject_(value) {
  return Object.prototype.toString.call(value) === '[object Object]';
}

function isWholeNumber_(value) {
  return typeof value === 'number' && isFinite(value) && Math.floor(value) === value;
}

function describe_(value) {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  var text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return (typeof value) + ' ' + (text.length > 60 ? text.slice(0, 57) + '...' : text);
}
