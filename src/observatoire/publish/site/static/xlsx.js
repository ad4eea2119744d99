/*
 * Spreadsheet downloads from the browser: a minimal Office Open XML workbook (.xlsx) and CSV
 * for French Excel, offline, zipped with the vendored fflate (vendor/fflate/fflate.umd.js, to be
 * loaded before this script).
 *
 * Plain script, no module: it defines window.ObsXlsx = {workbook, csv, download, sheetNames}.
 *
 *   ObsXlsx.workbook([{name, rows: [[cell, ...], ...], widths?}, ...]) -> Uint8Array (.xlsx)
 *     cells: string, number (non-finite -> empty), boolean, null/undefined (empty cell);
 *     the first row of each sheet is bold and frozen; widths: column widths in characters.
 *   ObsXlsx.csv(rows, sep = ";", decimal = sep === ";" ? "," : ".") -> string (UTF-8 BOM, CRLF)
 *   ObsXlsx.download(filename, data) -> saves a Uint8Array, Blob or string as a file
 *   ObsXlsx.sheetNames(names) -> the names as written in the workbook (Excel rules, unique)
 */
(function (global) {
  "use strict";

  var MAX_ROWS = 1048576;
  var MAX_COLUMNS = 16384;
  var MAX_SHEET_NAME = 31;
  var XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  var MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
  var REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
  var PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships";
  var HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
  var ZIP_DATE = new Date(1980, 0, 1); // fixed: the same rows give the same bytes

  function fflateOrThrow() {
    var fflate = global.fflate;
    if (!fflate || typeof fflate.zipSync !== "function") {
      throw new Error(
        "fflate absent : chargez vendor/fflate/fflate.umd.js avant xlsx.js pour écrire un classeur."
      );
    }
    return fflate;
  }

  /* Text for XML: &, <, > escaped; control characters (but tab and newline), \r and U+FFFE/FFFF
   * written as Excel's _xHHHH_ (a literal "_x0041_" is protected as "_x005F_x0041_"); a lone
   * surrogate becomes U+FFFD. */
  function xmlText(value) {
    var text = String(value).replace(/_(x[0-9A-Fa-f]{4}_)/g, "_x005F_$1");
    var out = "";
    for (var i = 0; i < text.length; i++) {
      var code = text.charCodeAt(i);
      var ch = text[i];
      if (ch === "&") out += "&amp;";
      else if (ch === "<") out += "&lt;";
      else if (ch === ">") out += "&gt;";
      else if ((code < 0x20 && code !== 0x09 && code !== 0x0a) || code === 0xfffe || code === 0xffff) {
        out += "_x" + code.toString(16).toUpperCase().padStart(4, "0") + "_";
      } else if (code >= 0xd800 && code <= 0xdbff) {
        var low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          out += ch + text[i + 1];
          i++;
        } else out += "\ufffd";
      } else if (code >= 0xdc00 && code <= 0xdfff) out += "\ufffd";
      else out += ch;
    }
    return out;
  }

  function xmlAttribute(value) {
    return xmlText(value).replace(/"/g, "&quot;").replace(/'/g, "&apos;");
  }

  /* A1-style column letters: 0 -> A, 26 -> AA. */
  function columnName(index) {
    var name = "";
    for (var n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
      name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
    }
    return name;
  }

  /* Sheet names as Excel accepts them: no []:*?/\, not empty, <= 31 characters, not starting
   * or ending with an apostrophe, not "History", unique whatever the case. */
  function sheetNames(names) {
    var used = new Set();
    return names.map(function (raw, position) {
      var name = String(raw === null || raw === undefined ? "" : raw)
        .replace(/[\u0000-\u001f]/g, " ")
        .replace(/[[\]:*?/\\]/g, "_")
        .replace(/\s+/g, " ")
        .replace(/^[\s']+|[\s']+$/g, "");
      if (!name) name = "Feuille " + (position + 1);
      if (name.toLowerCase() === "history") name += "_";
      var base = clip(name, MAX_SHEET_NAME);
      name = base;
      for (var n = 2; used.has(name.toLowerCase()); n++) {
        var suffix = " (" + n + ")";
        name = clip(base, MAX_SHEET_NAME - suffix.length) + suffix;
      }
      used.add(name.toLowerCase());
      return name;
    });
  }

  /* A name cut to `limit` UTF-16 units, without trailing space or apostrophe. */
  function clip(name, limit) {
    return truncate(name, limit).replace(/[\s']+$/, "") || "Feuille";
  }

  /* At most `limit` UTF-16 units, never cutting a character in two. */
  function truncate(text, limit) {
    var out = "";
    var chars = Array.from(text);
    for (var i = 0; i < chars.length && out.length + chars[i].length <= limit; i++) {
      out += chars[i];
    }
    return out;
  }

  function cellXml(value, reference, style) {
    var s = style ? ' s="' + style + '"' : "";
    if (value === null || value === undefined) return "";
    if (typeof value === "number" || typeof value === "bigint") {
      if (typeof value === "number" && !Number.isFinite(value)) return "";
      // shortest round-trip text; exponent as Excel writes it ("1E-7")
      return '<c r="' + reference + '"' + s + "><v>" + String(value).toUpperCase() + "</v></c>";
    }
    if (typeof value === "boolean") {
      return '<c r="' + reference + '"' + s + ' t="b"><v>' + (value ? 1 : 0) + "</v></c>";
    }
    var text = xmlText(value);
    var space = /^\s|\s$|\n/.test(String(value)) ? ' xml:space="preserve"' : "";
    return (
      '<c r="' + reference + '"' + s + ' t="inlineStr"><is><t' + space + ">" + text + "</t></is></c>"
    );
  }

  function sheetXml(sheet) {
    var rows = sheet.rows || [];
    if (rows.length > MAX_ROWS) {
      throw new Error(
        "feuille « " + sheet.name + " » trop longue : " + rows.length + " lignes (limite Excel " +
          MAX_ROWS + ")."
      );
    }
    var parts = [HEADER, '<worksheet xmlns="' + MAIN + '" xmlns:r="' + REL + '">'];
    if (rows.length > 1) {
      parts.push(
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" ' +
          'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
      );
    }
    var widths = sheet.widths || [];
    var cols = [];
    for (var c = 0; c < widths.length; c++) {
      var width = Number(widths[c]);
      if (widths[c] !== null && widths[c] !== undefined && Number.isFinite(width) && width > 0) {
        cols.push(
          '<col min="' + (c + 1) + '" max="' + (c + 1) + '" width="' + Math.min(width, 255) +
            '" customWidth="1"/>'
        );
      }
    }
    if (cols.length) parts.push("<cols>" + cols.join("") + "</cols>");
    parts.push("<sheetData>");
    for (var r = 0; r < rows.length; r++) {
      var row = rows[r] || [];
      if (row.length > MAX_COLUMNS) {
        throw new Error(
          "feuille « " + sheet.name + " » trop large : " + row.length + " colonnes (limite Excel " +
            MAX_COLUMNS + ")."
        );
      }
      var cells = [];
      for (var i = 0; i < row.length; i++) {
        cells.push(cellXml(row[i], columnName(i) + (r + 1), r === 0 ? 1 : 0));
      }
      parts.push('<row r="' + (r + 1) + '">' + cells.join("") + "</row>");
    }
    parts.push("</sheetData></worksheet>");
    return parts.join("");
  }

  var STYLES =
    HEADER +
    '<styleSheet xmlns="' + MAIN + '">' +
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>' +
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>' +
    '<fills count="2"><fill><patternFill patternType="none"/></fill>' +
    '<fill><patternFill patternType="gray125"/></fill></fills>' +
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>' +
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>' +
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>' +
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>' +
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>' +
    "</styleSheet>";

  /* The .xlsx bytes of `sheets` = [{name, rows, widths?}, ...] (at least one sheet). */
  function workbook(sheets) {
    var fflate = fflateOrThrow();
    if (!Array.isArray(sheets) || sheets.length === 0) {
      throw new Error("classeur vide : au moins une feuille est attendue.");
    }
    var names = sheetNames(
      sheets.map(function (sheet) {
        return sheet && sheet.name;
      })
    );
    var overrides = [];
    var sheetEntries = [];
    var relations = [];
    var files = {};
    sheets.forEach(function (sheet, index) {
      var n = index + 1;
      overrides.push(
        '<Override PartName="/xl/worksheets/sheet' + n + '.xml" ContentType="application/' +
          'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
      );
      sheetEntries.push(
        '<sheet name="' + xmlAttribute(names[index]) + '" sheetId="' + n + '" r:id="rId' + n + '"/>'
      );
      relations.push(
        '<Relationship Id="rId' + n + '" Type="' + REL + '/worksheet" Target="worksheets/sheet' +
          n + '.xml"/>'
      );
      files["xl/worksheets/sheet" + n + ".xml"] = sheetXml({
        name: names[index],
        rows: (sheet && sheet.rows) || [],
        widths: sheet && sheet.widths,
      });
    });
    relations.push(
      '<Relationship Id="rId' + (sheets.length + 1) + '" Type="' + REL +
        '/styles" Target="styles.xml"/>'
    );
    var parts = {
      "[Content_Types].xml":
        HEADER +
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.' +
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-' +
        'officedocument.spreadsheetml.sheet.main+xml"/>' +
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-' +
        'officedocument.spreadsheetml.styles+xml"/>' +
        overrides.join("") +
        "</Types>",
      "_rels/.rels":
        HEADER +
        '<Relationships xmlns="' + PKG_REL + '"><Relationship Id="rId1" Type="' + REL +
        '/officeDocument" Target="xl/workbook.xml"/></Relationships>',
      "xl/workbook.xml":
        HEADER +
        '<workbook xmlns="' + MAIN + '" xmlns:r="' + REL + '"><sheets>' +
        sheetEntries.join("") +
        "</sheets></workbook>",
      "xl/_rels/workbook.xml.rels":
        HEADER + '<Relationships xmlns="' + PKG_REL + '">' + relations.join("") +
        "</Relationships>",
      "xl/styles.xml": STYLES,
    };
    Object.keys(files).forEach(function (path) {
      parts[path] = files[path];
    });
    var zipped = {};
    Object.keys(parts).forEach(function (path) {
      zipped[path] = fflate.strToU8(parts[path]);
    });
    return fflate.zipSync(zipped, { level: 6, mtime: ZIP_DATE });
  }

  /* CSV for Excel: RFC 4180 quoting, CRLF, UTF-8 BOM; with ";" numbers get a decimal comma
   * (French Excel). null, undefined and non-finite numbers are empty fields. */
  function csv(rows, sep, decimal) {
    if (sep === undefined || sep === null) sep = ";";
    if (decimal === undefined || decimal === null) decimal = sep === ";" ? "," : ".";
    var needsQuotes = new RegExp('["\\r\\n]|' + sep.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    function field(value) {
      if (value === null || value === undefined) return "";
      var text;
      if (typeof value === "number") {
        if (!Number.isFinite(value)) return "";
        text = String(value).replace(".", decimal);
      } else {
        text = String(value);
      }
      return needsQuotes.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
    }
    return (
      "\ufeff" +
      (rows || [])
        .map(function (row) {
          return (row || []).map(field).join(sep);
        })
        .join("\r\n") +
      "\r\n"
    );
  }

  function mimeType(filename) {
    var lower = String(filename).toLowerCase();
    if (lower.endsWith(".xlsx")) return XLSX_TYPE;
    if (lower.endsWith(".csv")) return "text/csv;charset=utf-8";
    if (lower.endsWith(".json") || lower.endsWith(".geojson")) return "application/json";
    return "application/octet-stream";
  }

  /* Save `data` (Uint8Array, ArrayBuffer, Blob or string) as `filename` through a link. */
  function download(filename, data) {
    var blob = data instanceof Blob ? data : new Blob([data], { type: mimeType(filename) });
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = filename;
    link.rel = "noopener";
    link.style.display = "none";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 1000);
  }

  global.ObsXlsx = Object.freeze({
    workbook: workbook,
    csv: csv,
    download: download,
    sheetNames: sheetNames,
  });
})(typeof window !== "undefined" ? window : globalThis);
