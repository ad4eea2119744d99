/*
 * Observatoire — the web observatory's pages (home, portrait, explorer, comparison).
 *
 * Plain script, no build step. Data come from the JSON API (`api/….json` over HTTP) or, when
 * the static site is opened from file:// (where browsers refuse fetch), from the same payloads
 * wrapped in `api/….js` files that call OBS_DATA(path, payload).
 * Needs: Leaflet (L), vegaEmbed, ObsClassify (classify.js), ObsXlsx (xlsx.js).
 */
(function () {
  "use strict";

  var C = window.ObsClassify;
  var X = window.ObsXlsx;
  var page = document.body.getAttribute("data-page");
  var fileMode = location.protocol === "file:";
  var TOKEN_KEY = "observatoire-jeton";

  // ------------------------------------------------------------------ data access

  var pending = {};
  var loaded = {};
  window.OBS_DATA = function (path, payload) {
    loaded[path] = payload;
    if (pending[path]) {
      pending[path].forEach(function (resolve) { resolve(payload); });
      delete pending[path];
    }
  };

  function token() {
    var match = /[?&]jeton=([^&]+)/.exec(location.search);
    if (match) {
      try { sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1])); } catch (e) { /* malformed: ignored */ }
      // Out of the address bar and the history once read.
      var rest = location.search.replace(/([?&])jeton=[^&]*&?/, "$1").replace(/[?&]$/, "");
      history.replaceState(null, "", location.pathname + rest + location.hash);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  var cache = {};
  function api(name) {
    var path = "/api/" + name + ".json";
    if (cache[path]) return cache[path];
    var promise;
    if (fileMode) {
      promise = new Promise(function (resolve, reject) {
        if (loaded[path]) return resolve(loaded[path]);
        (pending[path] = pending[path] || []).push(resolve);
        var script = document.createElement("script");
        script.src = "api/" + name + ".js";
        script.onerror = function () { reject(new Error("donnée introuvable : " + name)); };
        document.head.appendChild(script);
      });
    } else {
      var headers = {};
      var jeton = token();
      if (jeton) headers.Authorization = "Bearer " + jeton;
      promise = fetch("api/" + name + ".json", { headers: headers }).then(function (r) {
        if (r.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          throw new Error("jeton d'accès invalide : il a été oublié, rechargez la page");
        }
        if (!r.ok) throw new Error("donnée introuvable : " + name + " (" + r.status + ")");
        return r.json();
      });
    }
    cache[path] = promise;
    return promise;
  }

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "html") node.innerHTML = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function param(name) {
    var match = new RegExp("[?&]" + name + "=([^&]*)").exec(location.search);
    try {
      return match ? decodeURIComponent(match[1].replace(/\+/g, " ")) : null;
    } catch (e) {
      return null;
    }
  }

  // Status words for exports (the screen shows the marks: s, n.p., *, n.a., —).
  var STATUS_WORDS = { ok: "diffusé", secret: "secret statistique", incomplete: "partiel", non_additive: "non additif", missing: "manquant" };
  function statusWord(value, status) {
    if (status === "incomplete" && value === null) return "non publié (total incomplet)";
    return STATUS_WORDS[status] || (value === null ? "manquant" : "");
  }

  function normalise(text) {
    return String(text).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[-'’]/g, " ").replace(/\s+/g, " ").trim();
  }

  function fmtValue(value, status, ind, meta) {
    if (status === "incomplete" && value === null) return meta.statuts.withheld.marque;
    if (value === null || value === undefined) {
      if (status && meta.statuts[status]) return meta.statuts[status].marque;
      return "—";
    }
    var unit = ind.unite || "";
    var text = C.frNumber(value, ind.decimales);
    if (unit === "%" || unit === "%/an" || unit === "‰") text += "\u00a0" + unit;
    return text + (status === "incomplete" ? "\u00a0*" : "");
  }

  function periodText(period) {
    return String(period).replace("-", "–");
  }

  function portraitHref(level, id) {
    return "territoire.html?t=" + encodeURIComponent(level + "/" + id);
  }

  function indicatorIndex(catalogue) {
    var index = {};
    catalogue.themes.forEach(function (theme) {
      theme.indicateurs.forEach(function (i) { i.theme = theme; index[i.id] = i; });
    });
    return index;
  }

  function fail(container, error) {
    container.innerHTML = "";
    container.appendChild(el("p", { class: "error", role: "alert", text: "Impossible d'afficher cette page : " + error.message }));
  }

  // ------------------------------------------------------------------ search (combobox)

  function searchBox(input, list, territories, onChoose) {
    var items = territories.map(function (t) {
      return { t: t, key: normalise(t.nom + " " + t.id) };
    });
    var current = [];
    var active = -1;
    function close() {
      current = [];
      list.hidden = true; input.setAttribute("aria-expanded", "false"); active = -1;
      input.removeAttribute("aria-activedescendant");
    }
    function render() {
      list.innerHTML = "";
      current.forEach(function (item, i) {
        var t = item.t;
        var option = el("li", {
          id: list.id + "-" + i, role: "option", "aria-selected": i === active ? "true" : "false",
          class: i === active ? "active" : null,
          onmousedown: function (e) { e.preventDefault(); choose(i); },
        }, [el("span", { text: t.nom }), el("span", { class: "kind", text: levelText(t) })]);
        list.appendChild(option);
      });
      list.hidden = current.length === 0;
      input.setAttribute("aria-expanded", current.length ? "true" : "false");
      if (active >= 0) input.setAttribute("aria-activedescendant", list.id + "-" + active);
    }
    function levelText(t) {
      var labels = { commune: "Commune", epci: "EPCI", departement: "Département", region: "Région", france: "France", custom: t.categorie || "Territoire" };
      return labels[t.niveau] + (t.niveau === "commune" || t.niveau === "epci" ? " · " + t.id : "");
    }
    function choose(i) {
      var t = current[i].t; close(); input.value = t.nom; onChoose(t);
    }
    input.addEventListener("input", function () {
      var q = normalise(input.value);
      active = -1;
      if (q.length < 2) { current = []; render(); return; }
      var starts = [], contains = [];
      items.forEach(function (item) {
        var pos = item.key.indexOf(q);
        if (pos === 0 || item.t.id.indexOf(input.value.trim()) === 0) starts.push(item);
        else if (pos > 0) contains.push(item);
      });
      current = starts.concat(contains).slice(0, 10);
      render();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown" && current.length) { active = (active + 1) % current.length; render(); e.preventDefault(); }
      else if (e.key === "ArrowUp" && current.length) { active = (active - 1 + current.length) % current.length; render(); e.preventDefault(); }
      else if (e.key === "Enter") { if (current.length) { choose(active >= 0 ? active : 0); } e.preventDefault(); }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", close);
  }

  // ------------------------------------------------------------------ map

  var PALETTE = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"];
  function colours(k) {
    if (k <= 1) return [PALETTE[5]];
    var out = [];
    for (var i = 0; i < k; i++) out.push(PALETTE[Math.round(1 + (i * 7) / (k - 1))]);
    return out;
  }

  function choropleth(container, meta, features, valueOf, options) {
    var values = features.map(function (f) { return valueOf(f).value; });
    var classes = C.classify(values, options.scheme, options.k, options.decimals);
    var palette = colours(classes.bins.length);
    var map = container._map;
    if (!map) {
      map = L.map(container, { zoomSnap: 0.25, attributionControl: !!meta.fond_de_carte, keyboard: true });
      if (meta.fond_de_carte) L.tileLayer(meta.fond_de_carte, { attribution: meta.attribution || "" }).addTo(map);
      container._map = map;
    }
    if (container._layer) map.removeLayer(container._layer);
    var layer = L.geoJSON({ type: "FeatureCollection", features: features }, {
      style: function (f) {
        var v = valueOf(f);
        var c = v.value === null ? -1 : C.assign(classes, v.value);
        if (options.outline && f.properties.id === options.outline) {
          return { color: "#e67e22", weight: 3, fillOpacity: 0.9, fillColor: c < 0 ? "#d9d9d9" : palette[c], className: "territoire" };
        }
        return {
          color: "#ffffff", weight: 0.6, fillOpacity: 0.9,
          fillColor: c < 0 ? "#d9d9d9" : palette[c],
          className: c < 0 ? "nodata" : "classe-" + c,
        };
      },
      onEachFeature: function (f, lyr) {
        var v = valueOf(f);
        lyr.bindTooltip(el("span", { text: f.properties.nom + " : " + v.text }), { sticky: true });
        if (options.onClick) lyr.on("click", function () { options.onClick(f); });
      },
    }).addTo(map);
    container._layer = layer;
    if (features.length) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
    container._state = { features: features, valueOf: valueOf, classes: classes, palette: palette, title: options.title, source: options.source };
    return { classes: classes, palette: palette };
  }

  function legend(box, classes, palette, hasMissing, missingText) {
    box.innerHTML = "";
    var list = el("ul", { class: "legend-list" });
    classes.labels.forEach(function (label, i) {
      list.appendChild(el("li", {}, [el("span", { class: "swatch", style: "background:" + palette[i] }), label + " (" + classes.counts[i] + ")"]));
    });
    if (hasMissing) list.appendChild(el("li", {}, [el("span", { class: "swatch", style: "background:#d9d9d9" }), missingText]));
    box.appendChild(list);
  }

  function mapPng(container, filename) {
    var state = container._state;
    var map = container._map;
    var size = map.getSize();
    var missing = state.features.some(function (f) { return state.valueOf(f).value === null; });
    var legendHeight = 22 * (state.classes.labels.length + 2) + 100;
    var canvas = document.createElement("canvas");
    canvas.width = size.x; canvas.height = size.y + legendHeight;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    state.features.forEach(function (f) {
      var v = state.valueOf(f);
      var c = v.value === null ? -1 : C.assign(state.classes, v.value);
      var polygons = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      ctx.beginPath();
      polygons.forEach(function (rings) {
        rings.forEach(function (ring) {
          ring.forEach(function (pt, i) {
            var p = map.latLngToContainerPoint([pt[1], pt[0]]);
            if (i === 0) ctx.moveTo(p.x, p.y); else ctx.lineTo(p.x, p.y);
          });
          ctx.closePath();
        });
      });
      ctx.fillStyle = c < 0 ? "#d9d9d9" : state.palette[c];
      ctx.fill("evenodd"); ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 0.6; ctx.stroke();
    });
    var y = size.y + 22;
    ctx.fillStyle = "#1a1a1a"; ctx.font = "bold 14px sans-serif"; ctx.fillText(state.title, 10, y);
    ctx.font = "12px sans-serif";
    state.classes.labels.forEach(function (label, i) {
      y += 22; ctx.fillStyle = state.palette[i]; ctx.fillRect(10, y - 11, 16, 12);
      ctx.fillStyle = "#1a1a1a"; ctx.fillText(label + " (" + state.classes.counts[i] + ")", 32, y);
    });
    if (missing) {
      y += 22; ctx.fillStyle = "#d9d9d9"; ctx.fillRect(10, y - 11, 16, 12);
      ctx.fillStyle = "#1a1a1a"; ctx.fillText("non diffusé ou manquant", 32, y);
    }
    ctx.fillStyle = "#595959";
    var line = "";
    y += 26;
    state.source.split(" ").forEach(function (word) {  // wrapped to the canvas width
      var next = line ? line + " " + word : word;
      if (ctx.measureText(next).width > canvas.width - 20 && line) { ctx.fillText(line, 10, y); y += 16; line = word; }
      else line = next;
    });
    ctx.fillText(line, 10, y);
    canvas.toBlob(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el("a", { href: url, download: filename });
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    }, "image/png");
  }

  // ------------------------------------------------------------------ charts

  function chart(container, spec, meta, alt) {
    var full = Object.assign({}, spec, { config: meta.vega_config, $schema: "https://vega.github.io/schema/vega-lite/v5.json" });
    var figure = el("figure", { class: "chart" });
    var target = el("div");
    figure.appendChild(el("div", { role: "img", "aria-label": alt }, [target]));
    figure.appendChild(el("figcaption", { class: "sr", text: alt }));
    container.appendChild(figure);
    return vegaEmbed(target, full, { renderer: "svg", actions: false, logLevel: vega.Error }).catch(function (e) {
      target.textContent = "Graphique indisponible (" + e.message + ")";
    });
  }

  // ------------------------------------------------------------------ pages: home

  function home(meta) {
    api("territoires").then(function (index) {
      searchBox(document.getElementById("recherche"), document.getElementById("suggestions"), index.territoires, function (t) {
        location.href = portraitHref(t.niveau, t.id);
      });
      document.body.setAttribute("data-pret", "1");
      var agency = document.getElementById("territoires-agence");
      var epci = document.getElementById("territoires-epci");
      index.territoires.forEach(function (t) {
        var target = t.niveau === "custom" || t.niveau === "departement" || t.niveau === "region" || t.niveau === "france" ? agency : t.niveau === "epci" ? epci : null;
        if (!target) return;
        target.appendChild(el("li", {}, [el("a", { href: portraitHref(t.niveau, t.id) }, [
          el("strong", { text: t.nom }),
          el("span", { class: "kind", text: (t.categorie || meta.niveaux[t.niveau]) + (t.nb_communes ? " · " + C.frNumber(t.nb_communes, 0) + " communes" : "") }),
        ])]));
      });
    }).catch(function (e) { fail(document.getElementById("contenu"), e); });
  }

  // ------------------------------------------------------------------ pages: portrait

  function valueRows(portrait, catalogue) {
    var index = indicatorIndex(catalogue);
    var rows = [["Indicateur", "Thème", "Période", "Valeur", "Unité", "Statut", "Source"]];
    Object.keys(portrait.valeurs).forEach(function (id) {
      var ind = index[id];
      if (!ind) return;
      portrait.valeurs[id].forEach(function (r) {
        rows.push([ind.libelle, ind.theme.libelle, r[0], r[1], ind.unite, statusWord(r[1], r[2]), r[3] === null ? null : portrait.sources[r[3]]]);
      });
    });
    return rows;
  }

  function portraitPage(meta) {
    var box = document.getElementById("portrait");
    var ref = (param("t") || "").split("/");
    if (ref.length !== 2 || !/^[a-z]+$/.test(ref[0]) || !/^[A-Za-z0-9_-]+$/.test(ref[1])) {
      fail(box, new Error("territoire non indiqué ou mal écrit (territoire.html?t=niveau/code)"));
      return;
    }
    Promise.all([api("territoires/" + ref[0] + "/" + ref[1]), api("indicateurs")]).then(function (res) {
      var p = res[0], catalogue = res[1];
      var t = p.territoire;
      document.title = t.nom + " — " + meta.titre;
      document.querySelector("h1").textContent = t.nom;
      box.innerHTML = "";
      var crumbs = el("nav", { "aria-label": "Territoires parents", class: "crumbs" }, [el("span", { text: t.niveau_libelle + " · " })]);
      p.parents.forEach(function (x, i) {
        if (i) crumbs.appendChild(document.createTextNode(" › "));
        crumbs.appendChild(x.dans_observatoire ? el("a", { href: portraitHref(x.niveau, x.id), text: x.nom }) : el("span", { text: x.nom }));
      });
      box.appendChild(crumbs);
      var slug = t.niveau + "-" + t.id;
      var downloads = el("div", { class: "exports" }, [
        el("button", { type: "button", id: "telecharger-csv", onclick: function () {
          X.download("indicateurs-" + slug + ".csv", X.csv(valueRows(p, catalogue)));
        } }, ["Données (CSV)"]),
        el("button", { type: "button", id: "telecharger-xlsx", onclick: function () {
          X.download("indicateurs-" + slug + ".xlsx", X.workbook([{ name: "Indicateurs", rows: valueRows(p, catalogue) }]));
        } }, ["Données (XLSX)"]),
      ]);
      if (p.rapport_pdf) downloads.appendChild(el("a", { class: "button", href: p.rapport_pdf, text: "Rapport (PDF)" }));
      downloads.appendChild(el("a", { class: "button", href: "comparer.html?t=" + encodeURIComponent(t.niveau + "/" + t.id), text: "Comparer" }));
      box.appendChild(downloads);
      if (p.simule) box.appendChild(el("p", { class: "simulated", text: "Données simulées pour ce territoire." }));

      // key figures
      var kf = p.chiffres_cles;
      if (kf.lignes.length) {
        var section = el("section", { "aria-labelledby": "h-chiffres" }, [el("h2", { id: "h-chiffres", text: "Chiffres clés" })]);
        var head = el("tr", {}, [el("th", { scope: "col", text: "Indicateur" }), el("th", { scope: "col", text: "Période" })]);
        kf.entetes.forEach(function (h) { head.appendChild(el("th", { scope: "col", text: h })); });
        var body = el("tbody");
        kf.lignes.forEach(function (r) {
          var tr = el("tr", {}, [el("th", { scope: "row", text: r.libelle }), el("td", { text: r.periode })]);
          var own = el("td", { class: "num own" }, [r.valeur]);
          if (r.evolution) {
            var sym = { hausse: "↗", baisse: "↘", stable: "→" }[r.evolution.sens];
            own.appendChild(el("span", { class: "arrow", title: r.evolution.texte }, [el("span", { "aria-hidden": "true", text: " " + sym }), el("span", { class: "sr", text: " (" + r.evolution.texte + ")" })]));
          }
          tr.appendChild(own);
          r.autres.forEach(function (v) { tr.appendChild(el("td", { class: "num", text: v })); });
          body.appendChild(tr);
        });
        section.appendChild(el("div", { class: "scroll" }, [el("table", { class: "data keyfigures" }, [el("caption", { text: "Chiffres clés de " + t.nom + " comparés à ses territoires de référence" }), el("thead", {}, [head]), body])]));
        kf.notes.forEach(function (n) { section.appendChild(el("p", { class: "note", text: n })); });
        box.appendChild(section);
      } else {
        box.appendChild(el("p", { text: "Aucun indicateur calculé pour ce territoire." }));
      }

      // chapters
      p.chapitres.forEach(function (c) {
        var section = el("section", { class: "chapter", "aria-labelledby": "h-" + c.id }, [el("h2", { id: "h-" + c.id, text: c.titre })]);
        if (c.commentaires.length) section.appendChild(el("div", { class: "comments" }, c.commentaires.map(function (s) { return el("p", { text: s }); })));
        var grid = el("div", { class: "charts" });
        section.appendChild(grid);
        c.graphiques.forEach(function (g) { chart(grid, g.spec, meta, g.alt); });
        if (c.carte && (t.niveau === "commune" || (p.membres.length > 1 && p.membres[0].niveau === "commune"))) {
          var mapBox = el("figure", { class: "mapbox small" });
          var mapDiv = el("div", { class: "map", role: "img" });
          var caption = el("figcaption");
          mapBox.appendChild(mapDiv); mapBox.appendChild(caption);
          section.appendChild(mapBox);
          memberMap(mapDiv, caption, p, c.carte, catalogue, meta);
        }
        var tab = c.tableau;
        if (tab.rows.length) {
          var head = el("tr", {}, [el("th", { scope: "col", text: "Indicateur" }), el("th", { scope: "col", text: "Période" })]);
          tab.header.forEach(function (h) { head.appendChild(el("th", { scope: "col", text: h })); });
          head.appendChild(el("th", { scope: "col", text: "Rang" }));
          var body = el("tbody");
          tab.rows.forEach(function (r) {
            var tr = el("tr", {}, [el("th", { scope: "row", text: r.label }), el("td", { text: r.period })]);
            r.cells.forEach(function (v) { tr.appendChild(el("td", { class: "num", text: v })); });
            tr.appendChild(el("td", { class: "num", text: r.rank }));
            body.appendChild(tr);
          });
          section.appendChild(el("div", { class: "scroll" }, [el("table", { class: "data" }, [el("caption", { text: c.titre + (tab.peers ? " — rang parmi " + tab.peers : "") }), el("thead", {}, [head]), body])]));
          tab.notes.forEach(function (n) { section.appendChild(el("p", { class: "note", text: n })); });
        }
        box.appendChild(section);
      });
      box.appendChild(el("section", { class: "sources", "aria-labelledby": "h-sources" }, [el("h2", { id: "h-sources", text: "Sources" }), el("ul", {}, p.sources.map(function (s) { return el("li", { text: s }); }))]));
    }).catch(function (e) { fail(box, e); });
  }

  function memberMap(mapDiv, caption, p, carte, catalogue, meta) {
    var ind = indicatorIndex(catalogue)[carte.indicateur];
    if (!ind) return;
    Promise.all([api("geometries/commune"), api("valeurs/" + ind.id + "/commune"), api("territoires")]).then(function (res) {
      var members = {};
      var own = p.territoire;
      var where = "";
      if (own.niveau === "commune") {
        // A commune among the communes of its EPCI (or of its département), outlined.
        var parent = p.parents[0];
        var entry = res[2].territoires.filter(function (x) { return x.niveau === parent.niveau && x.id === parent.id; })[0];
        ((entry && entry.communes) || [own.id]).forEach(function (code) { members[code] = true; });
        where = " — " + own.nom + " parmi les communes de " + parent.nom;
      } else {
        p.membres.forEach(function (m) { members[m.id] = true; });
      }
      var features = res[0].features.filter(function (f) { return members[f.properties.id]; });
      var vals = res[1];
      var period = vals.periodes[vals.periodes.length - 1];
      var pos = {};
      vals.territoires.forEach(function (id, i) { pos[id] = i; });
      var valueOf = function (f) {
        var i = pos[f.properties.id];
        var v = i === undefined ? null : vals.valeurs[period][i];
        var s = i === undefined ? null : vals.statuts[period][i];
        return { value: v, text: fmtValue(v, s, ind, meta) };
      };
      var title = ind.libelle + " (" + periodText(period) + ")" + where;
      mapDiv.setAttribute("aria-label", "Carte des communes : " + title);
      var res2 = choropleth(mapDiv, meta, features, valueOf, { scheme: carte.methode, k: carte.classes, decimals: ind.decimales, title: title, source: "Source : " + (vals.sources[period] || []).join(" ; "), outline: own.niveau === "commune" ? own.id : null });
      caption.appendChild(el("p", { class: "map-title", text: title }));
      var leg = el("div", { class: "legend" });
      caption.appendChild(leg);
      legend(leg, res2.classes, res2.palette, features.some(function (f) { return valueOf(f).value === null; }), "non diffusé ou manquant");
      caption.appendChild(el("p", { class: "source", text: "Source : " + (vals.sources[period] || []).join(" ; ") }));
    }).catch(function (e) { caption.appendChild(el("p", { class: "error", text: "Carte indisponible : " + e.message })); });
  }

  // ------------------------------------------------------------------ pages: explorer

  function explorer(meta) {
    var form = {
      theme: document.getElementById("theme"), indicator: document.getElementById("indicateur"),
      level: document.getElementById("niveau"), zone: document.getElementById("zone"),
      period: document.getElementById("periode"), scheme: document.getElementById("methode"),
      k: document.getElementById("classes"),
    };
    var mapDiv = document.getElementById("carte");
    Promise.all([api("indicateurs"), api("territoires")]).then(function (res) {
      var catalogue = res[0], index = res[1].territoires;
      var indicators = indicatorIndex(catalogue);
      var zones = index.filter(function (t) { return t.niveau === "custom" || t.niveau === "epci" || t.niveau === "departement"; });
      catalogue.themes.forEach(function (th) { form.theme.appendChild(el("option", { value: th.id, text: th.libelle })); });
      zones.forEach(function (z) { form.zone.appendChild(el("option", { value: z.niveau + "/" + z.id, text: z.nom })); });
      var wanted = param("indicateur");
      if (wanted && indicators[wanted]) form.theme.value = indicators[wanted].theme.id;
      var zoneParam = param("zone");
      var known = zones.some(function (z) { return z.niveau + "/" + z.id === zoneParam; });
      if (known) form.zone.value = zoneParam;
      else { var dep = zones.filter(function (z) { return z.niveau === "departement"; })[0]; if (dep) form.zone.value = "departement/" + dep.id; }
      function fillIndicators() {
        form.indicator.innerHTML = "";
        var theme = catalogue.themes.filter(function (th) { return th.id === form.theme.value; })[0];
        theme.indicateurs.forEach(function (i) {
          if (i.niveaux.indexOf("commune") >= 0 || i.niveaux.indexOf("epci") >= 0) form.indicator.appendChild(el("option", { value: i.id, text: i.libelle }));
        });
      }
      function fillPeriods() {
        var ind = indicators[form.indicator.value];
        form.period.innerHTML = "";
        ind.periodes.slice().reverse().forEach(function (p) { form.period.appendChild(el("option", { value: p, text: periodText(p) })); });
      }
      fillIndicators();
      if (wanted && indicators[wanted]) form.indicator.value = wanted;
      fillPeriods();
      form.theme.addEventListener("change", function () { fillIndicators(); fillPeriods(); draw(); });
      form.indicator.addEventListener("change", function () { fillPeriods(); draw(); });
      [form.level, form.zone, form.period, form.scheme, form.k].forEach(function (s) { s.addEventListener("change", draw); });
      var sortState = { key: "nom", dir: 1 };
      var current = null;
      function draw() {
        var ind = indicators[form.indicator.value];
        var level = form.level.value;
        var zone = index.filter(function (t) { return t.niveau + "/" + t.id === form.zone.value; })[0];
        Promise.all([api("geometries/" + level), api("valeurs/" + ind.id + "/" + level)]).then(function (r) {
          var geo = r[0], vals = r[1];
          var communes = {};
          (zone.communes || []).forEach(function (c) { communes[c] = true; });
          var features = geo.features.filter(function (f) {
            if (level === "commune") return communes[f.properties.id];
            var epci = index.filter(function (t) { return t.niveau === "epci" && t.id === f.properties.id; })[0];
            return epci && epci.communes.some(function (c) { return communes[c]; });
          });
          var period = form.period.value;
          var pos = {};
          vals.territoires.forEach(function (id, i) { pos[id] = i; });
          var column = vals.valeurs[period] || [], statuses = vals.statuts[period] || [];
          var rows = features.map(function (f) {
            var i = pos[f.properties.id];
            var v = i === undefined ? null : column[i];
            var s = i === undefined ? null : statuses[i];
            return { id: f.properties.id, nom: f.properties.nom, value: v === undefined ? null : v, status: s, text: fmtValue(v === undefined ? null : v, s, ind, meta) };
          });
          var byId = {};
          rows.forEach(function (row) { byId[row.id] = row; });
          var scopeText = level === "commune" ? "communes de " + zone.nom : "EPCI ayant des communes dans " + zone.nom;
          var title = ind.libelle + (ind.unite ? ", en " + ind.unite : "") + " (" + periodText(period) + ") — " + scopeText;
          var source = "Source : " + (vals.sources[period] || []).join(" ; ");
          document.getElementById("definition").textContent = ind.definition;
          var out = choropleth(mapDiv, meta, features, function (f) { return byId[f.properties.id]; }, {
            scheme: form.scheme.value, k: parseInt(form.k.value, 10), decimals: ind.decimales, title: title, source: source,
            onClick: function (f) { location.href = portraitHref(level, f.properties.id); },
          });
          var missing = rows.filter(function (row) { return row.value === null; }).length;
          legend(document.getElementById("legende"), out.classes, out.palette, missing > 0, "non diffusé ou manquant (" + missing + ")");
          document.getElementById("source-carte").textContent = source;
          mapDiv.setAttribute("aria-label", "Carte : " + title + ". " + out.classes.labels.length + " classes ; le tableau à côté donne chaque valeur.");
          mapDiv.setAttribute("data-classes", JSON.stringify(out.classes.bins));
          current = { ind: ind, rows: rows, title: title, source: source, period: period, level: level, zone: zone };
          renderTable();
          var url = "explorateur.html?indicateur=" + ind.id + "&zone=" + encodeURIComponent(form.zone.value);
          history.replaceState(null, "", url);
        }).catch(function (e) { document.getElementById("definition").textContent = "Erreur : " + e.message; });
      }
      function renderTable() {
        var table = document.getElementById("tableau");
        document.getElementById("tableau-titre").textContent = current.title;
        var thead = table.querySelector("thead"), tbody = table.querySelector("tbody");
        thead.innerHTML = ""; tbody.innerHTML = "";
        var cols = [["nom", "Territoire"], ["id", "Code"], ["value", "Valeur" + (current.ind.unite ? " (" + current.ind.unite + ")" : "")]];
        var tr = el("tr");
        cols.forEach(function (c) {
          var sorted = sortState.key === c[0];
          tr.appendChild(el("th", { scope: "col", "aria-sort": sorted ? (sortState.dir > 0 ? "ascending" : "descending") : "none" }, [
            el("button", { type: "button", class: "sort", "data-key": c[0], onclick: function () {
              sortState = { key: c[0], dir: sortState.key === c[0] ? -sortState.dir : (c[0] === "value" ? -1 : 1) };
              renderTable();
            } }, [c[1]]),
          ]));
        });
        thead.appendChild(tr);
        var rows = current.rows.slice().sort(function (a, b) {
          var x = a[sortState.key], y = b[sortState.key];
          if (x === null && y === null) return 0;
          if (x === null) return 1; if (y === null) return -1;
          if (typeof x === "number") return (x - y) * sortState.dir;
          return String(x).localeCompare(String(y), "fr") * sortState.dir;
        });
        rows.forEach(function (row) {
          tbody.appendChild(el("tr", {}, [
            el("th", { scope: "row" }, [el("a", { href: portraitHref(current.level, row.id), text: row.nom })]),
            el("td", { text: row.id }), el("td", { class: "num", text: row.text }),
          ]));
        });
      }
      function exportRows() {
        var rows = [["Territoire", "Code", current.ind.libelle + " (" + current.period + ")", "Unité", "Statut"]];
        current.rows.forEach(function (row) { rows.push([row.nom, row.id, row.value, current.ind.unite, statusWord(row.value, row.status)]); });
        rows.push([]); rows.push([current.source]);
        return rows;
      }
      var base = function () { return current.ind.id + "-" + current.level + "-" + current.period; };
      document.getElementById("export-csv").addEventListener("click", function () { if (current) X.download(base() + ".csv", X.csv(exportRows())); });
      document.getElementById("export-xlsx").addEventListener("click", function () { if (current) X.download(base() + ".xlsx", X.workbook([{ name: current.ind.libelle, rows: exportRows() }])); });
      document.getElementById("export-png").addEventListener("click", function () { if (current && mapDiv._state) mapPng(mapDiv, base() + ".png"); });
      draw();
    }).catch(function (e) { fail(document.getElementById("contenu"), e); });
  }

  // ------------------------------------------------------------------ pages: comparison

  function compare(meta) {
    var chosen = [];
    var reference = document.getElementById("reference");
    var themeSelect = document.getElementById("theme-comparaison");
    Promise.all([api("territoires"), api("indicateurs")]).then(function (res) {
      var index = res[0].territoires, catalogue = res[1];
      index.filter(function (t) { return t.niveau !== "commune"; }).forEach(function (t) {
        reference.appendChild(el("option", { value: t.niveau + "/" + t.id, text: t.nom }));
      });
      if (meta.references.length) reference.value = meta.references[0].niveau + "/" + meta.references[0].id;
      catalogue.themes.forEach(function (th) { themeSelect.appendChild(el("option", { value: th.id, text: th.libelle })); });
      (param("t") || "").split(",").filter(Boolean).forEach(function (key) {
        var t = index.filter(function (x) { return x.niveau + "/" + x.id === key; })[0];
        if (t && chosen.length < 6) chosen.push(t);
      });
      if (param("ref")) reference.value = param("ref");
      searchBox(document.getElementById("ajout"), document.getElementById("suggestions-ajout"), index, function (t) {
        if (chosen.length >= 6) { alert("Six territoires au plus : retirez-en un d'abord."); return; }
        if (!chosen.some(function (x) { return x.niveau === t.niveau && x.id === t.id; })) chosen.push(t);
        document.getElementById("ajout").value = "";
        render();
      });
      reference.addEventListener("change", render);
      themeSelect.addEventListener("change", render);
      var table = null;
      function render() {
        var chips = document.getElementById("choisis");
        chips.innerHTML = "";
        chosen.forEach(function (t, i) {
          chips.appendChild(el("li", {}, [t.nom, el("button", { type: "button", "aria-label": "Retirer " + t.nom, onclick: function () { chosen.splice(i, 1); render(); } }, ["×"])]));
        });
        history.replaceState(null, "", "comparer.html?t=" + chosen.map(function (t) { return encodeURIComponent(t.niveau + "/" + t.id); }).join(",") + "&ref=" + encodeURIComponent(reference.value));
        var refKey = reference.value.split("/");
        var all = chosen.concat([{ niveau: refKey[0], id: refKey[1] }]);
        Promise.all(all.map(function (t) { return api("territoires/" + t.niveau + "/" + t.id); })).then(function (portraits) {
          var theme = catalogue.themes.filter(function (th) { return th.id === themeSelect.value; })[0];
          var ref = portraits[portraits.length - 1];
          var thead = document.querySelector("#comparaison thead"), tbody = document.querySelector("#comparaison tbody");
          thead.innerHTML = ""; tbody.innerHTML = "";
          var head = el("tr", {}, [el("th", { scope: "col", text: "Indicateur" }), el("th", { scope: "col", text: "Période" })]);
          portraits.forEach(function (p, i) { head.appendChild(el("th", { scope: "col", class: i === portraits.length - 1 ? "reference" : null, text: p.territoire.nom + (i === portraits.length - 1 ? " (référence)" : "") })); });
          thead.appendChild(head);
          table = [["Indicateur", "Unité", "Période"].concat(portraits.map(function (p, i) { return p.territoire.nom + (i === portraits.length - 1 ? " (référence)" : ""); }))];
          theme.indicateurs.forEach(function (ind) {
            var lastOf = function (p) {
              var rows = (p.valeurs[ind.id] || []).filter(function (r) { return r[1] !== null; });
              return rows.length ? rows[rows.length - 1][0] : null;
            };
            var period = lastOf(ref) || portraits.map(lastOf).filter(Boolean).sort().pop();
            if (!period) return;
            var inline = ind.unite === "%" || ind.unite === "%/an" || ind.unite === "‰";
            var label = ind.libelle + (ind.unite && !inline ? " (" + ind.unite + ")" : "");
            var tr = el("tr", {}, [el("th", { scope: "row", text: label }), el("td", { text: periodText(period) })]);
            var line = [ind.libelle, ind.unite, period];
            var refRow = (ref.valeurs[ind.id] || []).filter(function (r) { return r[0] === period; })[0];
            portraits.forEach(function (p, i) {
              var row = (p.valeurs[ind.id] || []).filter(function (r) { return r[0] === period; })[0];
              var v = row ? row[1] : null, s = row ? row[2] : "missing";
              var text = fmtValue(v, s, ind, meta);
              var points = ind.unite === "%" || ind.unite === "%/an" || ind.unite === "‰";
              if (i < portraits.length - 1 && points && v !== null && refRow && refRow[1] !== null) {
                var gap = v - refRow[1];
                text += " (" + (gap >= 0 ? "+" : "−") + C.frNumber(Math.abs(gap), ind.decimales) + "\u00a0pt)";
              }
              tr.appendChild(el("td", { class: "num", text: text }));
              line.push(v !== null ? v : fmtValue(v, s, ind, meta));
            });
            tbody.appendChild(tr);
            table.push(line);
          });
        }).catch(function (e) { fail(document.getElementById("comparaison").parentNode, e); });
      }
      document.getElementById("export-comparaison").addEventListener("click", function () {
        if (table) X.download("comparaison.xlsx", X.workbook([{ name: "Comparaison", rows: table }]));
      });
      render();
    }).catch(function (e) { fail(document.getElementById("contenu"), e); });
  }

  // ------------------------------------------------------------------ start

  api("meta").then(function (meta) {
    window.OBS_META = meta;
    if (page === "accueil") home(meta);
    else if (page === "territoire") portraitPage(meta);
    else if (page === "explorateur") explorer(meta);
    else if (page === "comparer") compare(meta);
  }).catch(function (e) { fail(document.getElementById("contenu"), e); });
})();
