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
  var KIND_NAMES_KO = {
    motion: "동작", door: "현관문", contact: "문/창 열림", presence: "재실(침대)",
    power: "전력 변화", "switch": "전원 켜고 끔", robot: "돌봄로봇", checkin_answer: "안부 응답"
  };
  function kindName(k) { return lang === "ko" ? (KIND_NAMES_KO[k] || k) : k; }
  function seoul(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Asia/Seoul"); }
  function width(node) { return Math.max(300, (node.clientWidth || 600) - 8); }

  function make(name, node, series, columns, opts) {
    if (!node) { return null; }
    var base = {
      width: width(node), height: (opts && opts.height) || 220, tzDate: seoul,
      legend: { show: !(opts && opts.noLegend) },
      scales: { x: { time: !(opts && opts.notTime) }, y: { range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.1)]; } } },
      axes: (opts && opts.axes) || [{}, { size: 50 }],
      series: [{}].concat(series),
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
      [data.events_rate.t, data.events_rate.rate]);
    var apd = data.alerts_per_day;
    var sevs = Object.keys(apd.series);
    var total = apd.t.map(function (_, i) {
      return sevs.reduce(function (s, k) { return s + apd.series[k][i]; }, 0);
    });
    make("alerts_per_day", document.getElementById("chart-alerts-day"),
      [bars("#c0392b", lang === "ko" ? "신규 알림" : "new alerts")], [apd.t, total]);
    var ing = data.ingest;
    var outcomes = Object.keys(ing.series);
    if (outcomes.length) {
      var palette = ["#f39c12", "#8e44ad", "#7f8c8d", "#2f7ed8"];
      var OUTCOME_COLORS = { ok: "#27ae60", deadletter: "#c0392b" };
      make("ingest", document.getElementById("chart-ingest"),
        outcomes.map(function (o, i) { return line(OUTCOME_COLORS[o] || palette[i % palette.length], o); }),
        [ing.t].concat(outcomes.map(function (o) { return ing.series[o]; })));
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
        [act.t, act.series[kind]], { height: 110, noLegend: true, hooks: { draw: alertMarks(marks) } });
    });
  }

  if (data.summary && data.summary.battery) {
    /* Every device's battery by decile, from the newest snapshot's summary. */
    var bins = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90];
    var counts = data.summary.battery;
    make("battery", document.getElementById("chart-battery"),
      [bars("#f39c12", lang === "ko" ? "기기 수" : "devices")], [bins, counts],
      { notTime: true, height: 160, axes: [{ incrs: [10], values: function (u, v) { return v.map(function (x) { return x + "-" + (x + 9) + "%"; }); } }, { size: 50 }] });
  }
})();
