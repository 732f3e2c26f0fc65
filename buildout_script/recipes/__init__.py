"""The buildout recipes (the top layer): read and check a part's options,
render templates/, and hand buildout every path they create.  They know
nothing of signals or processes; buildout_script.config is all they share
with the commands.
"""
