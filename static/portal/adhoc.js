/* Public QR charging: confirm the card pre-authorization with Stripe.js (card field, or Apple Pay / Google Pay
   through the Payment Request Button when the browser offers one), then hand over to the server, which asks
   Stripe itself before starting. On the progress page: poll the status JSON every 5 seconds. */
(function () {
  "use strict";

  function payPage(form) {
    var errorBox = document.getElementById("adhoc-error");
    var button = document.getElementById("adhoc-submit");
    if (!window.Stripe || !form.dataset.key || !form.dataset.secret) {
      errorBox.textContent = form.dataset.unavailable || "Card payment is not available right now.";
      button.disabled = true;
      return;
    }
    var stripe = window.Stripe(form.dataset.key);
    var elements = stripe.elements();
    var card = elements.create("card", {hidePostalCode: true});
    card.mount("#adhoc-card");

    function authorized() {
      form.submit();
    }

    function failed(message) {
      errorBox.textContent = message;
      button.disabled = false;
    }

    var request = stripe.paymentRequest({
      country: "SE",
      currency: form.dataset.currency,
      total: {label: form.dataset.label, amount: Math.round(parseFloat(form.dataset.amount) * 100)},
      requestPayerEmail: false
    });
    request.canMakePayment().then(function (result) {
      if (!result) { return; }
      var wallet = document.getElementById("adhoc-wallet");
      wallet.hidden = false;
      elements.create("paymentRequestButton", {paymentRequest: request}).mount(wallet);
    });
    request.on("paymentmethod", function (event) {
      stripe.confirmCardPayment(form.dataset.secret, {payment_method: event.paymentMethod.id},
                                {handleActions: false}).then(function (result) {
        if (result.error) { event.complete("fail"); failed(result.error.message); return; }
        event.complete("success");
        if (result.paymentIntent.status === "requires_action") {
          stripe.confirmCardPayment(form.dataset.secret).then(function (again) {
            if (again.error) { failed(again.error.message); } else { authorized(); }
          });
        } else {
          authorized();
        }
      });
    });

    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "1") { return; }
      event.preventDefault();
      button.disabled = true;
      stripe.confirmCardPayment(form.dataset.secret, {
        payment_method: {card: card, billing_details: {email: form.dataset.email}}
      }).then(function (result) {
        if (result.error) { failed(result.error.message); return; }
        form.dataset.confirmed = "1";
        authorized();
      });
    });
  }

  function progressPage(box) {
    var status = document.getElementById("adhoc-status");
    var energy = document.getElementById("adhoc-energy");
    var cost = document.getElementById("adhoc-cost");
    var language = document.documentElement.lang || "sv";
    function poll() {
      fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (state) {
          if (!state) { return; }
          status.textContent = state.status_text;
          energy.textContent = (state.energy_wh / 1000).toLocaleString(language, {minimumFractionDigits: 2,
                                                                                   maximumFractionDigits: 2});
          if (state.cost !== null) {
            cost.textContent = Number(state.cost).toLocaleString(language, {style: "currency",
                                                                          currency: state.currency});
          }
          if (state.finished) { window.location.assign(box.dataset.receiptUrl); }
        })
        .catch(function () { /* the next poll tries again */ });
    }
    window.setInterval(poll, 5000);
  }

  var form = document.getElementById("adhoc-pay");
  if (form) { payPage(form); }
  var box = document.getElementById("adhoc-progress");
  if (box) { progressPage(box); }
}());
