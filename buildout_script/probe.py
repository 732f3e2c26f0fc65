"""Probes: is the service ready (``ready``) or healthy (``check``)?

Forms (validated by config.parse_probe): ``tcp:HOST:PORT`` connects;
``http://`` and ``https://`` URLs must answer 2xx or 3xx (redirects are not
followed, and certificates are not verified: this asks "is it up?", not
"is it who it says"); ``exec:COMMAND`` must exit 0.  ``alive:SECONDS`` is
judged by the caller from the process's uptime.  Each probe imports only
what its form needs.
"""

def run(probe, timeout):
    """(passed, detail) for one attempt, never longer than ``timeout``."""
    kind, _, rest = probe.partition(':')
    kind = kind.lower()
    try:
        if kind == 'tcp':
            return _tcp(rest, timeout)
        if kind in ('http', 'https'):
            return _http(probe, timeout)
        if kind == 'exec':
            return _exec(rest, timeout)
    except OSError as e:
        return False, e.strerror or str(e)
    except ValueError as e:             # what validation could not foresee
        return False, str(e)
    raise ValueError('not a probe: %r' % probe)


def alive_seconds(probe):
    """The SECONDS of an ``alive:SECONDS`` probe, else None."""
    kind, _, rest = (probe or '').partition(':')
    return float(rest) if kind.lower() == 'alive' else None


def _tcp(address, timeout):
    import socket
    host, _, port = address.rpartition(':')
    with socket.create_connection((host.strip('[]'), int(port)), timeout=timeout):
        return True, 'connected to %s' % address


def _http(url, timeout):
    import http.client
    import urllib.parse
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == 'https':
        import ssl
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        path = parts.path or '/'
        conn.request('GET', path + ('?' + parts.query if parts.query else ''))
        status = conn.getresponse().status
    except http.client.HTTPException as e:
        return False, 'bad HTTP answer: %s' % (e.__class__.__name__,)
    finally:
        conn.close()
    return 200 <= status < 400, 'HTTP %d' % status


def _exec(command, timeout):
    import shlex
    from .launch import run_quietly
    code = run_quietly(shlex.split(command), timeout)
    if code is None:
        return False, '%s timed out after %gs' % (command, timeout)
    if code == 0:
        return True, '%s exited 0' % command
    return False, '%s exited %d' % (command, code)
