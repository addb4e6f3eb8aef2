// Refreshes the live part of the page in place: fetches the page again and
// swaps the element with id "live", so nothing flickers. Without
// JavaScript the page is complete as served; reload it to update.
(function () {
  var poll = Number(document.body.getAttribute("data-poll-ms")) || 2000;
  var status = document.getElementById("conn");
  function update() {
    if (document.hidden) {
      setTimeout(update, poll);
      return;
    }
    fetch(location.href, { cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        var old = document.getElementById("live");
        if (fresh === null || old === null) { throw new Error("no live section in the response"); }
        old.replaceWith(document.adoptNode(fresh));
        status.textContent = "";
      })
      .catch(function (e) { status.textContent = "update failed: " + e.message; })
      .finally(function () { setTimeout(update, poll); });
  }
  setTimeout(update, poll);
})();
