// The statistics page's weekly trend, drawn by the vendored ECharts from the figures the page already holds
// (#trend-data, the same as the table beside the chart). Without JavaScript, or in print, the table stands alone.
(function () {
  "use strict";
  function draw() {
    var box = document.getElementById("chart-trend");
    var source = document.getElementById("trend-data");
    if (!box || !source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var font = 14;
    // ECharts measures its text with this family: the page's own, so the legend's items do not run into each other.
    var family = window.getComputedStyle(document.body).fontFamily;
    var label = function (position) {
      return { show: data.weeks.length <= 12, position: position, fontSize: font,
               formatter: function (p) { return p.value ? String(p.value) : ""; } };
    };
    var chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: ["#1565c0", "#2e7d32"],
      textStyle: { fontSize: font, fontFamily: family },
      legend: { top: 0, itemGap: 28, textStyle: { fontSize: font, fontFamily: family } },
      tooltip: { trigger: "axis" },
      grid: { left: 48, right: 24, top: 40, bottom: 32 },
      xAxis: { type: "category", data: data.weeks, boundaryGap: true, axisLabel: { fontSize: font, fontFamily: family } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: font, fontFamily: family } },
      series: [
        { name: data.names[0], type: "line", data: data.intake, symbolSize: 8, lineStyle: { width: 3 },
          label: label("top") },
        { name: data.names[1], type: "line", data: data.resolved, symbolSize: 8, lineStyle: { width: 3, type: "dashed" },
          symbol: "rect", label: label("bottom") },
      ],
    });
    box.classList.add("drawn");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
