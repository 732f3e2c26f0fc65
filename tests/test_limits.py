"""limits, nice and oom-score-adjust: set on the program itself, read back
from /proc as the kernel holds them, in either mode and for foreground and
spawn; a limit the caller may not raise is one line."""

import os
import re
import sys

import pytest

import support
from support import gone, proc, wait_for

pytestmark = [support.linux_only, pytest.mark.usefixtures('subreaper')]

OPTIONS = dict(limits='nofile=64:128 core=0 nproc=4000', nice=5, oom_score_adjust=300)

# Opens /dev/null until the kernel refuses, then says how many it held.
OPENER = '''
import os, sys, time
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError as e:
    os.close(held.pop())                # room for the report
    with open(sys.argv[1], 'w') as f:
        f.write('%d %s' % (len(held) + 1, e.strerror))
time.sleep(300)
'''


def limits_of(pid):
    """{'Max open files': ('64', '128'), ...} from /proc/PID/limits."""
    found = {}
    with open('/proc/%d/limits' % pid) as f:
        for line in f.readlines()[1:]:
            name, soft, hard = re.match(r'(.+?)\s{2,}(\S+)\s+(\S+)', line).groups()
            found[name] = (soft, hard)
    return found


def nice_of(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[16])


def oom_score_adj_of(pid):
    with open('/proc/%d/oom_score_adj' % pid) as f:
        return int(f.read())


def assert_set(pid):
    limits = limits_of(pid)
    assert limits['Max open files'] == ('64', '128'), limits
    assert limits['Max core file size'] == ('0', '0'), limits
    assert limits['Max processes'] == ('4000', '4000'), limits
    assert nice_of(pid) == 5 and oom_score_adj_of(pid) == 300


@pytest.mark.parametrize('supervise', ['false', 'true'])
def test_the_program_runs_with_its_limits_priority_and_oom_score(service, supervise):
    svc = service(supervise=supervise, **OPTIONS)
    assert_set(svc.start_ok().pid)
    assert svc.run('stop').code == 0


@pytest.mark.parametrize('supervise', ['false', 'true'])
def test_a_program_that_opens_descriptors_fails_at_the_limit(service, tmp_path, supervise):
    out = tmp_path / 'held'
    svc = service(program=support.python_program(tmp_path, 'opener.py', OPENER, out),
                  supervise=supervise, limits='nofile=40')
    svc.start_ok()
    assert wait_for(out.exists)
    count, _, why = out.read_text().partition(' ')
    assert int(count) <= 37 and why == 'Too many open files', out.read_text()
    assert svc.run('stop').code == 0


def test_foreground_and_spawn_have_them_too(service):
    svc = service(**OPTIONS)
    foreground = svc.popen('foreground')
    assert wait_for(lambda: svc.pid_file.exists())
    assert svc.read_pid() == foreground.pid
    assert wait_for(lambda: proc(foreground.pid).name() == 'sleep')
    assert_set(foreground.pid)
    r = svc.run('spawn', '30')
    assert r.code == 0, r
    spawned = int(re.search(r'pid (\d+)', r.out).group(1))
    assert_set(spawned)
    assert svc.run('stop').code == 0
    foreground.wait(10)
    support.kill(spawned)
    assert wait_for(lambda: gone(proc(spawned)))


@support.needs_python_for_nobody
@pytest.mark.parametrize('options, words', [
    ({'limits': 'nofile=300'},
     'cannot set the limit nofile=300: the hard limit here is 200, and only root may'
     ' raise it'),
    ({'nice': -5}, 'cannot set nice = -5: only root may raise a priority'),
    ({'oom_score_adjust': -500}, 'cannot set oom-score-adjust = -500: only root may lower it'),
])
def test_what_the_caller_may_not_raise_is_one_line(cleanup, options, words):
    svc = support.Ctl(cleanup, cleanup.mkdtemp(), program=support.program('sleep', '300'),
                      **options)
    svc.tmp.chmod(0o777)
    env = svc.env()
    r = svc.run('start', python=support.python_for_nobody(), prefix=[
        'prlimit', '--nofile=100:200', '--', 'runuser', '-u', 'nobody', '--', 'env',
        'PYTHONPATH=%s' % env['PYTHONPATH'], '%s=%s' % (support.MARK, env[support.MARK])])
    assert r.code == 4, r
    assert support.one_line(r.err) == 'svc not started: %s' % words, r
    assert not svc.pid_file.exists()


def test_limits_in_a_buildout_part_reach_the_program(sample):
    sample.configure(support.WEB + 'limits = nofile=1024 core=0\nnice = 3\n')
    code, out = sample.buildout()
    assert code == 0, out
    try:
        assert sample.output('bin/webctl', 'start')[0] == 0
        pid = sample.read_pid('web')
        assert limits_of(pid)['Max open files'] == ('1024', '1024') and nice_of(pid) == 3
    finally:
        sample.run(['bin/webctl', 'stop'])


def test_a_limit_the_kernel_refuses_even_to_root_is_one_line(service):
    svc = service(limits='nofile=unlimited')
    r = svc.run('start')
    assert r.code == 4, r
    assert support.one_line(r.err).startswith(
        'svc not started: cannot set the limit nofile=unlimited: the kernel refuses it'), r



@pytest.mark.skipif(open('/proc/sys/kernel/core_pattern').read().strip() != 'core',
                    reason='needs core_pattern "core" (a core file in the working directory)')
@pytest.mark.parametrize('core, written', [('unlimited', True), ('0', False)])
def test_core_0_writes_no_core_file(service, tmp_path, core, written):
    """A program that aborts: with core=unlimited the kernel writes its
    core in its directory; with core=0 it writes none."""
    work = tmp_path / 'work'
    work.mkdir()
    svc = service(program=support.program(sys.executable, '-c', 'import os, time;'
                                          ' time.sleep(0.3); os.abort()'),
                  directory=work, limits='core=%s' % core, ready='alive:0.1')
    first = svc.start_ok()
    assert wait_for(lambda: gone(first))
    assert wait_for(lambda: any(name.startswith('core') for name in os.listdir(work)),
                    timeout=3) == written, os.listdir(work)
