/*! basketlift.js: Basketlift's storefront widget (no build step, no dependencies).
 * Options and CSS hooks: README, "The storefront widget". */
(function (root) {
  "use strict";
  var script = document.currentScript;
  var STYLE = [
    ".basketlift{--basketlift-min-height:11rem;--basketlift-accent:#0b6e4f;--basketlift-bg:#fff;--basketlift-fg:#1d1d1f;--basketlift-muted:#5f6368;--basketlift-radius:8px;--basketlift-gap:.75rem;min-height:var(--basketlift-min-height);color:var(--basketlift-fg)}",
    ".basketlift ul{list-style:none;margin:0 0 var(--basketlift-gap);padding:0;display:grid;gap:var(--basketlift-gap)}",
    ".basketlift-nudge,.basketlift-offer{background:var(--basketlift-bg);border-radius:var(--basketlift-radius);padding:.5rem .75rem}",
    ".basketlift-nudge{border-left:4px solid var(--basketlift-accent)}.basketlift-nudge progress{display:block;width:100%;accent-color:var(--basketlift-accent)}",
    ".basketlift-offers{grid-template-columns:repeat(auto-fit,minmax(12rem,1fr))}",
    ".basketlift-offer{border:1px solid #d0d4d9;display:flex;flex-direction:column;gap:.35rem;position:relative}",
    ".basketlift-offer h3{font-size:1rem;margin:0 1.5rem 0 0}.basketlift-offer p{margin:0}",
    ".basketlift-offer__price{font-weight:700}.basketlift-offer s{margin-left:.4rem}.basketlift-offer s,.basketlift-offer__reason{color:var(--basketlift-muted);font-weight:400}",
    ".basketlift button{font:inherit;cursor:pointer;border:0;border-radius:var(--basketlift-radius)}",
    ".basketlift-offer__add{background:var(--basketlift-accent);color:#fff;padding:.4rem .6rem;margin-top:auto}",
    ".basketlift-offer__dismiss{position:absolute;top:.25rem;right:.25rem;background:none;font-size:1.25rem;line-height:1;color:var(--basketlift-muted)}",
    ".basketlift button:focus-visible{outline:2px solid var(--basketlift-accent);outline-offset:2px}"
  ].join("");

  function uid(prefix) {
    var c = root.crypto;
    return prefix + (c && c.randomUUID ? c.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function money(amount, currency) {
    return Number(amount).toFixed(2) + " " + currency;
  }

  function addStyle() {
    if (document.getElementById("basketlift-style")) return;
    var style = el("style", null, STYLE);
    style.id = "basketlift-style";
    document.head.appendChild(style);
  }

  function Widget(container, options) {
    this.container = container;
    this.o = options;
    this.gateway = (options.gateway || (script && script.src ? new URL(script.src).origin : location.origin)).replace(/\/$/, "");
    this.currency = options.currency || "GBP";
    this.seq = 0;
    this.seen = {};
    if (options.styles !== false) addStyle();
    container.classList.add("basketlift");
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", options.label || "Suggestions for your basket");
    container.setAttribute("aria-live", "polite");
    container.setAttribute("data-basketlift-state", "idle");
  }

  var W = Widget.prototype;

  W.headers = function () {
    var h = { "Content-Type": "application/json" };
    if (this.o.key) h.Authorization = "Bearer " + this.o.key;
    if (this.o.shopperToken) h["X-Basketlift-Shopper-Token"] = this.o.shopperToken;
    return h;
  };

  W.ids = function (event) {
    if (this.o.shopperId) event.shopper_id = this.o.shopperId;
    event.session_id = this.o.sessionId || (this.o.sessionId = uid("w-"));
    return event;
  };

  W.post = function (logical, event) {
    return fetch(this.gateway + "/v1/events/" + logical, {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify(event)
    }).then(function (r) {
      if (r.status !== 202) throw new Error("basketlift: POST " + logical + ": " + r.status);
      return r.json();
    });
  };

  /* items: the whole cart. Resolves with the decision rendered, or null (overtaken, none). */
  W.setCart = function (items) {
    var self = this;
    var seq = ++this.seq;
    var started = performance.now();
    var event = this.ids({
      event_id: uid("cart-"),
      ts: Date.now(),
      cart_id: this.o.cartId || (this.o.cartId = uid("k-")),
      currency: this.currency,
      items: items
    });
    this.container.setAttribute("data-basketlift-state", "waiting");
    return this.post("carts", event).then(function () {
      return self.wait(event.event_id, seq, started + (self.o.timeoutMs || 10000));
    }).then(function (decision) {
      if (seq !== self.seq) return null;
      if (!decision) {
        self.container.setAttribute("data-basketlift-state", "timeout");
        return null;
      }
      self.render(decision);
      self.timing = { event_id: event.event_id, ms: performance.now() - started };
      self.container.setAttribute("data-basketlift-latency-ms", self.timing.ms.toFixed(1));
      self.container.setAttribute("data-basketlift-state", "shown");
      if (self.o.onDecision) self.o.onDecision(decision, self.timing);
      return decision;
    }).catch(function (error) {
      self.container.setAttribute("data-basketlift-state", "error");
      (self.o.onError || console.error)(error);
      return null;
    });
  };

  W.wait = function (eventId, seq, deadline) {
    var self = this;
    var url = this.gateway + "/v1/decisions/" + encodeURIComponent(eventId) + "?wait_ms=" + (this.o.waitMs || 2000);
    return fetch(url, { headers: this.headers() }).then(function (r) {
      if (r.status === 200) return r.json();
      if (r.status !== 404) throw new Error("basketlift: GET decision: " + r.status);
      if (seq !== self.seq || performance.now() > deadline) return null;
      return self.wait(eventId, seq, deadline);
    });
  };

  W.title = function (productId) {
    var t = this.o.productTitle;
    try {
      return (typeof t === "function" ? t(productId) : t && t[productId]) || productId;
    } catch (e) {
      return productId;
    }
  };

  W.render = function (decision) {
    var self = this;
    var box = this.container;
    this.decision = decision;
    box.textContent = "";
    box.setAttribute("data-basketlift-cohort", decision.cohort);
    var nudges = decision.nudges || [];
    var offers = (decision.offers || []).slice(0, this.o.maxOffers || 3);
    if (nudges.length) {
      var nlist = el("ul", "basketlift-nudges");
      nlist.setAttribute("aria-label", "Basket goals");
      nudges.forEach(function (nudge) {
        var li = el("li", "basketlift-nudge basketlift-nudge--" + nudge.kind);
        li.appendChild(el("p", "basketlift-nudge__message", nudge.message));
        var bar = el("progress", "basketlift-nudge__progress");
        bar.max = nudge.threshold;
        bar.value = Math.max(0, nudge.threshold - nudge.gap);
        bar.setAttribute("aria-label", nudge.kind === "free_shipping" ? "Free shipping progress" : "Tier progress");
        li.appendChild(bar);
        nlist.appendChild(li);
      });
      box.appendChild(nlist);
    }
    if (offers.length) {
      var heading = el("h2", "basketlift-heading", this.o.heading || "You may also like");
      heading.id = uid("basketlift-h-");
      box.appendChild(heading);
      var list = el("ul", "basketlift-offers");
      list.setAttribute("aria-labelledby", heading.id);
      offers.forEach(function (offer) {
        list.appendChild(self.offerItem(offer));
      });
      box.appendChild(list);
    }
  };

  W.offerItem = function (offer) {
    var self = this;
    var title = this.title(offer.product_id);
    var li = el("li", "basketlift-offer basketlift-offer--" + offer.kind);
    li.setAttribute("data-offer-id", offer.offer_id);
    li.setAttribute("data-product-id", offer.product_id);
    li.appendChild(el("h3", "basketlift-offer__title", title));
    var price = el("p", "basketlift-offer__price", money(offer.offer_price, this.currency));
    if (offer.discount_pct > 0) price.appendChild(el("s", "basketlift-offer__was", money(offer.unit_price, this.currency)));
    li.appendChild(price);
    var reason = offer.reason.replace(/'([^']+)'/g, function (q, id) { return "'" + self.title(id) + "'"; });
    li.appendChild(el("p", "basketlift-offer__reason", reason));
    var add = el("button", "basketlift-offer__add", this.o.addLabel || "Add to basket");
    add.type = "button";
    add.setAttribute("aria-label", "Add " + title + " to basket");
    add.addEventListener("click", function () {
      self.track("offer_click", offer);
      if (self.o.onAdd) self.o.onAdd(offer);
    });
    li.appendChild(add);
    var dismiss = el("button", "basketlift-offer__dismiss", "\u00d7");
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", "Dismiss " + title);
    dismiss.addEventListener("click", function () {
      self.track("offer_dismiss", offer);
      var next = li.nextSibling || li.previousSibling; // keeps the keyboard focus in the list
      li.remove();
      if (next) next.querySelector("button").focus();
    });
    li.appendChild(dismiss);
    if (!this.seen[offer.offer_id]) {
      this.seen[offer.offer_id] = true;
      this.track("offer_impression", offer);
    }
    return li;
  };

  W.track = function (action, offer) {
    var self = this;
    var event = this.ids({
      event_id: uid("click-"),
      ts: Date.now(),
      action: action,
      product_id: offer.product_id,
      offer_id: offer.offer_id
    });
    return this.post("clicks", event).catch(function (error) {
      (self.o.onError || console.error)(error);
    });
  };

  root.Basketlift = {
    version: "1",
    mount: function (container, options) {
      if (typeof container === "string") container = document.querySelector(container);
      if (!container) throw new Error("basketlift: no container to mount in");
      return new Widget(container, options || {});
    }
  };
})(window);
