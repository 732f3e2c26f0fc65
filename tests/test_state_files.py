"""The pid dir and the state files in it: NAME.pid holds the bare PID,
NAME.identity proves it; both replaced atomically, never through a link,
never in a directory anyone can write."""

import os

import support
from support import one_line, started_here

pytestmark = support.linux_only


def test_pid_file_holds_the_bare_pid(service):
    svc = service()
    p = svc.start_ok()
    assert svc.pid_file.read_bytes() == b'%d\n' % p.pid
    assert svc.identity_file.read_text().split()[0] == str(p.pid)
    assert not [n for n in os.listdir(svc.pid_dir) if n.endswith('.tmp')]


def test_garbage_pid_file_is_reported_not_guessed(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.write_text('not a pid\n')
    r = svc.run('status')
    assert r.code == 4, r
    assert str(svc.pid_file) in one_line(r.err), r
    r = svc.run('start')
    assert r.code == 1 and str(svc.pid_file) in one_line(r.err), r


def test_pid_file_hard_link_is_refused_not_written_through(service, tmp_path):
    svc = service()
    svc.pid_dir.mkdir()
    other = tmp_path / 'stale.pid'
    other.write_text('999999\n')
    os.link(other, svc.pid_file)
    r = svc.run('start')                    # a hard link could be anyone's file
    assert r.code == 1 and 'hard links' in one_line(r.err), r
    assert other.read_text() == '999999\n'


def test_pid_file_symlink_is_not_followed(service, tmp_path):
    target = tmp_path / 'target'
    target.write_text('precious\n')
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_file.symlink_to(target)
    r = svc.run('start')
    assert r.code != 0, r
    assert 'symlink' in one_line(r.err) and str(svc.pid_file) in r.err, r
    assert target.read_text() == 'precious\n'
    assert svc.pid_file.is_symlink()
    assert not started_here(tmp_path)


def test_identity_symlink_is_replaced_not_followed(service, tmp_path):
    target = tmp_path / 'target'
    target.write_text('precious\n')
    svc = service()
    svc.pid_dir.mkdir()
    svc.identity_file.symlink_to(target)
    p = svc.start_ok()
    assert target.read_text() == 'precious\n'
    assert not svc.identity_file.is_symlink()
    assert svc.identity_file.read_text().split()[0] == str(p.pid)


def test_start_that_cannot_record_its_program_stops_it(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.identity_file.mkdir()               # the record cannot be written
    r = svc.run('start')
    assert r.code == 1, r
    assert str(svc.identity_file) in one_line(r.err), r
    assert not svc.pid_file.exists()
    assert svc.cleanup.leftovers() == [], 'the unrecorded program runs on'


def test_world_writable_pid_dir_without_sticky_bit_is_refused(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_dir.chmod(0o777)
    r = svc.run('start')
    assert r.code != 0, r
    assert str(svc.pid_dir) in one_line(r.err), r
    assert not svc.pid_file.exists()
    assert not started_here(svc.tmp)


def test_world_writable_pid_dir_with_sticky_bit_is_refused_too(service):
    svc = service()
    svc.pid_dir.mkdir()
    svc.pid_dir.chmod(0o1777)
    r = svc.run('start')
    assert r.code == 6 and 'use a directory only its owner can write' in one_line(r.err), r
    assert not started_here(svc.tmp)


def test_a_state_file_replaced_while_it_is_read_is_read_not_refused(tmp_path):
    """A reader that opened the file a writer then renamed over holds a file
    with no link left: the whole previous version, ours, not a forgery."""
    import threading
    import time
    from buildout_script import process
    from buildout_script.servicefiles import ServiceFiles
    from buildout_script.states import Record
    run = tmp_path / 'run'
    run.mkdir()
    files = ServiceFiles(str(run), 'svc')
    me = process.identity(os.getpid())
    done = threading.Event()
    written = []

    def rewrite():
        while not done.is_set():
            files.write_keeper(me, Record({'restarts': len(written)}))
            written.append(1)

    writer = threading.Thread(target=rewrite)
    writer.start()
    reads = 0
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ident, record = files.read_keeper()     # raised StateError ("0 hard links")
            assert ident in (None, me) and record.get('restarts', 0) >= 0
            reads += 1
    finally:
        done.set()
        writer.join()
    assert len(written) > 100 and reads > 100, (len(written), reads)
