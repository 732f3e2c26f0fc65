"""buildout_script: run Python services from a buildout.

Recipes render ``bin/NAMEctl`` and ``bin/NAME-check`` (see README.txt);
``from buildout_script import Daemon`` is the supay-style class for a
script that daemonizes itself.  Imports are lazy so that a generated
``ctl status`` pays only for what it uses.
"""


def __getattr__(name):
    if name == 'Daemon':
        from .daemon import Daemon
        return Daemon
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
