"""spawn SECONDS: an extra, untracked instance of the program, stopped
after its timeout by a detached keeper; neither holds our descriptors."""

import json
import os
import re

import pytest

import support
from support import DUMPER, gone, program, proc, python_program, wait_for

pytestmark = support.linux_only


def spawned_pid(result):
    return int(re.search(r'pid (\d+)', result.out).group(1))


def test_spawn_runs_an_extra_instance_for_its_timeout(service, tmp_path):
    out = tmp_path / 'facts.json'
    svc = service(program=python_program(tmp_path, 'dumper.py', DUMPER, out))
    r = svc.run('spawn', '1', 'extra-arg')
    assert r.code == 0, r
    spawned = spawned_pid(r)
    assert wait_for(lambda: out.exists()), 'the spawned program did not run'
    assert json.loads(out.read_text())['argv'] == ['extra-arg']
    assert not svc.pid_file.exists()            # untracked
    assert wait_for(lambda: gone(proc(spawned)), timeout=20), 'not stopped after 1 s'
    assert wait_for(lambda: not support.running_with(str(tmp_path / 'dumper.py')))


def test_spawned_program_that_exits_early_leaves_no_child(service):
    svc = service(program=program('sh', '-c', 'sleep 300 & exit 0'))
    r = svc.run('spawn', '1')
    assert r.code == 0, r
    assert wait_for(lambda: svc.cleanup.leftovers() == [], timeout=20)


@pytest.mark.parametrize('whom', ['program', 'keeper'])
def test_spawn_passes_no_inherited_descriptor_to(service, tmp_path, whom):
    secret = tmp_path / 'secret'
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        svc = service()
        r = svc.run('spawn', '60', pass_fds=(fd,))
    finally:
        os.close(fd)
    assert r.code == 0, r
    p = proc(spawned_pid(r))
    if whom == 'keeper':
        p = p.parent()
        assert 'buildout_script.ctl' in p.cmdline()
    fds = support.open_fds(p.pid)
    assert str(secret) not in fds.values(), fds
    assert sorted(fds) == [0, 1, 2], fds
