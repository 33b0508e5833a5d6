// Try page: read a chosen manifest file into the text box (nothing is uploaded).
const input = document.getElementById("manifest-file");
const area = document.getElementById("manifest");
const note = document.getElementById("file-note");

if (input && area) {
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      area.value = String(reader.result);
      if (note) note.textContent = `Read ${file.name} into the text box: press Screen the manifest.`;
    });
    reader.addEventListener("error", () => {
      if (note) note.textContent = `${file.name} could not be read.`;
    });
    reader.readAsText(file);
  });
}
