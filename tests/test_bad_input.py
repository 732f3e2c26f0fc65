"""Bad input is refused at buildout time, never a traceback later (issue 8,
points 8-10): one line naming the part and the option; at run time the
commands answer whatever the pid dir's name or the watchdog's history holds.
"""

import json
import os
import subprocess
import sys

import pytest

import support
from support import Ctl, program, wait_for

SERVICE = '''[web]
recipe = buildout_script:service
program = ${buildout:executable} -m http.server 8080 --bind 127.0.0.1
'''

ENTRY_POINT = '''[web]
recipe = buildout_script:service
entry-point = http.server:test
'''


# Orphaned daemons become pytest's children (conftest's subreaper).
pytestmark = pytest.mark.usefixtures('subreaper')


# == 8. refused at buildout time, naming the option ==================================================

@pytest.mark.parametrize('part, option, words', [
    (SERVICE + 'pid-dir =\n', 'pid-dir', 'is empty; give a directory'),
    (SERVICE + 'log-dir =\n', 'log-dir', 'is empty; give a directory'),
    (SERVICE + 'stop-signal =\n', 'stop-signal', 'is empty; give a signal'),
    (SERVICE + 'user = no-such-user-bsctl\n', 'user', "'no-such-user-bsctl' does not exist"),
    (ENTRY_POINT + 'arguments = )(\n', 'arguments', 'expected Python arguments'),
    (ENTRY_POINT + 'arguments = 1), print(2\n', 'arguments', 'expected Python arguments'),
    (SERVICE + 'entry-point = http.server:test\n', 'entry-point', 'not both'),
    (SERVICE + 'limits = nofile\n', 'limits', 'expected NAME=VALUE words such as nofile=65536'),
    (SERVICE + 'limits = files=10\n', 'limits', "unknown limit 'files'; known: as, core"),
    (SERVICE + 'limits = nofile=lots\n', 'limits', "nofile: expected a whole number or"),
    (SERVICE + 'limits = nofile=200:100\n', 'limits', 'the soft limit 200 is above the hard'),
    (SERVICE + 'memory-max = lots\n', 'memory-max', 'expected a size such as 50MB'),
    (SERVICE + 'memory-max-for = soon\n', 'memory-max-for', 'expected a number of seconds'),
    (SERVICE + 'nice = 20\n', 'nice', 'expected a whole number from -20 to 19'),
    (SERVICE + 'oom-score-adjust = x\n', 'oom-score-adjust', 'from -1000 to 1000'),
    (SERVICE + 'listen = localhost:http\n', 'listen', 'expected HOST:PORT, [IPV6]:PORT'),
    (SERVICE + 'listen = ::1:8080\n', 'listen', 'an IPv6 address goes in brackets'),
    (SERVICE + 'listen = 127.0.0.1:8080\nsupervise = false\n', 'listen',
     'needs supervise = true'),
    (SERVICE + 'listen = 127.0.0.1:8080\nready = http://127.0.0.1:8080/\n', 'ready',
     'probes a port the keeper holds'),
    (SERVICE + 'listen = 127.0.0.1:8080\nlisten-mode = rw\n', 'listen-mode',
     'expected an octal mode'),
])
def test_bad_option_is_refused_naming_it(sample, part, option, words):
    sample.configure(part)
    code, out = sample.buildout()
    assert code != 0, out
    assert "Error: Part 'web', option '%s': " % option in out, out
    assert words in out, out
    assert 'Traceback' not in out
    assert sample.ls('bin') == ['buildout']


def test_missing_egg_is_refused_naming_the_eggs_option(sample):
    sample.configure(ENTRY_POINT + 'eggs = no-such-egg-bsctl\n')
    code, out = sample.buildout('-o')
    assert code != 0, out
    assert "Error: Part 'web', option 'eggs': " in out and 'no-such-egg-bsctl' in out, out
    assert 'Traceback' not in out


@pytest.mark.parametrize('option', ['pid_dir', 'log_dir', 'stop_signal'])
def test_empty_option_on_the_command_line_is_a_bad_argument(cleanup, tmp_path, option):
    svc = Ctl(cleanup, tmp_path, program=program('sleep', '300'), **{option: ''})
    r = svc.run('stop')
    assert r.code == 2, r
    assert '--%s: is empty' % option.replace('_', '-') in r.err, r


def test_kill_with_an_empty_signal_is_a_bad_argument(cleanup, tmp_path):
    svc = Ctl(cleanup, tmp_path, program=program('sleep', '300'))
    r = svc.run('kill', '')
    assert r.code == 2, r


# == 8. run time: a pid dir that is not UTF-8, a history that is not finite ========================

