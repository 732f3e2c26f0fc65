"""``ctl log [-n N] [-f]``: the last lines of a log, and what follows.

Following survives rotation: when the name points to a new file (logrotate,
or the keeper's own size rotation), the rest of the old file is read, then
the new one from its start, as ``tail -F`` does.
"""

import os
import sys
import time


def parse_args(args):
    """(lines, follow) from ``-n N``, ``-nN``, ``-f``; ValueError if wrong."""
    lines, follow = 10, False
    args = list(args)
    while args:
        word = args.pop(0)
        if word in ('-f', '--follow'):
            follow = True
        elif word in ('-n', '--lines') and args:
            lines = _count(args.pop(0))
        elif word.startswith('-n') and len(word) > 2:
            lines = _count(word[2:])
        else:
            raise ValueError('log takes -n LINES and -f, got %r' % word)
    return lines, follow


def _count(text):
    if not text.isdigit():
        raise ValueError('-n needs a number of lines, got %r' % text)
    return int(text)


def last_lines(f, count):
    """The last ``count`` lines of an open binary file, reading from its end."""
    end = f.seek(0, os.SEEK_END)
    data, at = b'', end
    while at > 0 and data.count(b'\n') <= count:
        step = min(65536, at)
        at -= step
        f.seek(at)
        data = f.read(step) + data
    lines = data.splitlines(keepends=True)
    f.seek(end)
    return lines[-count:] if count else []


def show(path, count, follow, out=None, interval=0.2):
    out = out or sys.stdout.buffer
    try:
        f = open(path, 'rb')
    except OSError as e:
        print('%s: %s' % (path, e.strerror), file=sys.stderr)
        return 1
    try:
        out.writelines(last_lines(f, count))
        out.flush()
        while follow:
            data = f.read()
            if data:
                out.write(data)
                out.flush()
                continue
            try:
                moved = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except OSError:
                moved = False
            if moved:
                out.write(f.read())         # what came after our last read
                out.flush()
                f.close()
                f = open(path, 'rb')
                continue
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        pass
    finally:
        f.close()
    return 0
