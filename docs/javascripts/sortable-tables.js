/* Sortable tables, offline: click a column header of a table inside <div class="sortable">
 * to sort by that column; click again to reverse. Numbers sort as numbers, the rest as text.
 * A cell holding an element with data-sort sorts by that key instead of its text (severity
 * sorts by rank: critical, warning, info).
 * Works with Material's instant navigation (document$) and without it. No dependencies. */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var keyed = cell.querySelector("[data-sort]");
    return keyed ? keyed.getAttribute("data-sort") : cell.textContent.trim();
  }

  function compare(a, b) {
    var x = parseFloat(a.replace(/,/g, "")), y = parseFloat(b.replace(/,/g, ""));
    if (!isNaN(x) && !isNaN(y) && /^[\d.,\s%-]+$/.test(a) && /^[\d.,\s%-]+$/.test(b)) return x - y;
    return a.localeCompare(b, undefined, { sensitivity: "base", numeric: true });
  }

  function sortBy(table, header, index) {
    var body = table.tBodies[0];
    if (!body) return;
    var descending = header.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var order = compare(cellValue(r1, index), cellValue(r2, index));
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function enable(root) {
    (root || document).querySelectorAll(".sortable table").forEach(function (table) {
      if (table.dataset.sortable || !table.tHead) return;
      table.dataset.sortable = "true";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
        header.tabIndex = 0;
        header.title = "Sort by this column";
        header.addEventListener("click", function () { sortBy(table, header, index); });
        header.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, header, index); }
        });
      });
    });
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(function () { enable(document); });
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enable(document); });
  } else {
    enable(document);
  }
})();
