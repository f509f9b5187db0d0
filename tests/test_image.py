"""Checks of the image itself: who the entrypoint runs commands as, where the
workspace is, and that no extra CA certificate reached the final image.

The host-side checks (a file written to /workspace appears in the mounted
folder, owned by its owner; no certificate in any layer) are in .ci/check-image."""
import glob
import os
import pathlib
import subprocess

import pytest

ENTRYPOINT = "/opt/micro-attention/tools/entrypoint"
in_image = pytest.mark.skipif(
    not (os.path.isfile(ENTRYPOINT) and os.path.isdir("/workspace")),
    reason="runs inside the image only")


def mounted(path):
    """Is `path` a mount point (e.g. a checkout mounted over the project)?"""
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4] == path for line in handle)


@in_image
def test_commands_run_as_the_owner_of_workspace():
    # docker compose run / .ci/in-image start the container as root; the
    # entrypoint must have dropped to the owner of /workspace (or MA_UID:MA_GID).
    st = os.stat("/workspace")
    want_uid = int(os.environ.get("MA_UID") or st.st_uid)
    want_gid = int(os.environ.get("MA_GID") or st.st_gid)
    assert (os.getuid(), os.geteuid()) == (want_uid, want_uid)
    assert (os.getgid(), os.getegid()) == (want_gid, want_gid)
    if want_uid != 0:
        # No supplementary groups kept from root, and a HOME we may write.
        assert os.getgroups() in ([], [want_gid])
        home = pathlib.Path(os.environ["HOME"])
        probe = home / ".probe"
        probe.write_text("x")
        probe.unlink()


@in_image
@pytest.mark.skipif(os.getuid() != 0, reason="only root can drop to another uid")
def test_entrypoint_drops_to_chosen_ids_and_changes_no_owner(tmp_path):
    os.chown(str(tmp_path), 4321, 4321)
    before = os.stat("/workspace")
    env = dict(os.environ, MA_UID="4321", MA_GID="4322")
    out = subprocess.run(
        [ENTRYPOINT, "sh", "-c", "id -u; id -g; id -G; echo $HOME; touch %s/made" % tmp_path],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == ["4321", "4322", "4322", "/tmp/home-4321"]
    made = os.stat(str(tmp_path / "made"))
    assert (made.st_uid, made.st_gid) == (4321, 4322)
    after = os.stat("/workspace")
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


@in_image
def test_entrypoint_keeps_the_exit_status_and_arguments():
    out = subprocess.run([ENTRYPOINT, "sh", "-c", 'printf "%s|" "$@"; exit 7', "sh", "a b", ""],
                         stdout=subprocess.PIPE, universal_newlines=True)
    assert (out.returncode, out.stdout) == (7, "a b||")


@in_image
def test_project_workspace_is_the_mounted_workspace():
    project = "/opt/micro-attention"
    if mounted(project):
        pytest.skip("a checkout is mounted over %s (MA_MOUNT_SOURCE=1)" % project)
    link = pathlib.Path(project, "workspace")
    assert link.is_symlink()
    assert os.path.realpath(str(link)) == "/workspace"


@in_image
def test_no_extra_ca_certificate_in_the_image():
    project = "/opt/micro-attention"
    assert glob.glob("/usr/local/share/ca-certificates/**/*.crt", recursive=True) == []
    if not mounted(project):
        assert glob.glob(project + "/certs/*.crt") == []
    # The trust bundle holds exactly Debian's Mozilla set: one more certificate
    # would mean an extra CA was trusted when the final stage was built.
    bundle = pathlib.Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    mozilla = glob.glob("/usr/share/ca-certificates/mozilla/*.crt")
    assert len(mozilla) > 100
    assert bundle.count("-----BEGIN CERTIFICATE-----") == len(mozilla)
