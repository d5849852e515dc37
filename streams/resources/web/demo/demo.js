/* The demo storefront: the sample's products, a basket, the widget and the live store panel.
 * Served by an open (loopback) gateway at /demo/; calls it without keys. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var shopper = params.get("shopper") || "demo-" + Math.random().toString(36).slice(2, 10);
  var currency = "GBP";
  var titles = {};
  var cart = [];
  var PANEL_DECISIONS = 20;
  var $ = function (id) { return document.getElementById(id); };
  $("shopper").textContent = shopper;

  function money(amount) { return Number(amount).toFixed(2) + " " + currency; }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  var widget = Basketlift.mount("#offers", {
    gateway: location.origin,
    shopperId: shopper,
    currency: currency,
    productTitle: function (id) { return titles[id]; },
    onAdd: function (offer) { add(offer.product_id, offer.offer_price); },
    onDecision: function (decision) { $("cohort").textContent = decision.cohort; }
  });

  function add(productId, unitPrice) {
    var line = cart.filter(function (l) { return l.product_id === productId; })[0];
    if (line) line.quantity += 1;
    else cart.push({ product_id: productId, quantity: 1, unit_price: unitPrice });
    changed();
  }

  function setQuantity(productId, quantity) {
    cart = cart.map(function (l) {
      return l.product_id === productId ? { product_id: l.product_id, quantity: quantity, unit_price: l.unit_price } : l;
    }).filter(function (l) { return l.quantity > 0; });
    changed();
  }

  function changed() {
    var list = $("cart-lines");
    list.textContent = "";
    var total = 0;
    cart.forEach(function (l) {
      total += l.quantity * l.unit_price;
      var li = el("li");
      li.setAttribute("data-product-id", l.product_id);
      li.appendChild(el("span", titles[l.product_id] || l.product_id, "name"));
      li.appendChild(el("span", l.quantity + " \u00d7 " + money(l.unit_price)));
      var less = el("button", "\u2212");
      less.type = "button";
      less.setAttribute("aria-label", "One fewer " + (titles[l.product_id] || l.product_id));
      less.onclick = function () { setQuantity(l.product_id, l.quantity - 1); };
      li.appendChild(less);
      list.appendChild(li);
    });
    if (!cart.length) list.appendChild(el("li", "Your basket is empty."));
    $("subtotal").textContent = money(total);
    widget.setCart(cart.map(function (l) { return { product_id: l.product_id, quantity: l.quantity, unit_price: l.unit_price }; }));
  }

  function showCatalog(products) {
    var list = $("catalog");
    products.forEach(function (p) {
      var li = el("li", null, "product");
      li.setAttribute("data-product-id", p.product_id);
      li.appendChild(el("h3", p.title));
      li.appendChild(el("p", money(p.unit_price), "price"));
      var button = el("button", "Add to basket");
      button.type = "button";
      button.setAttribute("aria-label", "Add " + p.title + " to basket");
      button.onclick = function () { add(p.product_id, p.unit_price); };
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  function showSummary(s) {
    $("orders").textContent = s.orders.toLocaleString();
    ["treatment", "holdout"].forEach(function (c) {
      var row = s.cohorts[c];
      $("aov-" + c).textContent = row.aov == null ? "\u2013" : money(row.aov) + " (" + row.orders + " orders)";
    });
    var lift = s.lift;
    $("lift").textContent = lift == null ? "needs 2 orders in each cohort" :
      (lift.lift * 100).toFixed(1) + "% [" + (lift.ci_low * 100).toFixed(1) + "%, " + (lift.ci_high * 100).toFixed(1) + "%]";
    $("decision-counts").textContent = s.decisions.map(function (d) {
      return d.placement + "/" + d.cohort + ": " + d.count;
    }).join(", ");
  }

  /* One decision of the store's stream (the contract's JSON), newest first. */
  function showDecision(d) {
    var offered = d.offers.map(function (o) { return titles[o.product_id] || o.product_id; }).join(", ");
    var nudges = d.nudges.map(function (n) { return n.message; });
    var text = (d.shopper_id || d.session_id) + " \u00b7 " + d.placement + " \u00b7 " + d.cohort +
      (offered ? " \u00b7 offered " + offered : "") + (nudges.length ? " \u00b7 " + nudges.join("; ") : "");
    var li = el("li", text, d.cohort);
    li.setAttribute("data-decision-id", d.decision_id);
    var list = $("decisions");
    list.insertBefore(li, list.firstChild);
    while (list.children.length > PANEL_DECISIONS) list.removeChild(list.lastChild);
  }

  /* The side panel follows the store's event stream: every decision as it is read from the
   * offers topic, and the summary (orders, AOV per cohort, lift) at most once a second. */
  function follow() {
    var stream = new EventSource("/v1/store/decisions/stream");
    stream.addEventListener("decision", function (e) { showDecision(JSON.parse(e.data)); });
    stream.addEventListener("summary", function (e) {
      showSummary(JSON.parse(e.data));
      document.body.setAttribute("data-demo-ready", "true"); // the catalog shown, the panel live
    });
    stream.onopen = function () { $("stream-status").textContent = "live"; };
    stream.onerror = function () { $("stream-status").textContent = "reconnecting\u2026"; };
    return stream;
  }

  fetch("catalog.json").then(function (r) { return r.json(); }).then(function (c) {
    currency = c.currency;
    Object.keys(c.titles).forEach(function (id) { titles[id] = c.titles[id]; });
    showCatalog(c.products);
    follow(); // after the titles: the panel names the products offered
  });
  window.basketliftDemo = { widget: widget, shopper: shopper, cart: function () { return cart; }, add: add };
})();