def run_bytes(module, pid_dir, *action):
    env = dict(os.environ, PYTHONPATH=str(support.ROOT), LANG='C.UTF-8')
    return subprocess.run([sys.executable, '-m', module, '--name', 'x', '--program',
                           'sleep 300', '--pid-dir', pid_dir, '--log-dir', pid_dir]
                          + list(action), capture_output=True, env=env, timeout=60)


def test_a_pid_dir_that_is_not_utf8_is_named_not_a_crash(tmp_path):
    pid_dir = os.fsencode(tmp_path) + b'/run-\xff'
    os.mkdir(pid_dir)
    dead = subprocess.Popen(['true'])
    dead.wait()
    with open(pid_dir + b'/x.pid', 'w') as f:
        f.write('%d\n' % dead.pid)
    r = run_bytes('buildout_script.ctl', pid_dir, 'status')
    assert r.returncode == 1, r
    assert b'run-\\udcff' in r.stdout and b'Traceback' not in r.stderr, r
    r = run_bytes('buildout_script.check', pid_dir, '--no-restart')
    assert r.returncode == 2 and b'Traceback' not in r.stdout + r.stderr, r
    r = run_bytes('buildout_script.ctl', pid_dir, 'status', '--json')
    assert json.loads(r.stdout)['state'] == 'dead', r


@pytest.mark.parametrize('history', [
    '{"restarts": [Infinity]}', '{"restarts": [NaN]}', '{"gave_up": Infinity}',
    '{"restarts": "soon"}', '{"restarts": [true]}', '[1, 2]'])
def test_a_history_that_is_not_ours_is_started_afresh(cleanup, tmp_path, history):
    svc = Ctl(cleanup, tmp_path, program=program('sleep', '300'))
    svc.pid_dir.mkdir()
    (svc.pid_dir / 'svc.restarts').write_text(history)
    argv = svc.argv()
    argv[argv.index('buildout_script.ctl')] = 'buildout_script.check'
    done = subprocess.run(argv, env=svc.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done                   # WARNING: started it
    assert 'svc WARNING' in done.stdout and 'restarts=1' in done.stdout, done
    assert svc.run('stop').code == 0


# == 10. paster-check tells the truth ===============================================================

PASTER_CHECK = '''[site-check]
recipe = buildout_script
template = paster-check
name = site
pidfile = var/site.pid
start = ${buildout:executable} ${buildout:directory}/starter.py var/site.pid
'''

# In the manner of PasteScript: it refuses (and exits 0) while its PID file
# names a process that still exists, a zombie included; else starts a sleeper.
PASTER = '''import os, subprocess, sys
try:
    pid = int(open(sys.argv[1]).read())
except (OSError, ValueError):
    pid = None
if pid:
    try:
        os.kill(pid, 0)
        print('Daemon is already running (PID: %d from PID file %s)' % (pid, sys.argv[1]))
        sys.exit(0)
    except ProcessLookupError:
        pass
proc = subprocess.Popen(['sleep', '60'], start_new_session=True, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL)
with open(sys.argv[1], 'w') as f:
    f.write('%d\\n' % proc.pid)
'''


def test_paster_check_removes_a_zombies_pid_file_before_starting(sample):
    sample.write('starter.py', PASTER)
    sample.configure(PASTER_CHECK)
    assert sample.buildout()[0] == 0
    zombie = subprocess.Popen(['true'])             # not reaped until .wait()
    try:
        assert wait_for(lambda: open('/proc/%d/stat' % zombie.pid).read().split(') ')[1][0]
                        == 'Z')
        sample.write('var/site.pid', '%d\n' % zombie.pid)
        code, out = sample.run([sample.path('bin', 'site-check')])
        assert code == 1, out
        assert 'site WARNING - was not running; restarted (pid' in out, out
        os.kill(int(sample.read('var/site.pid')), 9)
    finally:
        zombie.wait()


def test_paster_check_is_critical_when_start_says_yes_and_nothing_runs(sample):
    sample.configure(PASTER_CHECK.replace(
        'start = ${buildout:executable} ${buildout:directory}/starter.py var/site.pid',
        'start = true'))
    assert sample.buildout()[0] == 0
    check = sample.read('bin/site-check')
    assert '\nSTART_WAIT = 3 ' in check
    sample.write('bin/site-check', check.replace('\nSTART_WAIT = 3 ', '\nSTART_WAIT = 0.2 '))
    code, out = sample.run([sample.path('bin', 'site-check')])
    assert code == 2, out
    assert out.startswith('site CRITICAL - not running; true exited 0 but no live process'
                          ' appeared'), out
