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
  // A file chosen for an import is read here and put in the text area the form sends (nothing is uploaded
  // until Preview; a list too large for a console form is refused here, pointing to kontorctl).
  for (const input of document.querySelectorAll("input[type=file][data-fills]")) {
    const target = document.getElementById(input.dataset.fills);
    const status = document.getElementById(input.id + "-status");
    input.addEventListener("change", async () => {
      const file = input.files?.[0];
      if (!file || !target) return;
      const text = await file.text();
      if (encodeURIComponent(text).length > Number(input.dataset.limit)) {
        status.textContent = `${file.name} is too large for the console; import it with: kontorctl persons import ${file.name}`;
        input.value = "";
        return;
      }
      target.value = text;
      const rows = text.split(/\r?\n/).filter((line) => line.trim() !== "").length - 1;
      status.textContent = `${file.name}: ${rows} ${rows === 1 ? "row" : "rows"} read; press Preview to see the changes.`;
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
