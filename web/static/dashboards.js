/* anbu operator dashboards: draws the page's embedded data with the vendored uPlot.
 * Every chart is kept in window.anbuCharts (name -> uPlot) so tests and people can
 * inspect exactly what is drawn. Times are shown in Asia/Seoul. */
(function () {
  "use strict";
  var el = document.getElementById("page-data");
  if (!el || typeof uPlot === "undefined") { return; }
  var data = JSON.parse(el.textContent);
  var lang = document.body.getAttribute("data-lang") || "ko";
  var charts = {};
  window.anbuCharts = charts;
  var KIND_COLORS = {
    motion: "#2f7ed8", door: "#8e44ad", contact: "#16a085", presence: "#d35400",
    power: "#c0392b", "switch": "#7f8c8d", robot: "#27ae60", checkin_answer: "#f39c12"
  };
  var SEV_COLORS = { critical: "#c0392b", high: "#e67e22", warning: "#f1c40f", info: "#3498db" };
  /* Activity kinds in the page's language, from the one table of words (anbu/i18n.toml). */
  var KIND_NAMES = JSON.parse(document.getElementById("page-words").textContent).event_kind;
  function kindName(k) { return KIND_NAMES[k] || k; }
  function seoul(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Asia/Seoul"); }
  function width(node) { return Math.max(300, (node.clientWidth || 600) - 8); }
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  var KO = lang === "ko";

  /* Dates in Seoul, 24-hour clock, in the page's language (uPlot's own labels are English
   * and 12-hour: "11pm", "Time"). */
  function dayText(d) {
    return KO ? (d.getMonth() + 1) + "월 " + d.getDate() + "일" : (d.getMonth() + 1) + "/" + d.getDate();
  }
  function clockText(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
  function fullText(ts) {
    var d = seoul(ts);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clockText(d);
  }
  function timeTicks(u, splits, axisIdx, space, incr) {
    return splits.map(function (ts, i) {
      var d = seoul(ts);
      if (incr >= 86400) { return dayText(d); }
      var first = i === 0 || (d.getHours() === 0 && d.getMinutes() === 0);
      return first ? clockText(d) + "\n" + dayText(d) : clockText(d);
    });
  }
  /* As many decimals as the tick step needs, never a locale's "0,000" for 0.000. */
  function numberTicks(u, splits, axisIdx, space, incr) {
    var decimals = incr >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(incr) - 1e-9));
    return splits.map(function (v) { return v.toFixed(decimals); });
  }
  var COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
  /* A value axis titled with its unit; counts get whole-number steps only. */
  function valueAxis(unit, counts) {
    var axis = { size: 60, label: unit, labelSize: 20, values: numberTicks };
    if (counts) { axis.incrs = COUNT_INCRS; }
    return axis;
  }
  var TIME_AXIS = { values: timeTicks, size: 50 };
  var UNIT = KO
    ? { perS: "건/초", alerts: "건 (알림)", msgs: "건 (메시지/단계)", events: "건", devices: "대 (기기)" }
    : { perS: "events/s", alerts: "alerts", msgs: "messages per step", events: "events", devices: "devices" };

  function make(name, node, series, columns, opts) {
    if (!node) { return null; }
    var notTime = !!(opts && opts.notTime);
    var fractional = !!(opts && opts.fractional);
    var base = {
      width: width(node), height: (opts && opts.height) || 220, tzDate: seoul,
      legend: { show: !(opts && opts.noLegend) },
      scales: {
        x: { time: !notTime },
        y: { range: function (u, lo, hi) { return [0, fractional && hi > 0 ? hi * 1.15 : Math.max(1, hi * 1.1)]; } }
      },
      axes: [notTime ? ((opts && opts.xAxis) || {}) : TIME_AXIS, valueAxis(opts && opts.unit, !fractional)],
      series: [notTime ? ((opts && opts.xSeries) || {}) : { label: KO ? "시각 (서울)" : "Time (Seoul)", value: function (u, ts) { return ts == null ? "-" : fullText(ts); } }].concat(series),
      hooks: (opts && opts.hooks) || {}
    };
    var chart = new uPlot(base, columns, node);
    charts[name] = chart;
    return chart;
  }

  function bars(color, label) {
    return { label: label, stroke: color, fill: color + "99", width: 1, paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } };
  }

  function line(color, label) {
    return { label: label, stroke: color, width: 2, fill: color + "22", points: { show: false } };
  }

  /* Vertical marks at alert times, coloured by severity, on top of a household timeline. */
  function alertMarks(alerts) {
    return [function (u) {
      var ctx = u.ctx;
      ctx.save();
      alerts.forEach(function (a) {
        var x = Math.round(u.valToPos(a.t, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
        ctx.strokeStyle = SEV_COLORS[a.severity] || "#555";
        ctx.lineWidth = a.state === "open" ? 3 : 1.5;
        ctx.setLineDash(a.state === "open" ? [] : [4, 3]);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      });
      ctx.restore();
    }];
  }

  if (data.events_rate) {
    make("events_rate", document.getElementById("chart-rate"),
      [line("#2f7ed8", lang === "ko" ? "초당 이벤트" : "events/s")],
      [data.events_rate.t, data.events_rate.rate], { unit: UNIT.perS, fractional: true });
    var apd = data.alerts_per_day;
    var sevs = Object.keys(apd.series);
    var total = apd.t.map(function (_, i) {
      return sevs.reduce(function (s, k) { return s + apd.series[k][i]; }, 0);
    });
    make("alerts_per_day", document.getElementById("chart-alerts-day"),
      [bars("#c0392b", lang === "ko" ? "신규 알림" : "new alerts")], [apd.t, total], { unit: UNIT.alerts });
    var ing = data.ingest;
    var outcomes = Object.keys(ing.series);
    if (outcomes.length) {
      var palette = ["#f39c12", "#8e44ad", "#7f8c8d", "#2f7ed8"];
      var OUTCOME_COLORS = { ok: "#27ae60", deadletter: "#c0392b" };
      var OUTCOME_KO = { ok: "정상 처리", deadletter: "격리 (dead-letter)" };
      make("ingest", document.getElementById("chart-ingest"),
        outcomes.map(function (o, i) { return line(OUTCOME_COLORS[o] || palette[i % palette.length], KO ? (OUTCOME_KO[o] || o) : o); }),
        [ing.t].concat(outcomes.map(function (o) { return ing.series[o]; })), { unit: UNIT.msgs });
    }
  }

  if (data.activity) {
    var box = document.getElementById("timelines");
    var act = data.activity;
    var marks = data.alerts || [];
    Object.keys(act.series).forEach(function (kind) {
      var row = document.createElement("div");
      row.className = "timeline";
      row.setAttribute("data-kind", kind);
      var title = document.createElement("h3");
      title.textContent = kindName(kind);
      row.appendChild(title);
      var node = document.createElement("div");
      node.className = "chart";
      row.appendChild(node);
      box.appendChild(row);
      make("activity_" + kind, node, [bars(KIND_COLORS[kind] || "#555", kindName(kind))],
        [act.t, act.series[kind]], { height: 120, noLegend: true, unit: UNIT.events, hooks: { draw: alertMarks(marks) } });
    });
  }

  if (data.summary && data.summary.battery) {
    /* Every device's battery by decile, from the newest snapshot's summary. */
    var bins = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90];
    var counts = data.summary.battery;
    make("battery", document.getElementById("chart-battery"),
      [bars("#f39c12", lang === "ko" ? "기기 수" : "devices")], [bins, counts],
      { notTime: true, height: 180, unit: UNIT.devices,
        xSeries: { label: KO ? "배터리" : "Battery", value: function (u, v) { return v == null ? "-" : v + "-" + (v + 9) + "%"; } },
        xAxis: { incrs: [10], values: function (u, v) { return v.map(function (x) { return x + "-" + (x + 9) + "%"; }); } } });
  }
})();
