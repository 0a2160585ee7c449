// Progressive enhancement only: every page works without this file.
// Fill hidden time-zone fields with the browser's own zone.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  var fields = document.querySelectorAll('input[type="hidden"][name="timezone"]');
  for (var i = 0; i < fields.length; i++) { fields[i].value = zone; }
}());

// Country checkboxes (coalition/fields.py): a box that shows only the countries whose
// name holds what is typed, and opens the regions that have some.
(function () {
  "use strict";
  function fold(text) {
    text = text.toLowerCase();
    return text.normalize ? text.normalize("NFD").replace(/[\u0300-\u036f]/g, "") : text;
  }
  function filter(list, box) {
    var query = fold(box.value.trim()), items = list.querySelectorAll("li"), i;
    for (i = 0; i < items.length; i++) {
      items[i].hidden = query !== "" && fold(items[i].textContent).indexOf(query) < 0;
    }
    var groups = list.querySelectorAll("details");
    for (i = 0; i < groups.length; i++) {
      var shown = groups[i].querySelector("li:not([hidden])");
      groups[i].hidden = !shown;
      groups[i].open = query ? !!shown : !!groups[i].querySelector("input:checked");
    }
  }
  var lists = document.querySelectorAll(".country-groups[data-filter-label]");
  for (var n = 0; n < lists.length; n++) {
    var list = lists[n], label = document.createElement("label"), box = document.createElement("input");
    box.type = "search";
    box.id = list.id + "-filter";
    box.autocomplete = "off";
    label.htmlFor = box.id;
    label.textContent = list.getAttribute("data-filter-label");
    list.parentNode.insertBefore(label, list);
    list.parentNode.insertBefore(box, list);
    box.addEventListener("input", filter.bind(null, list, box));
    // Enter in the box filters; it must not send the form.
    box.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); } });
  }
}());
