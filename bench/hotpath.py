"""Time short commands side by side, interleaved, by wall clock and by CPU (bench/run.sh).

    python3 bench/hotpath.py ROUNDS LABEL=PID... -- NAME=COMMAND...

Every round runs each command once (no shell; stdin, stdout and stderr on /dev/null; leading
`NAME=value` words set that command's environment, as in a shell, without an `env` exec), in an
order shuffled afresh each round (seeded, so a run can be repeated), so that drift in the machine's
load hits all alike and no command always follows the same other one (whose traces in the
caches it would always meet).
Wall time is `perf_counter_ns` around the spawn and wait. CPU time of a command is what the
process and its waited-for children used (`RUSAGE_CHILDREN`) plus, for a `kovra` command,
what its daemon used meanwhile (its threads and the child it started), since the work of
`kovra run` is split between the client and the daemon. LABEL=PID names the daemon whose CPU a
command named LABEL... is charged with.

The daemon's share is read from a cgroup of its own when one can be made (root: the daemon is
moved into a fresh cgroup for the run and back after; `cpuacct.usage` or `cpu.stat`, counted in
nanoseconds, the children it starts included). Otherwise it falls back to utime + stime + cutime
+ cstime in /proc/PID/stat, which moves in whole clock ticks (10 ms): per round that is 0 or
10 ms, so its mean is right but noisy by about a tenth of a millisecond at a thousand rounds.
Prints one JSON object: per command the min, p50 and mean wall time and the mean CPU time, in
milliseconds, and under "daemon_cpu" which way the daemon's share was read.

HOTPATH_PAUSE=SECONDS sleeps that long before each command, for what a command costs when it
is started now and then, as people and agents start them, rather than back to back: caches gone
cold, sleeping threads to wake, and kernel work that back-to-back runs share (a `/proc/locks`
read, say, whose first one after a pause waits for an RCU grace period).
"""

import json
import os
import random
import resource
import shlex
import subprocess
import sys
import time

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def daemon_cpu_ms(pid):
    """The daemon's CPU so far, its reaped children included (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3; utime..cstime are fields 14..17.
    return sum(int(x) for x in fields[11:15]) * TICK_MS


class Cgroup:
    """A cgroup holding just the daemon (and the children it starts), for its CPU in ns."""

    def __init__(self, pid):
        self.pid = pid
        self.home = None
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        root = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/cpuacct"
        self.usage = "cpu.stat" if v2 else "cpuacct.usage"
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if (v2 and controllers == "") or (not v2 and "cpuacct" in controllers.split(",")):
                    self.home = root + path
        self.dir = f"{root}/kovra-bench-{os.getpid()}-{pid}"
        os.mkdir(self.dir)
        try:
            self.move(self.dir)
            self.cpu_ms()
        except (OSError, StopIteration, ValueError):
            # Unreadable here (no usage line, say): put the daemon back and leave no cgroup.
            self.close()
            raise

    def move(self, to):
        with open(f"{to}/cgroup.procs", "w") as f:
            f.write(str(self.pid))

    def cpu_ms(self):
        with open(f"{self.dir}/{self.usage}") as f:
            text = f.read()
        if self.usage == "cpuacct.usage":
            return int(text) / 1e6
        usec = next(line.split()[1] for line in text.splitlines() if line.startswith("usage_usec"))
        return int(usec) / 1e3

    def close(self):
        try:
            if self.home:
                self.move(self.home)
        except OSError:
            pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def meters(daemons):
    """Per daemon label, a function giving its CPU so far in ms, and how it is read."""
    out, kinds, groups = {}, set(), []
    for label, pid in daemons.items():
        try:
            group = Cgroup(pid)
            groups.append(group)
            out[label] = group.cpu_ms
            kinds.add("cgroup")
        except (OSError, StopIteration, ValueError):
            out[label] = lambda pid=pid: daemon_cpu_ms(pid)
            kinds.add("ticks")
    return out, "+".join(sorted(kinds)) or "none", groups


def children_cpu_ms():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000.0


def split_env(cmd):
    """`A=1 B=2 prog args` -> (["prog", "args"], this environment with A and B set)."""
    words = shlex.split(cmd)
    env = dict(os.environ)
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    return words, env


def main():
    rounds = int(sys.argv[1])
    split = sys.argv.index("--")
    daemons = dict(a.split("=", 1) for a in sys.argv[2:split])
    commands = [a.split("=", 1) for a in sys.argv[split + 1 :]]
    meter, how, groups = meters(daemons)
    try:
        out = measure(rounds, commands, meter)
    finally:
        for group in groups:
            group.close()
    out["daemon_cpu"] = how
    print(json.dumps(out))


def charged(name, meter):
    """The meter of the daemon a command is charged with: the one label its name starts with.
    A name that starts with two (labels `a` and `a2`, command `a21`) is refused, since it
    cannot say which daemon did its work."""
    labels = [label for label in meter if name.startswith(label)]
    if len(labels) > 1:
        sys.exit(f"{name}: starts with more than one daemon label ({', '.join(labels)}); rename")
    return meter[labels[0]] if labels else None


def measure(rounds, commands, meter):
    walls = {name: [] for name, _ in commands}
    cpu = {name: 0.0 for name, _ in commands}
    devnull = subprocess.DEVNULL
    prepared = {name: split_env(cmd) for name, cmd in commands}
    for name, cmd in commands:  # warm caches and the daemon
        argv, env = prepared[name]
        for _ in range(10):
            subprocess.run(argv, env=env, stdin=devnull, stdout=devnull, stderr=devnull)
    order = random.Random(16)
    pause = float(os.environ.get("HOTPATH_PAUSE", "0"))
    for _ in range(rounds):
        for name, cmd in order.sample(commands, len(commands)):
            argv, env = prepared[name]
            if pause:
                time.sleep(pause)
            daemon = charged(name, meter)
            d0 = daemon() if daemon else 0.0
            c0 = children_cpu_ms()
            t0 = time.perf_counter_ns()
            done = subprocess.run(argv, env=env, stdin=devnull, stdout=devnull, stderr=devnull)
            walls[name].append((time.perf_counter_ns() - t0) / 1e6)
            cpu[name] += children_cpu_ms() - c0 + ((daemon() - d0) if daemon else 0.0)
            if done.returncode != 0:
                sys.exit(f"{name}: `{cmd}` exited {done.returncode}")
    out = {}
    for name, _ in commands:
        w = sorted(walls[name])
        out[name] = {
            "min_ms": round(w[0], 3),
            "p50_ms": round(w[len(w) // 2], 3),
            "mean_ms": round(sum(w) / len(w), 3),
            "cpu_ms": round(cpu[name] / rounds, 3),
        }
    return out


if __name__ == "__main__":
    main()
