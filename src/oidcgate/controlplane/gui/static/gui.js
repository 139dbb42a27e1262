// oidcgate Manager: the few behaviours plain HTML lacks. Every page works without this file.
"use strict";

// <form data-confirm="Delete service x?">: ask before destructive actions.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// <button data-copy="element-id">: copy that element's text, and say so.
function copyText(button) {
  const source = document.getElementById(button.getAttribute("data-copy"));
  const status = document.getElementById(button.getAttribute("data-copy-status"));
  const done = (text) => { if (status) status.textContent = text; };
  const text = source.textContent;
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done("Copied to the clipboard."), () => done("Copy failed: select the text and copy it."));
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(source);
  window.getSelection().removeAllRanges();
  window.getSelection().addRange(range);
  done(document.execCommand("copy") ? "Copied to the clipboard." : "Select the text and copy it.");
}

// <button data-add-row="container-id">: one more empty input row (multi-value secrets).
function addRow(button) {
  const container = document.getElementById(button.getAttribute("data-add-row"));
  const spare = container.querySelector(".spare");
  const row = spare.cloneNode(true);
  row.querySelectorAll("input").forEach((input) => { input.value = ""; });
  container.insertBefore(row, button.parentNode === container ? button : null);
  row.querySelector("input").focus();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy], button[data-add-row]");
  if (!button) return;
  if (button.hasAttribute("data-copy")) copyText(button);
  else addRow(button);
});

// <tbody data-refresh="/runtime/nodes" data-interval="3000">: reload rows from a fragment endpoint.
function startRefresh(target) {
  const url = target.getAttribute("data-refresh");
  const every = Number(target.getAttribute("data-interval")) || 5000;
  const stamp = document.getElementById(target.getAttribute("data-refresh-stamp"));
  const timer = window.setInterval(async () => {
    if (document.visibilityState === "hidden") return;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.redirected) { window.clearInterval(timer); window.location.reload(); return; }  // signed out
      if (!response.ok) throw new Error(String(response.status));
      target.innerHTML = await response.text();
      if (stamp) stamp.textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (error) {
      if (stamp) stamp.textContent = "Refresh failed (" + error.message + "); retrying.";
    }
  }, every);
}

document.querySelectorAll("[data-add-row]").forEach((button) => { button.hidden = false; });
document.querySelectorAll("[data-refresh]").forEach(startRefresh);
