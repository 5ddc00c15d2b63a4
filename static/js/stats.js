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
    var chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: ["#1565c0", "#2e7d32"],
      textStyle: { fontSize: font, fontFamily: "inherit" },
      legend: { top: 0, textStyle: { fontSize: font } },
      tooltip: { trigger: "axis" },
      grid: { left: 48, right: 24, top: 40, bottom: 32 },
      xAxis: { type: "category", data: data.weeks, boundaryGap: false, axisLabel: { fontSize: font } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: font } },
      series: [
        { name: data.names[0], type: "line", data: data.intake, symbolSize: 8, lineStyle: { width: 3 },
          label: { show: data.weeks.length <= 12, position: "top", fontSize: font } },
        { name: data.names[1], type: "line", data: data.resolved, symbolSize: 8, lineStyle: { width: 3, type: "dashed" },
          symbol: "rect", label: { show: data.weeks.length <= 12, position: "bottom", fontSize: font } },
      ],
    });
    box.classList.add("drawn");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
