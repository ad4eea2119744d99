/*
 * Classification of a series of values for choropleth maps, in the browser.
 *
 * An exact port of observatoire.publish.maps.classify and Classification.assign, and of
 * observatoire.publish.fmt.fr_number: the same bounds, counts and French legend labels as the
 * maps of the PDF report, computed with the same floating-point operations in the same order
 * (NumPy's linear percentiles, pairwise sum for the mean, sequential cumulative sums, first
 * index of the minimum, round-half-even of numpy.round).
 *
 * Plain script, no module: it defines window.ObsClassify = {classify, assign, frNumber, SCHEMES}.
 *
 *   ObsClassify.classify(values, scheme = "quantiles", k = 5, decimals = 1)
 *     -> {scheme, bins, lower, labels, counts, decimals}
 *   ObsClassify.assign(classification, value) -> class index, or -1
 *   ObsClassify.frNumber(value, decimals = 0) -> "1 234,5" (U+202F, comma, U+2212 minus)
 */
(function (global) {
  "use strict";

  var SCHEMES = Object.freeze({
    quantiles: "quantiles",
    jenks: "seuils naturels de Fisher-Jenks",
    equal_interval: "intervalles égaux",
    natural_breaks: "seuils naturels par k-moyennes",
  });

  var JENKS_MAX_POINTS = 2000; // above this many distinct values, Fisher-Jenks runs on a sample

  var NNBSP = "\u202f"; // thousands separator
  var MINUS = "\u2212";
  var MISSING = "\u2014"; // em dash
  var DECIMAL_PRECISION = 28; // digits of Python's default decimal context

  // ------------------------------------------------------------------ French numbers

  /* A value as Python's fmt.is_missing / float() see it: a finite number, a BigInt, or null. */
  function toNumber(value) {
    if (value === null || value === undefined) return null;
    if (typeof value === "bigint") return value;
    if (typeof value === "boolean") return value ? 1 : 0;
    if (typeof value === "number") return Number.isFinite(value) ? value : null;
    if (typeof value === "string") {
      var text = value.trim();
      if (!text) return null;
      var parsed = Number(text);
      return Number.isFinite(parsed) ? parsed : null;
    }
    return null;
  }

  /* |x| = mantissa * 2^exponent exactly (x finite, non-zero). */
  function exactParts(x) {
    var view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    var high = view.getUint32(0);
    var low = view.getUint32(4);
    var biased = (high >>> 20) & 0x7ff;
    var mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
    if (biased === 0) return [mantissa, -1074]; // subnormal
    return [mantissa | (1n << 52n), biased - 1075];
  }

  /* round(|x| * 10^decimals), half away from zero, on the exact binary value of x. */
  function scaledAbs(x, decimals) {
    if (x === 0) return 0n;
    var parts = exactParts(x);
    var power = 10n ** BigInt(decimals);
    if (parts[1] >= 0) return (parts[0] << BigInt(parts[1])) * power;
    var numerator = parts[0] * power;
    var denominator = 1n << BigInt(-parts[1]);
    var quotient = numerator / denominator;
    var remainder = numerator - quotient * denominator;
    return 2n * remainder >= denominator ? quotient + 1n : quotient;
  }

  function groupThousands(digits) {
    var out = "";
    for (var end = digits.length; end > 0; end -= 3) {
      var start = Math.max(0, end - 3);
      out = digits.slice(start, end) + (out ? NNBSP + out : "");
    }
    return out;
  }

  /* A non-negative BigInt rounded to `precision` significant digits, half to even. */
  function roundSignificant(integer, precision) {
    var text = integer.toString();
    if (text.length <= precision) return text;
    var unit = 10n ** BigInt(text.length - precision);
    var quotient = integer / unit;
    var twice = 2n * (integer - quotient * unit);
    if (twice > unit || (twice === unit && quotient % 2n === 1n)) quotient += 1n;
    return (quotient * unit).toString();
  }

  /* fmt.fr_number: 1234.5 -> "1 234,5"; null, NaN, infinite -> "—". */
  function frNumber(value, decimals) {
    var number = toNumber(value);
    if (number === null) return MISSING;
    decimals = Math.max(Math.trunc(Number(decimals === undefined ? 0 : decimals)) || 0, 0);
    var negative = number < 0;
    var magnitude = typeof number === "bigint" ? (negative ? -number : number) : Math.abs(number);
    // the rounded absolute value times 10^decimals, as decimal digits
    var digits = (
      typeof magnitude === "bigint"
        ? magnitude * 10n ** BigInt(decimals)
        : scaledAbs(magnitude, decimals)
    ).toString();
    if (digits.length > DECIMAL_PRECISION) {
      // Python's Decimal.quantize overflows its 28 digits: the value is rounded to an integer
      // (half up), then abs() rounds it to 28 significant digits (half even)
      var integer = typeof magnitude === "bigint" ? magnitude : scaledAbs(magnitude, 0);
      digits = roundSignificant(integer, DECIMAL_PRECISION) + "0".repeat(decimals);
    }
    negative = negative && /[1-9]/.test(digits); // "-0,0" after rounding is written "0,0"
    if (digits.length <= decimals) digits = "0".repeat(decimals - digits.length + 1) + digits;
    var whole = digits.slice(0, digits.length - decimals);
    var text = groupThousands(whole) + (decimals > 0 ? "," + digits.slice(whole.length) : "");
    return negative ? MINUS + text : text;
  }

  // ------------------------------------------------------------------ NumPy primitives

  function byValue(a, b) {
    return a - b;
  }

  /* numpy.searchsorted on a sorted array: side "left" counts a < key, "right" a <= key. */
  function searchSorted(sorted, key, right) {
    var low = 0;
    var high = sorted.length;
    while (low < high) {
      var mid = low + ((high - low) >> 1);
      if (right ? sorted[mid] <= key : sorted[mid] < key) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /* numpy.unique of numbers: sorted, equal values once. */
  function unique(values) {
    var sorted = Float64Array.from(values).sort();
    var out = [];
    for (var i = 0; i < sorted.length; i++) {
      if (i === 0 || sorted[i] !== sorted[i - 1]) out.push(sorted[i]);
    }
    return out;
  }

  /* numpy's pairwise summation of float64 (np.add.reduce, np.mean). */
  function pairwiseSum(a, start, n) {
    var i;
    if (n < 8) {
      var res = -0.0;
      for (i = 0; i < n; i++) res += a[start + i];
      return res;
    }
    if (n <= 128) {
      var r = [];
      for (i = 0; i < 8; i++) r.push(a[start + i]);
      for (i = 8; i < n - (n % 8); i += 8) {
        for (var j = 0; j < 8; j++) r[j] += a[start + i + j];
      }
      var total = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
      for (; i < n; i++) total += a[start + i];
      return total;
    }
    var half = Math.floor(n / 2);
    half -= half % 8;
    return pairwiseSum(a, start, half) + pairwiseSum(a, start + half, n - half);
  }

  /* numpy.round: half to even (x >= 0). */
  function roundHalfEven(x) {
    var floor = Math.floor(x);
    var fraction = x - floor;
    if (fraction < 0.5) return floor;
    if (fraction > 0.5) return floor + 1;
    return floor % 2 === 0 ? floor : floor + 1;
  }

  /* numpy.linspace(start, stop, num) with endpoint. */
  function linspace(start, stop, num) {
    var out = new Float64Array(num);
    var div = num - 1;
    var delta = stop - start;
    var step = delta / div;
    for (var i = 0; i < num; i++) {
      out[i] = (step === 0 ? (i / div) * delta : i * step) + start;
    }
    if (num > 1) out[num - 1] = stop;
    return out;
  }

  /* numpy.quantile(sorted, q), method "linear" (sorted: finite values, ascending). */
  function quantile(sorted, q) {
    var n = sorted.length;
    var virtual = (n - 1) * q;
    var previous = Math.floor(virtual);
    var next = previous + 1;
    if (virtual >= n - 1) {
      previous = -1;
      next = -1;
    }
    if (virtual < 0) {
      previous = 0;
      next = 0;
    }
    var gamma = virtual - previous;
    var a = sorted[previous < 0 ? n + previous : previous];
    var b = sorted[next < 0 ? n + next : next];
    var diff = b - a;
    return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
  }

  // ------------------------------------------------------------------ classification

  function inputError(message) {
    var error = new Error(message);
    error.name = "InputError";
    return error;
  }

  function finiteSorted(values) {
    if (values === null || values === undefined) values = [];
    if (typeof values === "number") values = [values];
    var out = [];
    for (var i = 0; i < values.length; i++) {
      var value = values[i];
      if (value === null || value === undefined) continue;
      var number = typeof value === "number" ? value : Number(value);
      if (typeof value === "string" && /^\s*[+-]?(nan|inf|infinity)\s*$/i.test(value)) continue;
      if (typeof value === "string" && (Number.isNaN(number) || !value.trim())) {
        throw inputError("valeurs non numériques à cartographier : « " + value + " ».");
      }
      if (Number.isFinite(number)) out.push(number);
    }
    return Float64Array.from(out).sort();
  }

  /* Number of values per class: class i holds (bins[i-1], bins[i]]. */
  function countsOf(sorted, bins) {
    var counts = [];
    var previous = 0;
    for (var i = 0; i < bins.length; i++) {
      var edge = searchSorted(sorted, bins[i], true);
      counts.push(edge - previous);
      previous = edge;
    }
    return counts;
  }

  function labelsOf(lower, bins, decimals) {
    var labels = [];
    for (var i = 0; i < bins.length; i++) {
      var start = frNumber(i === 0 ? lower : bins[i - 1], decimals);
      labels.push("de " + start + " à " + frNumber(bins[i], decimals));
    }
    return labels;
  }

  /* Upper bounds of the k classes minimising the within-class sum of squared deviations. */
  function fisherJenks(data, distinct, k) {
    var points;
    var weights;
    if (distinct.length > JENKS_MAX_POINTS) {
      var ranks = linspace(0, data.length - 1, JENKS_MAX_POINTS);
      var sample = new Float64Array(JENKS_MAX_POINTS);
      for (var r = 0; r < JENKS_MAX_POINTS; r++) sample[r] = data[roundHalfEven(ranks[r])];
      sample.sort();
      points = [];
      weights = [];
      for (var s = 0; s < sample.length; s++) {
        if (s > 0 && sample[s] === sample[s - 1]) weights[weights.length - 1] += 1;
        else {
          points.push(sample[s]);
          weights.push(1);
        }
      }
    } else {
      points = distinct;
      weights = [];
      var before = 0;
      for (var d = 0; d < distinct.length; d++) {
        var upTo = searchSorted(data, distinct[d], true);
        weights.push(upTo - before);
        before = upTo;
      }
    }
    var n = points.length;
    var mean = pairwiseSum(points, 0, n) / n;
    var w = new Float64Array(n + 1);
    var s1 = new Float64Array(n + 1);
    var s2 = new Float64Array(n + 1);
    for (var i = 0; i < n; i++) {
      var centred = points[i] - mean; // limits cancellation in the sums of squares
      var weighted = weights[i] * centred;
      // numpy.cumsum: the first sum is the first term itself
      w[i + 1] = i === 0 ? weights[0] : w[i] + weights[i];
      s1[i + 1] = i === 0 ? weighted : s1[i] + weighted;
      s2[i + 1] = i === 0 ? weighted * centred : s2[i] + weighted * centred;
    }
    function cost(a, b) {
      // sum of squared deviations of points a..b (inclusive), a <= b
      var sums = s1[b + 1] - s1[a];
      return Math.max(s2[b + 1] - s2[a] - (sums * sums) / (w[b + 1] - w[a]), 0.0);
    }
    var best = new Float64Array(n); // best[j]: optimum of points 0..j in the current classes
    for (var j0 = 0; j0 < n; j0++) best[j0] = cost(0, j0);
    var starts = []; // starts[c][j]: first point of the last class in that optimum
    for (var c = 1; c < k; c++) {
      var start = new Int32Array(n);
      var next = new Float64Array(n);
      for (var j = 0; j < n; j++) {
        // numpy.argmin over i of previous[i] + cost[i, j] (cost is +inf when i > j)
        var bestIndex = 0;
        var bestValue = Infinity + cost(0, j); // previous[0] is +inf
        for (var a = 1; a <= j && !Number.isNaN(bestValue); a++) {
          var total = best[a - 1] + cost(a, j);
          if (total < bestValue || Number.isNaN(total)) {
            bestValue = total;
            bestIndex = a;
          }
        }
        start[j] = bestIndex;
        next[j] = bestValue;
      }
      best = next;
      starts.push(start);
    }
    var uppers = [n - 1];
    var end = n - 1;
    for (var t = starts.length - 1; t >= 0; t--) {
      end = starts[t][end < 0 ? n + end : end] - 1;
      uppers.push(end);
    }
    uppers.sort(byValue);
    return uppers.map(function (index) {
      return points[index < 0 ? n + index : index];
    });
  }

  /* One-dimensional k-means (Lloyd) started from the centres of the quantile classes. */
  function kmeansBreaks(data, k) {
    var qs = linspace(0, 1, k + 1);
    var quantileBins = [];
    for (var q = 0; q < qs.length; q++) quantileBins.push(quantile(data, qs[q]));
    var centres = [];
    for (var c = 0; c < k; c++) centres.push((quantileBins[c] + quantileBins[c + 1]) / 2);
    var maxAbs = 0;
    for (var m = 0; m < data.length; m++) maxAbs = Math.max(maxAbs, Math.abs(data[m]));
    var atol = 1e-12 * Math.max(1.0, maxAbs);
    function cutsOf(centresNow) {
      var cuts = [];
      for (var i = 0; i + 1 < centresNow.length; i++) {
        cuts.push((centresNow[i] + centresNow[i + 1]) / 2);
      }
      return cuts;
    }
    for (var iteration = 0; iteration < 100; iteration++) {
      centres = unique(centres);
      var cuts = cutsOf(centres);
      var sums = new Float64Array(centres.length);
      var sizes = new Float64Array(centres.length);
      for (var d = 0; d < data.length; d++) {
        var label = searchSorted(cuts, data[d], true);
        sums[label] += data[d];
        sizes[label] += 1;
      }
      var fresh = [];
      var close = true;
      for (var e = 0; e < centres.length; e++) {
        fresh.push(sizes[e] > 0 ? sums[e] / Math.max(sizes[e], 1) : centres[e]);
        if (!(Math.abs(fresh[e] - centres[e]) <= atol)) close = false;
      }
      if (close) break;
      centres = fresh;
    }
    var finalCuts = cutsOf(centres);
    var maxima = new Map();
    for (var f = 0; f < data.length; f++) {
      var index = searchSorted(finalCuts, data[f], true);
      if (!maxima.has(index) || data[f] > maxima.get(index)) maxima.set(index, data[f]);
    }
    return Array.from(maxima.keys())
      .sort(byValue)
      .map(function (index) {
        return maxima.get(index);
      });
  }

  /*
   * Cut values into at most k classes with the scheme named `scheme` (see SCHEMES), exactly as
   * observatoire.publish.maps.classify. `decimals` (a number, or {decimals}) is the number of
   * decimals of the legend labels. Returns {scheme, bins, lower, labels, counts, decimals}.
   */
  function classify(values, scheme, k, decimals) {
    if (scheme === undefined) scheme = "quantiles";
    if (k === undefined) k = 5;
    if (decimals !== null && typeof decimals === "object") decimals = decimals.decimals;
    if (decimals === undefined) decimals = 1;
    if (!Object.prototype.hasOwnProperty.call(SCHEMES, scheme)) {
      var valid = Object.keys(SCHEMES)
        .map(function (name) {
          return "« " + name + " »";
        })
        .join(", ");
      throw inputError(
        "méthode de discrétisation inconnue « " + scheme + " » : méthodes valides " + valid + "."
      );
    }
    if (typeof k !== "number" || !Number.isInteger(k) || k < 1) {
      throw inputError(
        "nombre de classes invalide « " +
          k +
          " » : un entier supérieur ou égal à 1 est attendu."
      );
    }
    decimals = Math.max(Math.trunc(Number(decimals)) || 0, 0);
    var data = finiteSorted(values);
    if (data.length === 0) {
      return { scheme: scheme, bins: [], lower: NaN, labels: [], counts: [], decimals: decimals };
    }
    var distinct = unique(data);
    k = Math.min(k, distinct.length);
    var lower = data[0];
    var upper = data[data.length - 1];
    var oneValuePerClass = k === distinct.length && (k === 1 || scheme !== "equal_interval");
    var bins;
    if (oneValuePerClass) {
      bins = distinct.slice();
    } else if (scheme === "quantiles") {
      bins = [];
      for (var i = 1; i <= k; i++) bins.push(quantile(data, (100.0 * i) / k / 100));
    } else if (scheme === "jenks") {
      bins = fisherJenks(data, distinct, k);
    } else if (scheme === "equal_interval") {
      bins = [];
      for (var e = 1; e < k; e++) bins.push(lower + ((upper - lower) * e) / k);
      bins.push(upper);
    } else {
      bins = kmeansBreaks(data, k);
    }
    bins = unique(
      bins
        .map(function (b) {
          return Math.min(b, upper);
        })
        .concat([upper])
    );
    var counts = countsOf(data, bins);
    if (scheme !== "equal_interval" && counts.indexOf(0) >= 0) {
      bins = bins.filter(function (_, index) {
        return counts[index] > 0;
      });
      counts = countsOf(data, bins);
    }
    var labels = oneValuePerClass
      ? bins.map(function (b) {
          return frNumber(b, decimals);
        })
      : labelsOf(lower, bins, decimals);
    return {
      scheme: scheme,
      bins: bins,
      lower: lower,
      labels: labels,
      counts: counts,
      decimals: decimals,
    };
  }

  /*
   * Class index of a value (-1 for null, NaN or a value outside [lower, bins[last]]), as
   * Classification.assign; an array (or typed array) of values gives an array of indexes.
   */
  function assign(classification, value) {
    if (value !== null && typeof value === "object" && typeof value.length === "number") {
      return Array.prototype.map.call(value, function (item) {
        return assign(classification, item);
      });
    }
    var bins = classification.bins;
    if (!bins || bins.length === 0 || value === null || value === undefined) return -1;
    var number = Number(value);
    if (Number.isNaN(number) || number < classification.lower) return -1;
    var index = searchSorted(bins, number, false);
    return index >= bins.length ? -1 : index;
  }

  global.ObsClassify = Object.freeze({
    classify: classify,
    assign: assign,
    frNumber: frNumber,
    SCHEMES: SCHEMES,
  });
})(typeof window !== "undefined" ? window : globalThis);
