"""The buildout recipes (the top layer): read and check a part's options,
render templates/, and hand buildout every path they create.  They know
nothing of signals or processes: the options are checked by
buildout_script.config, as the commands check them; ``on-change`` asks
``modes.status`` whether the running program has other settings, then runs
the part's new ``bin/NAMEctl``.
"""
