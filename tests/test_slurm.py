"""tools/slurm/ on a real Slurm: a single-node cluster (munged, slurmctld and
slurmd, everything configured under a temporary folder and pointed at by
SLURM_CONF) runs a reduced CDE protocol (2 folds of generated faces, 1 epoch,
real Caffe) through tools/slurm/submit.sh: one fold per array task, then the
dependent report job. Checks every fold was trained exactly once and the
report pooled them, that a second submission queues only what is missing
(nothing but the report, which changes no file, once all folds are done),
and that a failed task cancels the report rather than leaving it pending
forever.

Runs in the image as any user with a name (the daemons run as that user, who
is the only one submitting: no root needed). Skipped when Slurm is not
installed, unless MA_REQUIRE_SLURM is set (CI), where that is a failure. The daemons are always shut down, and any process
left with our SLURM_CONF in its environment is killed by pid: daemons started
in a container that shares the host's process namespace outlive it and would
hold the ports."""
import csv
import hashlib
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from microattention import metrics

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUBMIT = ROOT / "tools" / "slurm" / "submit.sh"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
# Reduced CDE: CASME II + SAMM, one subject each, so two folds, trained at
# once on a node of two CPUs. Each training side holds 2 classes x 5 corner
# crops: 2 iterations of the CDE batch (8) in its one epoch.
ROWS = [("casme2", "sub01", "happiness"), ("casme2", "sub01", "surprise"),
        ("samm", "006", "anger"), ("samm", "006", "disgust")]
EPOCHS = 1
NET = "micro_attention"
WAIT_SECONDS = 240
CRED_EXPIRE = 10


def _need_slurm():
    missing = [b for b in BINARIES if shutil.which(b, path=SBIN_PATH) is None]
    if missing:
        reason = "Slurm and munge are not installed (no %s)" % ", ".join(missing)
    elif _user() is None:
        reason = "uid %d has no user name, which Slurm needs" % os.geteuid()
    else:
        return
    if os.environ.get("MA_REQUIRE_SLURM"):
        pytest.fail(reason + "; MA_REQUIRE_SLURM is set, so this is an error")
    pytest.skip(reason)


