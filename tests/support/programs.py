"""Small Python programs for services under test, each given to
``python_program()``, and the helpers that read what they report."""

from pathlib import Path

from .commands import program, python_program
from .processes import proc, wait_for


# Each is the source of a small Python program: give it to python_program().

# Records every catchable signal it gets (one name a line) in OUT; exits on
# those listed in argv[2].  OUT.ready appears once the handlers are in place.
RECORDER = '''
import os, signal, sys, time
out = sys.argv[1]
exit_on = set(filter(None, (sys.argv[2] if len(sys.argv) > 2 else '').split(',')))
def got(num, frame):
    name = signal.Signals(num).name
    with open(out, 'a') as f:
        f.write(name + '\\n')
    if name in exit_on:
        os._exit(0)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGQUIT):
    signal.signal(s, got)
open(out + '.ready', 'w').close()
while True:
    time.sleep(1)
'''

# Ignores TERM; forks a child that forks a grandchild (which leaves the
# process group with setsid when argv[2] says so); each writes "ROLE PID".
TREE = '''
import os, signal, sys, time
out, mode = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def report(role):
    with open(out, 'a') as f:
        f.write('%s %d\\n' % (role, os.getpid()))
if os.fork() == 0:
    if os.fork() == 0:
        if mode == 'setsid':
            os.setsid()
        report('grandchild')
    else:
        report('child')
else:
    report('leader')
while True:
    time.sleep(1)
'''

# A leader with one worker in its process group; both write "ROLE PID".
WORKERS = '''
import os, sys, time
out = sys.argv[1]
role = 'worker' if os.fork() == 0 else 'leader'
with open(out, 'a') as f:
    f.write('%s %d\\n' % (role, os.getpid()))
while True:
    time.sleep(1)
'''

# Listens on 127.0.0.1:PORT after DELAY seconds.
LISTENER = '''
import socket, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
time.sleep(delay)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
'''

# Creates FILE after DELAY seconds, then waits.
CREATOR = '''
import sys, time
time.sleep(float(sys.argv[2]))
open(sys.argv[1], 'w').close()
while True:
    time.sleep(1)
'''

# One line to stdout, then one to stderr, then FLAG; then waits.
PRINTER = '''
import sys, time
print('out-line', flush=True)
print('err-line', file=sys.stderr, flush=True)
open(sys.argv[1], 'w').close()
while True:
    time.sleep(1)
'''

# Writes what it was started with (cwd, umask, env, argv) to OUT as JSON.
DUMPER = '''
import json, os, sys, time
mask = os.umask(0)
os.umask(mask)
facts = {'cwd': os.getcwd(), 'umask': mask, 'argv': sys.argv[2:],
         'greeting': os.environ.get('GREETING')}
with open(sys.argv[1] + '.tmp', 'w') as f:
    json.dump(facts, f)
os.rename(sys.argv[1] + '.tmp', sys.argv[1])
while True:
    time.sleep(1)
'''


def recorder(tmp, out, exit_on='SIGTERM,SIGINT'):
    """Options of a service whose program records the signals it gets in
    ``out`` (a RECORDER); ready once its handlers are in place."""
    return dict(program=python_program(tmp, 'recorder.py', RECORDER, out, exit_on),
                ready='exec:' + program('test', '-e', '%s.ready' % out))


def roles(path, count, allow_gone=False):
    """{role: psutil.Process} once ``count`` "ROLE PID" lines are in ``path``
    (a role whose process has already gone is None if ``allow_gone``)."""
    def read():
        try:
            lines = Path(path).read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= count else None
    lines = wait_for(read)
    assert lines, 'the program did not report its processes in %s' % path
    found = {}
    for line in lines:
        role, pid = line.split()
        found[role] = proc(int(pid))
        assert allow_gone or found[role] is not None, line
    return found
