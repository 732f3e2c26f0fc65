"""Other users: ``--user`` runs the program as that account, and a command
run by someone without the right to the pid dir or its files says so
(exit 4, naming the path) instead of calling the service "not running".

CI runs as root: the other user is ``nobody``.
"""

import os
import subprocess
import sys

import pytest

import support
from support import Ctl, alive, gone, one_line, program

pytestmark = support.linux_only


needs_root_and_nobody = support.needs_root_and_nobody


# -- --user ------------------------------------------------------------------------------

# The keeper forks and becomes the service's user before the exec; Python's
# own library may not be readable to that user then (a Python under /root).
UNREADABLE_LIBRARY = '''
import os, sys
from buildout_script import config, launch

class Unreadable:
    def find_spec(self, name, path=None, target=None):
        if os.getuid() != 0:
            raise ImportError("%s: the library is not readable to uid %d" % (name, os.getuid()))

settings = config.parse({"name": "svc", "program": "sh -c 'exit 7'", "user": "nobody",
                         "pid-dir": sys.argv[1]})
sys.modules.pop("warnings", None)           # os.execvpe would import it
sys.meta_path.insert(0, Unreadable())
child = launch.start(launch.plan(settings), (1, None))
print(os.waitstatus_to_exitcode(os.waitpid(child.pid, 0)[1]))
'''


@needs_root_and_nobody
def test_the_keepers_launch_as_another_user_imports_nothing_after_the_change(tmp_path):
    done = subprocess.run([sys.executable, '-c', UNREADABLE_LIBRARY, str(tmp_path)],
                          env=support.environment(), cwd='/', capture_output=True, text=True,
                          timeout=30)
    assert (done.returncode, done.stdout) == (0, '7\n'), done

@needs_root_and_nobody
def test_user_runs_the_program_as_that_user(service):
    nobody = support.nobody()
    svc = service(user='nobody')
    p = svc.start_ok()
    assert p.uids().real == p.uids().effective == nobody.pw_uid
    assert p.gids().real == nobody.pw_gid
    assert svc.pid_file.stat().st_uid == 0
    assert svc.identity_file.stat().st_uid == 0
    assert svc.log.stat().st_uid == nobody.pw_uid
    assert svc.run('stop').code == 0
    assert gone(p)


@needs_root_and_nobody
def test_log_symlink_is_not_chowned_to_the_service_user(service, tmp_path):
    nobody = support.nobody()
    target = tmp_path / 'root-only'
    target.write_text('precious\n')
    target.chmod(0o600)
    svc = service(user='nobody')
    svc.log_dir.mkdir()
    os.chown(svc.log_dir, nobody.pw_uid, nobody.pw_gid)   # the service owns its logs
    svc.log.symlink_to(target)                            # ... and plants a link
    svc.run('start')
    assert target.stat().st_uid == 0, 'root\'s file now belongs to nobody'
    assert target.read_text() == 'precious\n'


# -- commands run by user nobody --------------------------------------------------------

NOBODY_PYTHON = support.python_for_nobody() if sys.platform.startswith('linux') else None
needs_runuser = pytest.mark.skipif(
    NOBODY_PYTHON is None, reason='needs root, user nobody, runuser and a Python >= 3.10'
                                  ' that nobody can run')


def as_nobody(svc, *action, **options):
    env = svc.env()
    return svc.run(*action, python=NOBODY_PYTHON, cwd=svc.tmp,
                   prefix=['runuser', '-u', 'nobody', '--', 'env'] + [
                       '%s=%s' % (name, env[name]) for name in
                       ('PYTHONPATH', support.MARK, 'BUILDOUT_SCRIPT_PSUTIL') if name in env],
                   **options)


@pytest.fixture
def private_service(cleanup):
    """A running service (root's) whose pid dir is root-only (0700), in a
    directory user nobody can reach."""
    base = cleanup.mkdtemp()
    svc = Ctl(cleanup, base, program=program('sleep', '300'), reload_signal='HUP')
    p = svc.start_ok()
    svc.pid_dir.chmod(0o700)
    return svc, p


@needs_runuser
@pytest.mark.parametrize('action', [['stop'], ['start'], ['restart'], ['status'], ['pid'],
                                    ['kill', 'HUP'], ['reload']],
                         ids=lambda action: '-'.join(action))
def test_command_in_an_unsearchable_pid_dir_exits_4_naming_it(private_service, action):
    svc, p = private_service
    r = as_nobody(svc, *action)
    assert r.code == 4, r
    assert str(svc.pid_dir) in one_line(r.err), r
    assert 'not running' not in r.output
    assert alive(p) and svc.read_pid() == p.pid


@needs_runuser
def test_unreadable_pid_file_is_an_error_not_not_running(private_service):
    svc, p = private_service
    svc.pid_dir.chmod(0o755)
    svc.pid_file.chmod(0o600)
    svc.identity_file.chmod(0o600)
    for action in ('status', 'pid'):
        r = as_nobody(svc, action)
        assert r.code == 4, r
        assert str(svc.pid_file) in one_line(r.err), r
        assert 'not running' not in r.output
    assert alive(p)


@needs_runuser
def test_a_monitoring_users_check_answers_without_the_lock(cleanup):
    """A check run by another user (NRPE's, say) reads what it may and
    answers; it does not end UNKNOWN for want of the lock, even where the
    owner's check would have written something (a run of failed probes
    that has ended)."""
    base = cleanup.mkdtemp()
    healthy = base / 'healthy'
    svc = Ctl(cleanup, base, program=program('sleep', '300'), check_failures=3,
              check='exec:test -e %s' % healthy)
    p = svc.start_ok()
    r = svc.check()
    assert r.code == 1 and (svc.pid_dir / 'svc.failures').exists(), r
    healthy.touch()
    r = as_nobody(svc, '-v', '--no-restart', module='check')
    assert r.code == 0 and r.out.startswith('svc OK - running (pid %d' % p.pid), r
    assert (svc.pid_dir / 'svc.failures').exists()      # the owner's check clears it
    assert svc.check().code == 0 and not (svc.pid_dir / 'svc.failures').exists()
