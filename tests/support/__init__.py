"""The test harness: run our commands as real processes, look at the
processes they cause, and leave none of them behind.  Tests ``import
support``; what it provides lives in one module per job:

- ``processes``: facts about processes (``proc``, ``alive``, ``gone``,
  ``running_with`` ...), ``wait_for`` (a deadline against hangs, never an
  assertion about speed), ``free_port``, and the child subreaper;
- ``commands``: ``Ctl``, one service under test that runs ``python -m
  buildout_script.ctl`` (or ``.check``) in a test's tmp dir, the
  environment commands get, ``--program`` values, the skip markers for
  root and user nobody;
- ``programs``: small programs for services under test (``RECORDER``,
  ``TREE`` ...);
- ``cleanup``: ``Cleanup``, which kills whatever a test left;
- ``buildouts``: ``Sample``, a real buildout in a temporary directory, and
  a stand-in crontab.

Commands run with ``environment()``: the import path of this test process
(``bin/test`` puts the buildout's eggs on it, psutil among them), so that
``BUILDOUT_SCRIPT_PSUTIL=1 bin/test`` runs every command on the psutil
backend of buildout_script.process.

The pytest process (each xdist worker) is made a child subreaper (Linux)
while a module that wants it runs, so daemons orphaned by ``ctl`` become
its children and their zombies can be reaped here instead of piling up
under an init that does not reap (as in some containers).
"""

from .buildouts import (DEVELOP, TOKEN, WEB, Sample, fake_crontab, kill_marked,
                        sample_buildout, set_up_buildout, source_distribution)
from .cleanup import Cleanup
from .commands import (MARK, PSUTIL, ROOT, Ctl, Result, environment, needs_python_for_nobody,
                       needs_root, needs_root_and_nobody, nobody, one_line, program,
                       python_for_nobody, python_path, python_program, script)
from .processes import (alive, become_subreaper, free_port, gone, identity_line, kill,
                        linux_only, open_fds, proc, reap_orphans, running_with, start_ticks,
                        started_here, stop_being_subreaper, wait_for)
from .programs import (CREATOR, DUMPER, LISTENER, PRINTER, RECORDER, TREE, WORKERS,
                       recorder, roles)

__all__ = [
    'DEVELOP', 'TOKEN', 'WEB', 'Sample', 'fake_crontab', 'kill_marked', 'sample_buildout',
    'set_up_buildout', 'source_distribution', 'Cleanup', 'MARK', 'PSUTIL', 'ROOT', 'Ctl',
    'Result', 'environment', 'needs_python_for_nobody', 'needs_root',
    'needs_root_and_nobody', 'nobody', 'one_line', 'program', 'python_for_nobody',
    'python_path', 'python_program', 'script', 'alive', 'become_subreaper', 'free_port',
    'gone', 'identity_line', 'kill', 'linux_only', 'open_fds', 'proc', 'reap_orphans',
    'running_with', 'start_ticks', 'started_here', 'stop_being_subreaper', 'wait_for',
    'CREATOR', 'DUMPER', 'LISTENER', 'PRINTER', 'RECORDER', 'TREE', 'WORKERS', 'recorder',
    'roles']
