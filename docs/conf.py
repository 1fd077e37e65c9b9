"""Sphinx configuration of the course's website; build it with ``python -m course_tools.site build``.

The build lays these sources out in a temporary folder with the chapters (student versions), the
glossary, the instructor guide and the security model, and copies require.js, the widget manager
and MathJax into ``_static/vendor/``: no page loads anything from outside the site.
"""
import os

project = "Cryptography for Deep Learning"
author = "the course's authors"
copyright = "the course's authors"

extensions = ["myst_nb", "sphinx_copybutton"]
exclude_patterns = ["_build", "node_modules", "README*", "package*.json", ".ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_theme = "furo"
html_title = project
html_copy_source = False              # the notebooks are downloadable from the repository, not here
html_show_sourcelink = False
html_last_updated_fmt = None
html_sidebars = {"**": ["sidebar/brand.html", "sidebar/search.html", "sidebar/scroll-start.html",
                        "sidebar/navigation.html", "sidebar/languages.html", "sidebar/scroll-end.html"]}

# Markdown and notebooks (MyST); the notebooks are executed already: never run them here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header",      # chapters' headings are written for JupyterLab's outline
                     "misc.highlighting_failure"]   # some tracebacks do not lex as ipythontb; shown plain

# Everything served from _static/ (copied there by course_tools.site from npm packages).
mathjax_path = "vendor/mathjax/tex-chtml.js"
nb_ipywidgets_js = {
    "vendor/require/require.js": {},
    "widgets-config.js": {},          # where the widget manager finds its own fonts: _static/vendor/
    "vendor/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": "vendor/widgets/",
                                         "data-jupyter-widgets-cdn-only": ""},
}

# Editions: English is the source; a translation's catalogues live in locale/<language>/LC_MESSAGES
# (sphinx-intl layout) and course_tools.site builds it into <out>/<language>/.
language = "en"
locale_dirs = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "locale")]
gettext_compact = False
gettext_uuid = True                   # a changed English paragraph gets a new entry: its translation goes stale
html_context = {"languages": [("en", "English", "")]}
