"""``Cleanup``: what a test started, and the killing of whatever it left.

Every command gets ``BUILDOUT_SCRIPT_CTL_TEST=<the test's tmp dir>`` in
its environment and the programs it starts inherit it.  At tear-down
anything carrying that mark (or whose cwd or command line is inside the
test's directories, or whose PID is in one of its PID files and still
matches the identity beside it) is killed by identity -- psutil checks
the start time before it signals."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil

from buildout_script import process

from .commands import MARK, environment
from .processes import proc, reap_orphans


class Cleanup:
    """Tracks what a test starts; ``finish()`` kills whatever is left."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.dirs = [self.tmp]          # processes with cwd/cmdline here are ours
        self.popens = []                # Popen objects started by the test

    def mkdtemp(self):
        """A world-traversable directory outside tmp_path (for other users)."""
        path = Path(tempfile.mkdtemp(prefix='bsctl-'))
        path.chmod(0o755)
        self.dirs.append(path)
        return path

    def popen(self, argv, **kw):
        kw.setdefault('cwd', str(self.tmp))
        kw.setdefault('env', environment(self.tmp))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.popens.append(p)
        return p

    def run(self, argv, timeout=60, **kw):
        """Run ``argv`` to its end, marked as ours; a CompletedProcess with text."""
        kw.setdefault('cwd', str(self.tmp))
        kw.setdefault('env', environment(self.tmp))
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, **kw)

    def _ours(self, p):
        try:
            if p.info['status'] == psutil.STATUS_ZOMBIE:
                return False
            texts = [str(d) for d in self.dirs]
            cmdline = p.info['cmdline'] or []
            if any(t in arg for t in texts for arg in cmdline):
                return True
            cwd = p.info['cwd'] or ''
            if any(cwd == t or cwd.startswith(t + os.sep) for t in texts):
                return True
            return (p.info['environ'] or {}).get(MARK) == str(self.tmp)
        except (psutil.Error, OSError):
            return False

    def _from_pid_files(self):
        """Processes named by PID files under our dirs whose identity still
        matches (pid, start time and boot), so a reused PID is never killed."""
        found = []
        for d in self.dirs:
            for pid_file in Path(d).rglob('*.pid'):
                try:
                    if pid_file.is_symlink():
                        continue
                    pid = int(pid_file.read_text().strip())
                    words = pid_file.with_suffix('.identity').read_text().split()
                    if words[:3] == str(process.identity(pid)).split():
                        p = proc(pid)
                        if p is not None:
                            found.append(p)
                except (OSError, ValueError, IndexError):
                    continue
        return found

    def leftovers(self):
        me = os.getpid()
        found = {p.pid: p for p in self._from_pid_files() if p.pid != me}
        for p in psutil.process_iter(['cmdline', 'cwd', 'environ', 'status']):
            if p.pid != me and p.pid not in found and self._ours(p):
                found[p.pid] = p
        return list(found.values())

    def finish(self):
        for p in self.popens:
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
        for p in self.popens:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()
        for _ in range(3):
            victims = self.leftovers()
            if not victims:
                break
            for p in victims:
                try:
                    p.kill()            # psutil checks the identity first
                except psutil.Error:
                    pass
            psutil.wait_procs(victims, timeout=10)
        reap_orphans(self.popens)
        for d in self.dirs[1:]:
            _chmod_tree(d)
            shutil.rmtree(d, ignore_errors=True)
        self.dirs[0:] = [self.tmp]
        _chmod_tree(self.tmp)           # so pytest can remove it


def _chmod_tree(path):
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            try:
                os.chmod(os.path.join(dirpath, d), 0o755)
            except OSError:
                pass
