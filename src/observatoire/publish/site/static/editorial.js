/*
 * Observatoire — filters of the studies library (etudes.html).
 *
 * The list is written out in full in the page (readable without JavaScript); this script
 * shows the filter form and hides the studies that do not match the chosen theme, territory,
 * year and status (data-* attributes of each item). The choice is kept in the address
 * (etudes.html?theme=logement&statut=livree), so that a filtered list can be linked.
 */
(function () {
  "use strict";

  var form = document.getElementById("filtres-etudes");
  var list = document.getElementById("etudes-liste");
  var count = document.getElementById("etudes-compte");
  if (!form || !list) return;
  var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-filtre]"));
  var items = Array.prototype.slice.call(list.querySelectorAll("li.item"));

  function param(name) {
    var match = new RegExp("[?&]" + name + "=([^&]*)").exec(location.search);
    try {
      return match ? decodeURIComponent(match[1].replace(/\+/g, " ")) : "";
    } catch (e) {
      return "";
    }
  }

  function plural(n) {
    return n + " étude" + (n > 1 ? "s" : "");
  }

  function apply() {
    var chosen = {};
    var query = [];
    selects.forEach(function (s) {
      if (s.value) {
        chosen[s.getAttribute("data-filtre")] = s.value;
        query.push(encodeURIComponent(s.name) + "=" + encodeURIComponent(s.value));
      }
    });
    var shown = 0;
    items.forEach(function (item) {
      var keep = Object.keys(chosen).every(function (key) {
        var values = (item.getAttribute("data-" + key) || "").split(" ");
        return values.indexOf(chosen[key]) >= 0;
      });
      item.hidden = !keep;
      if (keep) shown += 1;
    });
    count.textContent = query.length ? plural(shown) + " sur " + items.length : plural(items.length);
    if (location.protocol !== "file:" && window.history && history.replaceState) {
      history.replaceState(null, "", location.pathname + (query.length ? "?" + query.join("&") : "") + location.hash);
    }
  }

  selects.forEach(function (s) {
    var wanted = param(s.name);
    if (wanted && Array.prototype.some.call(s.options, function (o) { return o.value === wanted; })) {
      s.value = wanted;
    }
    s.addEventListener("change", apply);
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.hidden = false;
  apply();
})();
