"""The Chorus Handbook's own tooling: checks, build plugin and reports.

The handbook binds its pages to the Chorus stack in `stack/`; this package holds
the code that does the binding, exposed as the `handbook` command and as the
`handbook` MkDocs plugin.
"""

__version__ = "0.1.0"
