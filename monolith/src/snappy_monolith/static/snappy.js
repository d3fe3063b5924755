// Behaviour the pages need, kept out of the HTML: the Content-Security-Policy allows no inline script.

// A button with data-confirm asks before it submits its form (deleting a photo, say).
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
  if (button !== null && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