def _user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def _free_port():
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _read_pid(path):
    try:
        return int(pathlib.Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    """Running (not gone, not a zombie). Daemons re-parent to pid 1, which is
    pytest itself in a container: reap them then, or they stay zombies."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        stat = pathlib.Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pids_with_env(entry):
    """Pids of processes whose environment holds `entry` (b"SLURM_CONF=...")."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry in env:
            found.append(int(proc.name))
    return found


class Cluster:
    """A one-node Slurm under `folder`: start(), run(), stop()."""

    def __init__(self, folder):
        self.dir = pathlib.Path(folder)
        self.conf = self.dir / "slurm.conf"
        self.munge = self.dir / "munge"
        self.env = dict(os.environ)
        self.env.update(SLURM_CONF=str(self.conf), PATH=SBIN_PATH)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "python"), self.env.get("PYTHONPATH", "")])
        self.env.pop("GLOG_minloglevel", None)   # conftest's; caffe logs go to the fold logs
        self.env.pop("MA_EXEC", None)
        self.pids = {}
        self.user = _user()

    def write_config(self):
        for sub in ("munge", "state", "spool", "log"):
            (self.dir / sub).mkdir(mode=0o700)
        key = self.munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        cpus = max(2, min(os.cpu_count() or 2, 4))
        # Both address families: a container with only a loopback interface
        # (docker --network none) has no IPv4 address getaddrinfo would accept
        # for an IPv4-only Slurm.
        self.conf.write_text("\n".join([
            "ClusterName=matest",
            "SlurmctldHost=localhost(127.0.0.1)",
            "SlurmctldPort=%d" % _free_port(),
            "SlurmdPort=%d" % _free_port(),
            "CommunicationParameters=EnableIPv4,EnableIPv6",
            # one user runs the daemons and submits: slurmd needs no root then
            "SlurmUser=%s" % self.user,
            "SlurmdUser=%s" % self.user,
            "AuthType=auth/munge",
            "CredType=cred/munge",
            # A requeued job waits cred_expire seconds (120 by default) before it
            # may start again: its first run's credential is revoked on the node
            # until then, and a job started earlier is killed ("Job credential
            # revoked"). 10 s keeps the requeue test short without a shortcut.
            "AuthInfo=socket=%s,cred_expire=%d" % (self.munge / "munge.socket",
                                                   CRED_EXPIRE),
            "StateSaveLocation=%s" % (self.dir / "state"),
            "SlurmdSpoolDir=%s" % (self.dir / "spool"),
            "SlurmctldPidFile=%s" % (self.dir / "slurmctld.pid"),
            "SlurmdPidFile=%s" % (self.dir / "slurmd.pid"),
            "SlurmctldLogFile=%s" % (self.dir / "log" / "slurmctld.log"),
            "SlurmdLogFile=%s" % (self.dir / "log" / "slurmd.log"),
            "JobCompType=jobcomp/filetxt",
            "JobCompLoc=%s" % (self.dir / "log" / "jobcomp.txt"),
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/builtin",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "KillWait=5",
            "NodeName=localhost NodeAddr=127.0.0.1 CPUs=%d RealMemory=1000 State=UNKNOWN"
            % cpus,
            "PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            ""]))

    def start(self):
        self.write_config()
        m = self.munge
        self._daemon("munged", ["munged", "--force", "--key-file=%s" % (m / "munge.key"),
                                "--socket=%s" % (m / "munge.socket"),
                                "--pid-file=%s" % (m / "munged.pid"),
                                "--log-file=%s" % (m / "munged.log"),
                                "--seed-file=%s" % (m / "munged.seed")], m / "munged.pid")
        self._daemon("slurmctld", ["slurmctld", "-i"], self.dir / "slurmctld.pid")
        self._daemon("slurmd", ["slurmd", "-N", "localhost"], self.dir / "slurmd.pid")
        deadline = time.time() + 30
        state = ""
        while time.time() < deadline:
            state = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return
            time.sleep(0.5)
        raise AssertionError("the node did not come up (sinfo: %r)\n%s" % (state, self.logs()))

    def _daemon(self, name, argv, pidfile):
        proc = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True)
        deadline = time.time() + 10
        while _read_pid(pidfile) is None and time.time() < deadline:
            time.sleep(0.1)
        pid = _read_pid(pidfile)
        if proc.returncode != 0 or pid is None:
            raise AssertionError("%s did not start (exit %d): %s\n%s"
                                 % (name, proc.returncode, proc.stdout, self.logs()))
        self.pids[name] = pid

    def run(self, *argv, check=True, cwd=None):
        proc = subprocess.run([str(a) for a in argv], env=self.env, cwd=str(cwd or self.dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError("%s: exit %d\n%s\n%s" % (" ".join(map(str, argv)),
                                                        proc.returncode, proc.stdout,
                                                        proc.stderr))
        return proc

    def wait(self, *job_ids):
        """Wait until the jobs have left the queue; their final states."""
        ids = ",".join(str(j) for j in job_ids)
        deadline = time.time() + WAIT_SECONDS
        while time.time() < deadline:
            queued = self.run("squeue", "-h", "-j", ids, "-o", "%i %T", check=False)
            if queued.returncode == 0 and not queued.stdout.strip():
                break
            time.sleep(1)
        else:
            raise AssertionError("jobs %s still queued after %d s:\n%s\n%s"
                                 % (ids, WAIT_SECONDS, queued.stdout, self.logs()))
        return self.final_states()

    def final_states(self):
        """{job id or array_id_task: (state, exit code)} from the jobcomp file."""
        states = {}
        path = self.dir / "log" / "jobcomp.txt"
        for line in path.read_text().splitlines() if path.exists() else []:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            job = fields["JobId"]
            if fields.get("ArrayJobId"):
                job = "%s_%s" % (fields["ArrayJobId"], fields["ArrayTaskId"])
            states[job] = (fields["JobState"], fields.get("ExitCode", ""))
        return states

    def logs(self):
        text = []
        for path in sorted((self.dir / "log").glob("*.log")) + [self.munge / "munged.log"]:
            if path.exists():
                text.append("== %s\n%s" % (path, "\n".join(
                    path.read_text(errors="replace").splitlines()[-25:])))
        return "\n".join(text)

    def stop(self):
        if "slurmctld" in self.pids:
            self.run("scancel", "--user", self.user, check=False)
            self.run("scontrol", "shutdown", check=False)
        deadline = time.time() + 15
        while time.time() < deadline and any(
                _alive(p) for n, p in self.pids.items() if n != "munged"):
            time.sleep(0.2)
        # Stragglers: a daemon that did not stop, a job step, a job's children.
        leftovers = [p for n, p in self.pids.items() if n != "munged" and _alive(p)]
        leftovers += _pids_with_env(("SLURM_CONF=%s" % self.conf).encode())
        for pid in sorted(set(leftovers)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if "munged" in self.pids and _alive(self.pids["munged"]):
            os.kill(self.pids["munged"], signal.SIGTERM)
            deadline = time.time() + 5
            while _alive(self.pids["munged"]) and time.time() < deadline:
                time.sleep(0.1)
            if _alive(self.pids["munged"]):
                os.kill(self.pids["munged"], signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster():
    _need_slurm()
    # Short path: the munge socket's must fit in a sockaddr_un (108 bytes).
    folder = tempfile.mkdtemp(prefix="ma-slurm-")
    c = Cluster(folder)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(folder, ignore_errors=True)


def write_data(folder, rows):
    """Index CSV + faces folder (faces.csv, 240x240 gray crops) for rows
    (dataset, subject, label), one clip and apex frame each."""
    import cv2
    from microattention.datasets.common import COLUMNS, sample_id
    (folder / "faces" / "crops").mkdir(parents=True)
    rng = np.random.RandomState(11)
    index_rows, faces_rows = [], []
    for n, (dataset, subject, label) in enumerate(rows):
        row = dict.fromkeys(COLUMNS, "")
        row.update(dataset=dataset, subject=subject, clip="clip%d" % n, label=label,
                   frame="1", frame_path="x.png", root=str(folder))
        index_rows.append(row)
        crop = "crops/%03d.png" % n
        assert cv2.imwrite(str(folder / "faces" / crop),
                           (rng.rand(240, 240) * 200 + 20).astype(np.uint8))
        faces_rows.append({"sample_id": sample_id(row), "crop": crop, "status": "ok"})
    for name, columns, table in (("index.csv", COLUMNS, index_rows),
                                 ("faces/faces.csv", ["sample_id", "crop", "status"],
                                  faces_rows)):
        with open(str(folder / name), "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(table)
    return folder / "index.csv", folder / "faces", [sample_id(r) for r in index_rows]


def tree_state(folder):
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


def job_ids(output):
    train = re.search(r"job array (\d+)", output)
    report = re.search(r"report: +job (\d+)", output)
    assert report, output
    return (train.group(1) if train else None), report.group(1)


@pytest.fixture(scope="module")
def cde(cluster):
    from microattention.nets import prototxt as nets
    try:
        nets.import_caffe()
    except ImportError:
        pytest.skip("pycaffe not available (run inside the image)")
    folder = cluster.dir / "data"
    folder.mkdir()
    index, faces, ids = write_data(folder, ROWS)
    weights = folder / "init.caffemodel"
    model = nets.build(nets.render_deploy(NET, num_output=5))
    nets.fill_random(model, np.random.RandomState(3), data_mean=110.0, data_std=58.0)
    model.save(str(weights))
    folds_json = folder / "folds_cde.json"
    cluster.run(sys.executable, "-m", "microattention", "folds", "--index", index,
                "--protocol", "cde", "--out", folds_json)
    fold_ids = [f["fold"] for f in json.loads(folds_json.read_text())["folds"]]
    run_dir = cluster.dir / "runs"
    train_options = ["--index", index, "--faces", faces, "--weights", weights,
                     "--run-dir", run_dir, "--epochs", EPOCHS]
    # MA_EXEC stands for a container command with options ("apptainer exec
    # --bind DIR IMAGE"): this one notes each command, drops its option, runs it.
    wrapper = folder / "container"
    wrapper.write_text('#!/bin/sh\n[ "$1" = --bind ] && shift 2\n'
                       'echo "$4" >> %s\nexec "$@"\n' % (folder / "container.log"))
    wrapper.chmod(0o755)
    cluster.env["MA_EXEC"] = "%s --bind %s" % (wrapper, folder)
    try:
        submitted = cluster.run(SUBMIT, "cde", folds_json, "--cpus-per-task=1", "--mem=200M",
                                "--max-running=2", "--", *train_options)
    finally:
        del cluster.env["MA_EXEC"]
    train, report = job_ids(submitted.stdout)
    states = cluster.wait(train, report)
    # every project command went through MA_EXEC: submit's check, each task's
    # fold lookup and training, the report
    assert sorted((folder / "container.log").read_text().split()) == sorted(
        ["plan", "fold-id", "fold-id", "train-fold", "train-fold", "report"])
    return dict(folds=folds_json, fold_ids=fold_ids, ids=ids, run_dir=run_dir,
                options=train_options, train=train, report=report, states=states,
                submitted=submitted.stdout)


def predictions(path):
    with open(str(path), newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_fold_trained_once_then_the_report(cde, cluster):
    fold_ids, run_dir, train = cde["fold_ids"], cde["run_dir"], cde["train"]
    assert fold_ids == ["casme2_sub01", "samm_006"]
    assert "tasks 0-1%2 of the 2 folds" in cde["submitted"]
    tasks = {"%s_%d" % (train, i): ("COMPLETED", "0:0") for i in range(len(fold_ids))}
    assert {k: v for k, v in cde["states"].items() if k.startswith(train + "_")} == tasks, \
        cluster.logs()
    assert cde["states"][cde["report"]] == ("COMPLETED", "0:0")

    # one log per task, each naming the fold of its task number, each fold once
    logs = sorted((run_dir / "slurm").glob("ma-train_%s_*.out" % train))
    assert [p.name for p in logs] == ["ma-train_%s_%d.out" % (train, i)
                                      for i in range(len(fold_ids))]
    for number, path in enumerate(logs):
        text = path.read_text()
        assert re.findall(r"ma-train: fold (\S+) done", text) == [fold_ids[number]], text

    folds = json.loads(cde["folds"].read_text())["folds"]
    out = run_dir / "cde" / NET
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(fold_ids)
    for fold in folds:
        done = json.loads((out / fold["fold"] / "done.json").read_text())
        assert done["settings"]["fold"] == fold["fold"]
        assert done["settings"]["epochs"] == EPOCHS
        rows = predictions(out / fold["fold"] / "predictions.csv")
        assert [r["sample_id"] for r in rows] == fold["test"]
        assert {r["fold"] for r in rows} == {fold["fold"]}

    # the report job pooled all folds: every sample predicted exactly once
    report_log = (run_dir / "slurm" / ("ma-report_%s.out" % cde["report"])).read_text()
    pooled = predictions(out / "predictions.csv")
    assert sorted(r["sample_id"] for r in pooled) == sorted(cde["ids"])
    assert [r["fold"] for r in pooled] == [f["fold"] for f in folds for _ in f["test"]]
    result = json.loads((out / "metrics.json").read_text())
    again = metrics.evaluate(str(out / "predictions.csv"), per_fold=True)
    assert result["folds_pooled"] == fold_ids
    assert result["pooled"]["samples"] == len(ROWS)
    assert result["pooled"]["war"] == pytest.approx(again["pooled"]["war"])
    assert result["pooled"]["uar"] == pytest.approx(again["pooled"]["uar"])
    assert "WAR %.4f" % again["pooled"]["war"] in report_log, report_log


def test_resubmission_queues_only_what_is_missing(cde, cluster):
    out = cde["run_dir"] / "cde" / NET
    plan = [sys.executable, "-m", "microattention.train.slurm", "plan", "--protocol", "cde",
            "--folds", cde["folds"], "--"] + cde["options"]
    # a fold without done.json (killed, failed, timed out) is queued again
    done = out / "samm_006" / "done.json"
    done.rename(done.with_name("done.json.away"))
    try:
        assert "pending=1\n" in cluster.run(*plan).stdout
        # and the report refuses (it never trains), naming the fold and its task
        report = [a if a != "plan" else "report" for a in plan]
        refused = cluster.run(*report, check=False)
        assert refused.returncode == 1
        assert "1 of 2 fold(s) are not finished: samm_006 (task 1)" in refused.stderr
        assert not (out / "samm_006" / "done.json").exists()
    finally:
        done.with_name("done.json.away").rename(done)
    assert cluster.run(*plan).stdout == "count=2\npending=\nsha256=%s\nrun_dir=%s\n" % (
        hashlib.sha256(cde["folds"].read_bytes()).hexdigest(), cde["run_dir"])

    # everything finished: only the report is queued, and it changes no file
    whole = tree_state(out)
    submitted = cluster.run(SUBMIT, "cde", cde["folds"], "--mem=200M", "--", *cde["options"])
    assert "all 2 folds are finished already" in submitted.stdout
    train, report = job_ids(submitted.stdout)
    assert train is None
    assert cluster.wait(report)[report] == ("COMPLETED", "0:0")
    assert tree_state(out) == whole


def test_a_failed_task_cancels_the_report(cde, cluster):
    # task 7 of a 2-fold file fails at once, with a message naming the file
    submitted = cluster.run(SUBMIT, "cde", cde["folds"], "--array=7", "--cpus-per-task=1",
                            "--mem=200M", "--", *cde["options"])
    train, report = job_ids(submitted.stdout)
    states = cluster.wait(train, report)
    assert states["%s_7" % train][0] == "FAILED"
    assert states[report][0] == "CANCELLED"   # not pending forever on a dependency
    log = (cde["run_dir"] / "slurm" / ("ma-train_%s_7.out" % train)).read_text()
    assert "array task 7: fold file %s holds 2 folds, tasks 0-1" % cde["folds"] in log


def test_submit_refuses_a_fold_file_of_another_index_or_protocol(cde, cluster, tmp_path):
    other = tmp_path / "other.csv"
    text = pathlib.Path(cde["options"][1]).read_text()
    other.write_text(text.replace("sub01", "sub09"))
    bad = cluster.run(SUBMIT, "cde", cde["folds"], "--", "--index", other,
                      *cde["options"][2:], check=False)
    assert bad.returncode == 1
    assert "was split from another index than --index %s" % other in bad.stderr
    bad = cluster.run(SUBMIT, "loso", cde["folds"], "--", *cde["options"], check=False)
    assert bad.returncode == 1
    assert "holds the folds of protocol cde, not loso" in bad.stderr
    bad = cluster.run(SUBMIT, "cde", cde["folds"], "--mem=200M", check=False)
    assert bad.returncode == 2 and "no '--' before the train-fold options" in bad.stderr
    bad = cluster.run(SUBMIT, "cde", cde["folds"], "--max-running=0", "--", *cde["options"],
                      check=False)
    assert bad.returncode == 2 and "--max-running 0: give a whole number" in bad.stderr


# ---------------------------------------------------------------- without Slurm

def test_array_spec_compresses_task_numbers():
    from microattention.train.slurm import array_spec
    assert array_spec([]) == ""
    assert array_spec([4]) == "4"
    assert array_spec([0, 1, 2, 3]) == "0-3"
    assert array_spec([0, 1, 3, 5, 6, 7, 45]) == "0-1,3,5-7,45"


def test_helper_errors_name_the_file_task_and_option(tmp_path):
    from microattention.train import slurm
    from microattention.errors import UserError
    index = tmp_path / "index.csv"
    from microattention.datasets.common import COLUMNS
    with open(str(index), "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for n, (dataset, subject, label) in enumerate(ROWS):
            writer.writerow(dict(dict.fromkeys(COLUMNS, ""), dataset=dataset, subject=subject,
                                 clip="c%d" % n, label=label, frame="1"))
    folds_json, folds_csv = tmp_path / "f.json", tmp_path / "f.csv"
    from microattention import cli
    assert cli.main(["folds", "--index", str(index), "--protocol", "cde",
                     "--out", str(folds_json), "--out", str(folds_csv)]) == 0
    assert [slurm.fold_id(str(folds_json), t) for t in ("0", "1")] == \
        ["casme2_sub01", "samm_006"]
    with pytest.raises(UserError, match="array task 2: fold file .*f.json holds 2 folds, "
                                        "tasks 0-1"):
        slurm.fold_id(str(folds_json), "2")
    with pytest.raises(UserError, match="array task 'x' is not a number"):
        slurm.fold_id(str(folds_json), "x")
    with pytest.raises(UserError, match="f.csv: give the .json fold file"):
        slurm.fold_id(str(folds_csv), "0")
    with pytest.raises(UserError, match="give --fold to the Slurm scripts"):
        slurm.train_fold_options("cde", ["--fold", "samm_006", "--index", str(index)])
    with pytest.raises(UserError, match="train-fold options: .*--weights"):
        slurm.train_fold_options("cde", ["--index", str(index), "--faces", str(tmp_path)])
    code = slurm.main(["fold-id", "--folds", str(folds_json), "--task", "0",
                       "--sha256", "0" * 64])
    assert code == 1   # the file changed since submission (other checksum)


def test_signal_before_the_time_limit_requeues_and_resumes_from_the_last_epoch(
        cde, cluster, tmp_path):
    """USR1, as Slurm sends it --signal=B:USR1@300 before the time limit, to
    the batch shell of a task training 4 epochs: train-fold stops, the task is
    requeued, and its second run resumes from the last finished epoch. With
    TMPDIR set, the LMDBs are built on that scratch and deleted when done."""
    run_dir = cluster.dir / "runs-requeue"
    scratch = cluster.dir / "scratch"
    scratch.mkdir()
    options = [str(a) for a in cde["options"][:-4]] + ["--run-dir", str(run_dir),
                                                       "--epochs", "4"]
    env_before = dict(cluster.env)
    cluster.env["TMPDIR"] = str(scratch)
    try:
        submitted = cluster.run(
            "sbatch", "--parsable", "--array=0", "--cpus-per-task=1", "--mem=200M",
            "--output=%s/requeue_%%A_%%a.out" % cluster.dir,
            ROOT / "tools" / "slurm" / "train_folds.sbatch", "cde", cde["folds"], "--",
            *options)
    finally:
        cluster.env.clear()
        cluster.env.update(env_before)
    array = submitted.stdout.strip().split(";")[0]
    task = "%s_0" % array
    fold = run_dir / "cde" / NET / cde["fold_ids"][0]
    per_epoch = 2
    deadline = time.time() + WAIT_SECONDS
    while time.time() < deadline:      # epoch 1 finished, epoch 2 under way
        progress = fold / "progress.json"
        if progress.is_file() and json.loads(progress.read_text())["iteration"] >= per_epoch:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("epoch 1 never finished\n" + cluster.logs())
    interrupted_at = json.loads((fold / "progress.json").read_text())["iteration"]
    cluster.run("scancel", "--batch", "--signal=USR1", task)
    # Slurm holds a requeued job back for cred_expire seconds (its begin
    # time); starting it sooner gets it killed, so the test only waits
    deadline = time.time() + WAIT_SECONDS
    while time.time() < deadline:
        state = cluster.run("squeue", "-h", "-j", task, "-o", "%T %r", check=False).stdout
        if state.startswith("PENDING"):
            print("requeued: squeue -j %s: %s" % (task, state.strip()))
            break
        time.sleep(0.5)
    else:
        raise AssertionError("task %s was not requeued (squeue: %r)\n%s"
                             % (task, state, cluster.logs()))
    cluster.wait(task)
    shown = cluster.run("scontrol", "show", "job", task, check=False).stdout
    log = (cluster.dir / ("requeue_%s_0.out" % array)).read_text()
    print("scontrol show job:\n%s\ntask log:\n%s" % (shown, log))
    print("jobcomp:\n%s" % (cluster.dir / "log" / "jobcomp.txt").read_text())
    # the log's end and the daemons' logs: a CI summary cuts long texts in the middle
    why = "%s\ntask log, end:\n%s\n%s" % (shown, "\n".join(log.splitlines()[-15:]),
                                          cluster.logs())
    assert "Restarts=1" in shown, why
    assert re.search(r"JobState=COMPLETED", shown), why
    assert log.count("ma-train: job %s task 0" % array) == 2, log    # two runs, one log
    assert "USR1 (time limit near)" in log and "requeueing job" in log, log
    assert log.count("ma-train: fold %s done" % cde["fold_ids"][0]) == 1, log
    done = json.loads((fold / "done.json").read_text())
    assert done["settings"]["epochs"] == 4
    caffe_log = (fold / "caffe.log").read_text()
    # the second run resumed: one start from the weights, every later epoch
    # from the snapshot of the one before, the epoch cut short done again
    first_resume = caffe_log.index("Resuming from")
    assert "Finetuning from" in caffe_log[:first_resume]
    assert "Finetuning from" not in caffe_log[first_resume:]
    assert caffe_log.count("epoch 1/4,") == 1     # train-fold's header of each epoch
    resumed = [int(i) for i in re.findall(r"Resuming from \S+_iter_(\d+)\.solverstate",
                                           caffe_log)]
    assert resumed == sorted(resumed) and resumed[-1] == 3 * per_epoch, resumed
    assert len(resumed) >= 3 and interrupted_at in resumed
    epochs = json.loads((fold / "progress.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    # LMDBs on the scratch ($TMPDIR), deleted when done; none under the run folder
    assert str(scratch / "ma-lmdb" / "cde" / cde["fold_ids"][0] / "train") in \
        (fold / "train_val.prototxt").read_text()
    assert not (run_dir / "cde" / "lmdb").exists()
    assert [p.name for p in (scratch / "ma-lmdb" / "cde" / cde["fold_ids"][0]).iterdir()] \
        == [".lock"]
