// "Tick every account on this page": a checkbox in a table head ticks (or unticks) the row
// boxes that belong to its form. Without JavaScript the box stays hidden and rows are ticked
// one by one.
document.querySelectorAll("input.select-all").forEach((all) => {
  const boxes = () =>
    document.querySelectorAll(`input.pick[form="${all.dataset.form}"]`);
  all.hidden = false;
  all.addEventListener("change", () => {
    boxes().forEach((box) => {
      box.checked = all.checked;
    });
  });
});
