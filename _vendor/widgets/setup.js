// Serve the widget manager from this folder, fonts included, with no CDN.
// Loaded before require.js and embed-amd.js on every page that holds widget state.
(function () {
  var here = new URL(".", document.currentScript.src).href;  // .../widgets/
  // webpack's public path for the main bundle.
  window.__jupyter_widgets_assets_path__ = here;
  // RequireJS reads a global `require` object as its configuration when it loads; the
  // embedded modules compute their asset (font) URLs from their module path.
  window.require = { paths: { "@jupyter-widgets/html-manager/dist": here.replace(/\/$/, "") } };
})();
