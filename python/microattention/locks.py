"""File locks (flock) of the fold folders and the shared LMDBs.

A train-fold holds its fold folder's lock while it trains; the LMDBs of a
protocol fold, shared by every net, are built under an exclusive lock and read
under a shared one, so that no net rebuilds or deletes them while another
trains on them.

Some cluster filesystems have no flock (Lustre mounted without 'flock' gives
ENOSYS, some NFS set-ups EOPNOTSUPP or ENOLCK): the error then says so and what
to do, instead of claiming that another process holds the lock. Where the
scheduler already runs each fold once at a time (one Slurm array task per
fold) and the LMDBs are on node-local scratch, MA_NO_FLOCK=1 lets the work go
on without the locks such a filesystem cannot give.
"""
import errno
import os
import pathlib
import socket

from microattention.errors import UserError

NO_FLOCK_ENV = "MA_NO_FLOCK"
# errno values that mean "this filesystem does not do flock", not "held"
UNSUPPORTED = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK,
               getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
BUSY = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}


def owner():
    """host-pid: who made a temporary file (a pid means nothing on another
    host)."""
    return "%s-%d" % (socket.gethostname() or "localhost", os.getpid())


def parse_owner(text):
    """(host, pid) of an owner() string, or None."""
    host, _, pid = text.rpartition("-")
    return (host, int(pid)) if host and pid.isdigit() else None


def process_gone(host, pid):
    """True when (host, pid) is known to have ended: only a process of this
    host can be tested (kill 0); one of another host is never taken for gone."""
    if host != (socket.gethostname() or "localhost"):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class FileLock:
    """flock on `path` (created when missing). `what` names the locked thing
    in messages. `held` is False when locking was skipped (MA_NO_FLOCK on a
    filesystem without flock)."""

    def __init__(self, path, what):
        self.path = pathlib.Path(path)
        self.what = what
        self.handle = None
        self.held = False

    def acquire(self, exclusive=True, wait=True):
        """Take (or convert to) an exclusive or shared lock; False when
        wait is False and another process holds a conflicting lock."""
        import fcntl  # lazy: POSIX only
        if self.handle is None:
            self.handle = open(str(self.path), "a")
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(self.handle, mode)
        except OSError as exc:
            if exc.errno in BUSY and not wait:
                return False
            if exc.errno in UNSUPPORTED:
                if os.environ.get(NO_FLOCK_ENV) == "1":
                    self.held = False
                    return True
                self.release()
                raise UserError(no_flock_message(self.path, exc.errno))
            self.release()
            raise UserError("cannot lock %s (%s): %s" % (self.path, self.what,
                                                         exc.strerror or exc))
        self.held = True
        return True

    def release(self):
        if self.handle is not None:
            self.handle.close()        # closing drops the flock
            self.handle = None
        self.held = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def no_flock_message(path, number):
    return ("cannot lock %s: the filesystem there does not support flock (%s). The locks "
            "keep two processes from training the same fold or rebuilding LMDBs another "
            "one reads. Either put --run-dir on a filesystem with flock (ask for Lustre "
            "to be mounted with '-o flock'; NFS needs its lock service, not 'nolock'), "
            "or, when the scheduler runs each fold once at a time (one Slurm array task "
            "per fold, as tools/slurm/ does) and --lmdb-dir is on node-local disk, set "
            "%s=1 to go on without these locks."
            % (path, _NAMES.get(number) or errno.errorcode.get(number, number), NO_FLOCK_ENV))


# EOPNOTSUPP and ENOTSUP are one number on Linux; the name flock(2) gives
_NAMES = {errno.ENOSYS: "ENOSYS", errno.EOPNOTSUPP: "EOPNOTSUPP", errno.ENOLCK: "ENOLCK"}
