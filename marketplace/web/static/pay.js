/* The card page: Stripe Elements takes the card, Stripe.js turns it into a token, and the form
   goes to this site with the token only (the card never reaches the server). The rest of the
   buyers' pages need no script; this one works with Stripe's Stripe.js and localstripe's. */
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) { return; }
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("pay-button");
  var tokenField = document.getElementById("card_token");
  if (typeof window.Stripe !== "function") {
    errors.textContent = form.getAttribute("data-card-error");
    button.disabled = true;
    return;
  }
  var stripe = window.Stripe(form.getAttribute("data-stripe-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var sending = false;

  function failed(message) {
    errors.textContent = message || form.getAttribute("data-card-error");
    sending = false;
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (sending) { return; }
    sending = true;
    button.disabled = true;
    errors.textContent = "";
    var asked;
    try {
      asked = stripe.createToken(card);
    } catch (error) {
      failed();
      return;
    }
    Promise.resolve(asked).then(function (result) {
      if (!result || result.error || !result.token) {
        failed(result && result.error && result.error.message);
        return;
      }
      tokenField.value = result.token.id;
      form.submit();
    }, function () { failed(); });
  });
}());
