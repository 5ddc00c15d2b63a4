// Triage suggestions as the hotline operator types: the description is sent (debounced) to
// POST /api/v1/triage/suggest/ and the ranked categories shown as buttons; one click fills category and kind.
// The top one is preselected while the operator has not chosen a category. Without JavaScript the form is the same.
(function () {
  "use strict";
  var box = document.getElementById("triage-live");
  if (!box) return;
  var form = box.closest("form");
  var description = form.querySelector("[name=description]");
  var category = form.querySelector("[name=category]");
  var kind = form.querySelector("[name=kind]");
  var grid = form.querySelector("[name=grid]");
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]");
  var list = box.querySelector("ol");
  var chosenByHand = category.value !== "";
  var autoValue = null;
  var timer = null;
  var asked = 0;

  category.addEventListener("change", function () { chosenByHand = category.value !== "" && category.value !== autoValue; });

  function pick(s) {
    category.value = s.category;
    if (kind && s.kind) kind.value = s.kind;
  }

  function show(suggestions) {
    list.textContent = "";
    box.hidden = suggestions.length === 0;
    suggestions = suggestions.filter(function (s, i) { return i === 0 || s.score >= 0.05; });  // no long shots
    suggestions.forEach(function (s, i) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.tabIndex = -1;  // the call is typed field to field; the select below takes another choice
      button.className = "suggestion-pick secondary";
      button.textContent = s.category_name;
      button.addEventListener("click", function () { chosenByHand = true; pick(s); });
      var score = document.createElement("span");
      score.className = "confidence";
      score.textContent = Math.round(s.score * 100) + "%";
      li.appendChild(button);
      li.appendChild(score);
      list.appendChild(li);
      if (i === 0 && !chosenByHand) { autoValue = s.category; pick(s); }
    });
  }

  function ask() {
    var text = description.value.trim();
    if (text.length < 4) { show([]); return; }
    var mine = ++asked;
    var body = { description: text };
    if (grid && grid.value) body.grid = grid.value;
    fetch(box.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf.value },
      body: JSON.stringify(body),
    })
      .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
      .then(function (answer) { if (mine === asked) show(answer.suggestions); })
      .catch(function () { /* suggestions are a help, never in the way */ });
  }

  description.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 300);
  });
  if (description.value.trim()) ask();
})();
