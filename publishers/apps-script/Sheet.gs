/**
 * Example: an "Enqueue" menu in a Google Sheet that enqueues the selected rows.
 *
 * Sheet layout (row 1 is the header):
 *   service | status | delay_s | <any other column> ...
 * Each row becomes enqueue(service, {<column>: <value>, ...}, {idempotency_key, delay_s}).
 * The key is made of the spreadsheet, the sheet, the row and a hash of its content: clicking
 * twice (or two people at once) cannot enqueue a row twice, while editing the row and clicking
 * again does enqueue the new content. The outcome is written back to the "status" column: the
 * message id, the key and the trace id, so `bridge status --service S --key K` finds the row's
 * task and Cloud Logging's trace view shows the bridge's and the worker's lines for it.
 */

var SHEET_RESERVED_COLUMNS = ['service', 'status', 'delay_s', 'deadline_s'];

function onOpen() {
  SpreadsheetApp.getUi()
    .createMenu('Enqueue')
    .addItem('Enqueue selected rows', 'enqueueSelectedRows')
    .addToUi();
}

/** The menu item: enqueue the rows of the current selection (the header row is skipped). */
function enqueueSelectedRows() {
  var sheet = SpreadsheetApp.getActiveSheet();
  var range = sheet.getActiveRange();
  try {
    var done = enqueueRows(sheet, range.getRow(), range.getNumRows());
    SpreadsheetApp.getUi().alert('Enqueued ' + done.length + ' row(s).');
  } catch (e) {
    SpreadsheetApp.getUi().alert('Nothing more was enqueued: ' + e.message);
  }
}

/**
 * Enqueue rows firstRow..firstRow+numRows-1 of sheet, each with a new traceparent.
 * Returns [{row, key, messageId, traceparent}].
 * Blank rows are skipped; a row without a service is an error naming the row.
 */
function enqueueRows(sheet, firstRow, numRows) {
  var width = sheet.getLastColumn();
  var header = sheet.getRange(1, 1, 1, width).getValues()[0].map(function (h) {
    return String(h).trim();
  });
  var serviceColumn = header.indexOf('service');
  var statusColumn = header.indexOf('status');
  if (serviceColumn < 0) throw new Error('the header row (row 1) needs a "service" column');
  var start = Math.max(firstRow, 2);
  var count = firstRow + numRows - start;
  if (count <= 0) return [];
  var values = sheet.getRange(start, 1, count, width).getValues();
  var spreadsheetId = SpreadsheetApp.getActiveSpreadsheet().getId();
  var rows = [];
  var items = [];
  values.forEach(function (cells, i) {
    var row = start + i;
    var blank = cells.every(function (cell, c) { return c === statusColumn || cell === ''; });
    if (blank) return;
    var service = String(cells[serviceColumn]).trim();
    if (!service) throw new Error('row ' + row + ' has no service');
    var payload = {};
    header.forEach(function (name, c) {
      if (name && SHEET_RESERVED_COLUMNS.indexOf(name) < 0) payload[name] = cells[c];
    });
    var options = { idempotency_key: rowKey(spreadsheetId, sheet.getSheetId(), row, service, payload) };
    ['delay_s', 'deadline_s'].forEach(function (name) {
      var c = header.indexOf(name);
      if (c >= 0 && cells[c] !== '') options[name] = Number(cells[c]);
    });
    buildEnvelope_(service, payload, options, 'row ' + row + ': '); // errors name the row
    rows.push({ row: row, key: options.idempotency_key });
    items.push({ service: service, payload: payload, options: options });
  });
  if (!items.length) return [];
  var sent;
  try {
    sent = enqueueBatchTraced(items);
  } catch (e) {
    (e.published || []).forEach(function (one, i) { markRow_(sheet, statusColumn, rows[i], one); });
    throw e;
  }
  sent.forEach(function (one, i) {
    rows[i].messageId = one.messageId;
    rows[i].traceparent = one.traceparent;
    markRow_(sheet, statusColumn, rows[i], one);
  });
  return rows;
}

/** Same spreadsheet, sheet, row and content: same key, so the bridge makes one task of it. */
function rowKey(spreadsheetId, sheetId, row, service, payload) {
  var digest = Utilities.computeDigest(
    Utilities.DigestAlgorithm.SHA_256,
    JSON.stringify([service, payload]),
    Utilities.Charset.UTF_8
  );
  var hex = digest.slice(0, 8).map(function (b) {
    return ((b + 256) % 256).toString(16).padStart(2, '0');
  }).join('');
  return 'sheet-' + spreadsheetId + '-' + sheetId + '-row' + row + '-' + hex;
}

/** The status cell: when, the message id, the key and the trace id (traceparent's 2nd field). */
function markRow_(sheet, statusColumn, row, sent) {
  if (statusColumn < 0) return;
  sheet.getRange(row.row, statusColumn + 1).setValue(
    'enqueued ' + new Date().toISOString() + ' message ' + sent.messageId + ' key ' + row.key +
    ' trace ' + sent.traceparent.split('-')[1]
  );
}
