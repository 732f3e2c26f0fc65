"""memory-max: the family's memory (PSS of the program and of every
descendant that carries the service's mark), shown by status and
restarted when over, by the check and by the keeper; a peak shorter than
memory-max-for is left alone."""

import re

import pytest

import support
from support import wait_for

pytestmark = [support.linux_only, pytest.mark.usefixtures('subreaper')]

# The program stays small; its child (a worker) takes 60 MiB once the file
# argv[1] exists (and, if it holds a pid, only the child of that program),
# and gives it back once the file is gone.
LEAKER = '''
import os, sys, time
grow = sys.argv[1]

def told():
    try:
        with open(grow) as f:
            return f.read() in ('', str(os.getppid()))
    except OSError:
        return False
if os.fork() == 0:
    blob = None
    while True:
        if told() and blob is None:
            blob = b'x' * (60 << 20)
        elif not told():
            blob = None
        time.sleep(0.05)
time.sleep(300)
'''


@pytest.fixture
def leaker(tmp_path):
    grow = tmp_path / 'grow'
    return grow, support.python_program(tmp_path, 'leaker.py', LEAKER, grow)


def memory_of(svc):
    return svc.status_json()['memory']


def test_status_gives_the_familys_memory(service, leaker):
    grow, program = leaker
    svc = service(program=program)
    svc.start_ok()
    small = memory_of(svc)
    assert 1 << 20 < small < 40 << 20, small
    grow.touch()
    assert wait_for(lambda: memory_of(svc) > small + (50 << 20)), memory_of(svc)
    assert re.search(r'is running \(pid \d+, up \d+s, memory \d+\.\d MiB\)',
                     svc.run('status').out)
    assert svc.run('stop').code == 0


def test_the_check_restarts_a_program_over_memory_max(service, leaker):
    grow, program = leaker
    svc = service(program=program, memory_max='40MB')
    first = svc.start_ok()
    r = svc.check('-v')
    assert r.code == 0 and 'memory=' in r.out, r
    grow.write_text(str(first.pid))         # its worker grows; the next one's will not
    assert wait_for(lambda: memory_of(svc) > 40 << 20)
    r = svc.check()
    assert r.code == 1, r
    assert re.match(r'svc WARNING - running \(pid %d, up \d+s\) but its memory \d+\.\d MiB'
                    r' is over memory-max 40\.0 MiB; restarted it \(pid \d+\)' % first.pid,
                    r.out), r
    assert svc.read_pid() != first.pid
    assert wait_for(lambda: memory_of(svc) < 40 << 20)
    assert svc.check().code == 0
    assert svc.run('stop').code == 0


def test_the_check_leaves_a_peak_shorter_than_memory_max_for(service, leaker):
    grow, program = leaker
    svc = service(program=program, memory_max='40MB', memory_max_for=3600)
    first = svc.start_ok()
    grow.touch()
    assert wait_for(lambda: memory_of(svc) > 40 << 20)
    for _ in range(2):
        r = svc.check('-v')
        assert r.code == 0 and 'running (pid %d' % first.pid in r.out, r
    assert svc.read_pid() == first.pid
    assert svc.run('stop').code == 0


def test_the_keeper_restarts_a_program_over_memory_max(kept, leaker):
    grow, program = leaker
    svc = kept(program=program, memory_max='40MB')
    first = svc.start_ok()
    grow.write_text(str(first.pid))         # its worker grows; the next one's will not
    assert wait_for(lambda: svc.read_pid() != first.pid, timeout=30), svc.log.read_text()
    said = r'pid %d over memory-max: \d+\.\d MiB of 40\.0 MiB; restarted it \(pid \d+, restart' \
        r' 1 of 5' % first.pid
    assert wait_for(lambda: re.search(said, svc.log.read_text())), svc.log.read_text()
    assert wait_for(lambda: svc.status_json()['state'] == 'running')
    st = svc.status_json()
    assert st['restarts'] == 1 and st['last-exit'].startswith('over memory-max: '), st
    assert svc.run('stop').code == 0


def test_the_keeper_leaves_a_peak_shorter_than_memory_max_for(kept, leaker):
    grow, program = leaker
    svc = kept(program=program, memory_max='40MB', memory_max_for=3600)
    first = svc.start_ok()
    grow.touch()
    assert wait_for(lambda: memory_of(svc) > 40 << 20)
    assert not wait_for(lambda: svc.read_pid() != first.pid, timeout=2)
    assert svc.run('stop').code == 0
