// The widget manager (_static/vendor/html-manager/embed-amd.js) finds its fonts next to the module
// that require.js names "@jupyter-widgets/...": point that name at the vendored copy, on every page depth.
require.config({
  paths: {"@jupyter-widgets": document.documentElement.dataset.content_root + "_static/vendor/html-manager"}
});
