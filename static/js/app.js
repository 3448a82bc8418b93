// Progressive enhancements only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before destructive actions (cancel, archive, deactivate).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  // On the booking form, picking a client proposes that client's timezone
  // unless the person already chose one by hand.
  const zones = document.getElementById("client-zones");
  const client = document.getElementById("client_id");
  const zone = document.getElementById("timezone");
  if (zones && client && zone) {
    const map = JSON.parse(zones.textContent);
    let touched = false;
    zone.addEventListener("change", () => { touched = true; });
    client.addEventListener("change", () => {
      const z = map[client.value];
      if (z && !touched) zone.value = z;
    });
  }
});

// Copy buttons: <button data-copy="input-id">. Without JavaScript the field can be
// selected and copied by hand.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      if (!input) return;
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (error) {
        input.select();
        document.execCommand("copy");
      }
      button.textContent = "✓";
      button.setAttribute("aria-live", "polite");
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });
});
