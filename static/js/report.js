// The report form, better with JavaScript: "use my location" fills latitude and longitude and names the grid
// they route to (GET /api/v1/areas/locate/); chosen photos are previewed; the building list narrows to the grid
// chosen. Without JavaScript the same form works: coordinates typed, a grid chosen, photos sent as they are.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) return;
  var d = form.dataset;
  var lat = document.getElementById("id_lat");
  var lng = document.getElementById("id_lng");
  var status = document.getElementById("locate-status");
  var button = document.getElementById("locate-button");

  function say(text) { status.textContent = text; }

  function locate(position) {
    lat.value = position.coords.latitude.toFixed(6);
    lng.value = position.coords.longitude.toFixed(6);
    lng.dispatchEvent(new Event("change", { bubbles: true }));  // the duplicates list listens
    var url = d.locateUrl + "?lat=" + encodeURIComponent(lat.value) + "&lng=" + encodeURIComponent(lng.value);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { say(d.msgNoGrid); return; }
        say(d.msgLocated + " " + body.community.name + " · " + body.grid.name);
      })
      .catch(function () { say(d.msgNoGrid); });
  }

  if (button && navigator.geolocation) {
    button.hidden = false;
    button.addEventListener("click", function () {
      say(d.msgLocating);
      navigator.geolocation.getCurrentPosition(locate, function () { say(d.msgDenied); },
        { enableHighAccuracy: true, timeout: 15000 });
    });
  }

  // Photo previews, and the limit of six (with those already kept) said before sending.
  var input = document.getElementById("id_photos");
  var previews = document.getElementById("photo-previews");
  if (input && previews && window.URL) {
    input.addEventListener("change", function () {
      previews.innerHTML = "";
      var files = Array.prototype.slice.call(input.files || []);
      var room = parseInt(d.maxPhotos, 10) - parseInt(d.keptPhotos || "0", 10);
      if (files.length > room) {
        input.setCustomValidity(d.msgTooMany);
        input.reportValidity();
      } else {
        input.setCustomValidity("");
      }
      files.forEach(function (file, i) {
        var li = document.createElement("li");
        var img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = file.name;
        li.appendChild(img);
        previews.appendChild(li);
      });
      previews.hidden = files.length === 0;
    });
  }

  // The building list shows only the buildings of the grid chosen (a building's code begins with its grid's).
  var grid = document.getElementById("id_grid");
  var building = document.getElementById("id_building");
  if (grid && building) {
    var narrow = function () {
      Array.prototype.forEach.call(building.querySelectorAll("optgroup"), function (group) {
        var any = false;
        Array.prototype.forEach.call(group.querySelectorAll("option"), function (option) {
          var shown = !grid.value || option.value.indexOf(grid.value) === 0;
          option.hidden = !shown;
          option.disabled = !shown;
          any = any || shown;
        });
        group.hidden = !any;
      });
      var selected = building.options[building.selectedIndex];
      if (selected && selected.disabled) building.value = "";
    };
    grid.addEventListener("change", narrow);
    narrow();
  }
})();
