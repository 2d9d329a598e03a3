// Included in the <script> of the inbox's pages (household, weekly review).
// The inbox remembers the language per browser; follow it when the link did not say.
const params = new URLSearchParams(location.search);
if (!params.get("lang") && localStorage.getItem("anbu-lang") === "en") {
  params.set("lang", "en");
  location.replace("?" + params.toString());
}
document.getElementById("lang-switch").onclick = (event) => {
  const next = event.target.dataset.lang;
  localStorage.setItem("anbu-lang", next);
  params.set("lang", next);
  location.search = "?" + params.toString();
};
