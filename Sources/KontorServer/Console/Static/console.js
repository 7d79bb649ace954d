// Kontor console: a little progressive enhancement. Every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons next to the enrollment token and the agent command.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy)?.textContent ?? "";
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2500);
    });
  }
  // A destructive form's button stays disabled until the confirmation field holds the exact name.
  for (const input of document.querySelectorAll("input[data-must-equal]")) {
    const submit = input.form?.querySelector("button[type=submit]");
    if (!submit) continue;
    const check = () => { submit.disabled = input.value.trim() !== input.dataset.mustEqual; };
    input.addEventListener("input", check);
    check();
  }
});
