#!/usr/bin/env bash
# Tests of the container image and the compose stack in docker/, with real
# programs but no Docker engine (none runs here, and no image can be pulled):
#
#   1. static: the Dockerfile (BuildKit's own parser, via the `dockerfile`
#      package), .dockerignore, compose.yml (YAML, with Compose's ${VAR}
#      interpolation from .env.example) agree with each other, with the
#      README's settings tables and with server/src/config.rs; Telegraf's
#      config (tomllib) is applied, as Telegraf's mqtt_consumer does, to the
#      topics a live bridge publishes (docker/testdata/published-topics.txt):
#      every pattern matches, every value gets device/kind/index/metric tags;
#      Debian's docker-compose (v1), when installed, validates compose.yml too;
#   2. the health check script (docker/healthcheck.sh) against a stub HTTP
#      server answering 200, then 503, and against a closed port;
#   3. the real Mosquitto (Debian's) runs docker/mosquitto/mosquitto.conf and
#      acl: a temporary copy with only the listener (127.0.0.1, a free port)
#      and the file paths changed, passwords made with mosquitto_passwd -b
#      from throwaway ones. The bridge account publishes the recorded tree and
#      receives commands; the read-only account reads it (through Telegraf's
#      own subscriptions too) but its commands never reach the bridge; no
#      anonymous or wrong-password client gets in; compose's Mosquitto health
#      check and the entrypoint that writes the password file work;
#   4. with a pdu-bridge binary as argument: that bridge (simulated PDU)
#      against the same broker with its account: its topics are the recorded
#      ones, Telegraf's patterns and types fit its payloads, the health check
#      passes, operator commands work and the reader's do not.
#
#   bash docker/test-stack.sh [PATH/TO/pdu-bridge]
#
# Needs python3 (3.11+), mosquitto and mosquitto-clients. PyYAML and
# `dockerfile` are pip-installed into a temporary venv when missing.
# Loopback only (127.0.0.1). Ends with "stack: N passed, M failed"; exits
# non-zero when a check failed.
#
# docker/testdata/published-topics.txt is the topic tree a bridge publishes
# under pdu/ (device pdu44001, default settings, simulated PDU), one topic a
# line, recorded from a live bridge. Regenerate it from a running bridge
# (scripts/run.sh: embedded broker on 127.0.0.1:1883) when the tree changes;
# with a binary given, this test says when it no longer matches:
#
#   mosquitto_sub -h 127.0.0.1 -p 1883 -t 'pdu/#' -v -W 5 \
#     | cut -d' ' -f1 | LC_ALL=C sort -u > docker/testdata/published-topics.txt
#
# (-W 5: retained topics arrive at once, then five seconds of live ones.)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${1:-}"
tmp="$(mktemp -d)"
chmod 755 "$tmp" # Mosquitto, started as root, reads its files as user mosquitto.
pids=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok   $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL $1${2:+: $2}"; }
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}
section() { printf '\n%s\n' "$*"; }
finish() {
  echo
  echo "stack: $passed passed, $failed failed"
  [ "$failed" = 0 ]
  exit
}

# --- Python with PyYAML, tomllib and the Dockerfile parser ----------------------
section "python"
PY=python3
need=()
"$PY" -c 'import yaml' 2>/dev/null || need+=(pyyaml)
"$PY" -c 'import dockerfile' 2>/dev/null || need+=(dockerfile)
"$PY" -c 'import tomllib' 2>/dev/null || need+=(tomli)
if [ ${#need[@]} -gt 0 ]; then
  echo "  installing ${need[*]} into a temporary venv"
  if python3 -m venv --system-site-packages "$tmp/venv" >"$tmp/venv.log" 2>&1 \
    && "$tmp/venv/bin/python" -m pip install -q "${need[@]}" >>"$tmp/venv.log" 2>&1; then
    PY="$tmp/venv/bin/python"
  else
    sed 's/^/    /' "$tmp/venv.log"
    fail "python packages ${need[*]} installed"
    finish
  fi
fi
ok "python $("$PY" -c 'import sys; print(sys.version.split()[0])') with PyYAML, tomllib and the Dockerfile parser"

cat >"$tmp/stack.py" <<'PY'
"""Static checks of docker/ for docker/test-stack.sh, and helpers it calls.

Prints one line a check: "ok<TAB>name" or "FAIL<TAB>name<TAB>why".
  stack.py static ROOT
  stack.py payloads ROOT                 topic<TAB>payload for the recorded tree
  stack.py filters ROOT I                consumer I's subscription filters
  stack.py expect ROOT I FILE            the topics of FILE consumer I receives
  stack.py healthcmd ROOT                Mosquitto's compose health check command
  stack.py live ROOT CAPTURE             checks on a live bridge's capture
"""

import json
import os
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = sys.argv[2]
D = os.path.join(ROOT, "docker")
PREFIXES = ("BRIDGE_", "MQTT_", "PDU_", "HISTORY_")
# Plain values that are words, not numbers (shared/spec/mqtt.md).
WORDS = {"state", "name", "voltage_status", "load_state", "current_source", "preferred_source",
         "redundancy", "availability", "status", "power_supply"}
# Topics (after pdu/{id}/) whose payload is JSON, never a value.
JSON_TOPICS = {"status", "device", "automation/status", "automation/event", "alarms", "alarm"}


def report(ok, name, detail=""):
    print(("ok" if ok else "FAIL") + "\t" + name + ("" if ok or not detail else "\t" + " ".join(str(detail).split())))
    sys.stdout.flush()


def group(name):
    """Run a group of checks; an exception fails the group instead of stopping."""
    def wrap(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any error is a failed check
            report(False, name, f"{type(e).__name__}: {e}")
        return fn
    return wrap


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


# --- the project's own word: README tables, settings in config.rs -------------

def readme_vars():
    names = set()
    for line in read("README.md").splitlines():
        if line.startswith("|"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", line))
    return names


def readme_default(var):
    """The default cell of the README row naming `var` ("`a` / 8080" -> per position)."""
    for line in read("README.md").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and f"`{var}`" in cells[0]:
            names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
            values = [v.strip().strip("`") for v in cells[1].split(" / ")]
            if len(values) == len(names):
                return values[names.index(var)]
            return values[0]
    return None


def settings_vars():
    src = read("server", "src", "config.rs")
    return set(re.findall(r'"((?:BRIDGE|MQTT|PDU|HISTORY)_[A-Z0-9_]+)"', src))


# --- compose: YAML plus Compose's ${VAR} interpolation -------------------------

VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def env_example():
    values = {}
    for line in read("docker", ".env.example").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


class Interp:
    def __init__(self, env):
        self.env = env
        self.used = set()
        self.required = {}  # var -> where

    def string(self, s, where):
        def rep(m):
            if m.group(0) == "$$":
                return "$"
            name = m.group(1) or m.group(4)
            self.used.add(name)
            op, arg = m.group(2), m.group(3) or ""
            val = self.env.get(name)
            if op == ":-":
                return val if val else arg
            if op == "-":
                return val if val is not None else arg
            if op in (":?", "?"):
                self.required.setdefault(name, set()).add(where)
                if not val:
                    raise KeyError(f"required variable {name} has no value ({arg})")
                return val
            return val or ""
        return VAR.sub(rep, s)

    def tree(self, node, where=""):
        if isinstance(node, str):
            return self.string(node, where)
        if isinstance(node, list):
            return [self.tree(v, where) for v in node]
        if isinstance(node, dict):
            return {k: self.tree(v, where or k) for k, v in node.items()}
        return node


def compose_raw():
    import yaml
    with open(os.path.join(D, "compose.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def compose():
    raw = compose_raw()
    it = Interp(env_example())
    services = {name: it.tree(svc, name) for name, svc in raw["services"].items()}
    return raw, services, it


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def raw_var(value):
    """The one variable a raw compose value is made of (${X:?...} -> X)."""
    m = VAR.fullmatch(str(value))
    return m and (m.group(1) or m.group(4))


# --- Mosquitto: config, ACL, the accounts the entrypoint writes ----------------

def mosquitto_conf():
    conf = {}
    for line in read("docker", "mosquitto", "mosquitto.conf").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key, []).append(value.strip())
    return conf


def acl():
    users, user = {}, None
    for line in read("docker", "mosquitto", "acl").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user":
            user = words[1]
            users.setdefault(user, [])
        elif words[0] == "topic" and user:
            access, pattern = (words[1], words[2]) if len(words) == 3 else ("readwrite", words[1])
            users[user].append((access, pattern))
    return users


def entrypoint_accounts():
    """{username: password variable} from `printf 'user:%s\\n' "$VAR"` lines."""
    src = read("docker", "mosquitto", "entrypoint.sh")
    return dict(re.findall(r"printf '([a-z0-9-]+):%s\\n' \"\$([A-Z_]+)\"", src))


def filter_matches(flt, topic):
    """MQTT subscription filter matching (+ one level, # the rest)."""
    f, t = flt.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def acl_allows(rules, access, topic):
    return any(a in (access, "readwrite") and filter_matches(p, topic) for a, p in rules)


# --- Telegraf: mqtt_consumer as Telegraf applies it ----------------------------

def telegraf():
    with open(os.path.join(D, "telegraf", "telegraf.conf"), "rb") as f:
        return tomllib.load(f)


def consumers():
    return telegraf()["inputs"]["mqtt_consumer"]


def parse_match(pattern, topic):
    """Telegraf's topic_parsing match: same number of levels, + or equal."""
    p, t = pattern.split("/"), topic.split("/")
    return len(p) == len(t) and all(a == "+" or a == b for a, b in zip(p, t))


def telegraf_metric(consumer, topic):
    """(measurement, tags) Telegraf makes of a message on `topic`, None if not subscribed."""
    if not any(filter_matches(f, topic) for f in consumer["topics"]):
        return None
    name = consumer.get("name_override", "mqtt_consumer")
    tags = {}
    topic_tag = consumer.get("topic_tag", "topic")
    if topic_tag:
        tags[topic_tag] = topic
    parts = topic.split("/")
    for tp in consumer.get("topic_parsing", []):
        if not parse_match(tp["topic"], topic):
            continue
        for i, key in enumerate(tp.get("measurement", "").split("/")):
            if key not in ("_", ""):
                name = parts[i]
                break
        for i, key in enumerate(tp.get("tags", "").split("/")):
            if key not in ("_", ""):
                tags[key] = parts[i]
    return name, tags


def recorded_topics():
    with open(os.path.join(D, "testdata", "published-topics.txt"), encoding="utf-8") as f:
        return [t.strip() for t in f if t.strip() and not t.startswith("#")]


def rest(topic):
    """pdu/{id}/rest -> rest"""
    return topic.split("/", 2)[2]


def metric_of(topic):
    """The metric a topic carries: its last part, or the part before a
    trailing number (power_supply/2 carries a power supply's state)."""
    parts = topic.split("/")
    return parts[-2] if parts[-1].isdigit() and not parts[-2].isdigit() and parts[-2] not in ("outlet", "bank") else parts[-1]


# --- .dockerignore --------------------------------------------------------------

def dockerignore():
    pats = []
    for line in read(".dockerignore").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line)
    return pats


def di_regex(p):
    out, i = "", 0
    while i < len(p):
        if p.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif p.startswith("**", i):
            out, i = out + ".*", i + 2
        elif p[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif p[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(p[i]), i + 1
    return re.compile(out)


def ignored(path, pats):
    parts, result = path.strip("/").split("/"), False
    for p in pats:
        neg = p.startswith("!")
        rx = di_regex(p.lstrip("!").strip("/"))
        if any(rx.fullmatch("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not neg
    return result


# --- Dockerfile (the official parser, via the `dockerfile` package) --------------

def dockerfile_stages():
    import dockerfile
    stages = []
    for c in dockerfile.parse_file(os.path.join(D, "Dockerfile")):
        if c.cmd.upper() == "FROM":
            stages.append({"from": list(c.value), "cmds": []})
        elif stages:
            stages[-1]["cmds"].append(c)
    return stages


def env_pairs(cmds):
    env = {}
    for c in cmds:
        if c.cmd.upper() == "ENV":
            v = list(c.value)
            env.update(zip(v[0::2], v[1::2]))
    return env


# =================================================================================

def static():
    documented = readme_vars()
    settings = settings_vars()
    ex_env = env_example()

    state = {}

    @group("Dockerfile parses (BuildKit's parser)")
    def _():
        state["stages"] = dockerfile_stages()
        report(True, "Dockerfile parses (BuildKit's parser)")

    stages = state.get("stages")
    if stages:
        build, run = stages[0], stages[-1]
        report(len(stages) >= 2 and build["from"][0] == "rust:1.95-bookworm" and run["from"][0] == "debian:bookworm-slim",
               "Dockerfile: multi-stage, rust:1.95-bookworm builder, debian:bookworm-slim runtime",
               [s["from"] for s in stages])
        build_run = " ".join(" ".join(c.value) for c in build["cmds"] if c.cmd.upper() == "RUN")
        lib = read("scripts", "lib.sh")
        helpers = sorted(set(re.findall(r"\b(ensure_[a-z_]+)\b", build_run)))
        missing = [h for h in helpers if not re.search(rf"^{h}\(\)", lib, re.M)]
        report("scripts/build-site.sh --release" in build_run and re.search(r"cargo build --release\b.*-p server", build_run)
               and helpers and not missing,
               "Dockerfile: builds the release site and server the way scripts/ do",
               f"helpers missing from scripts/lib.sh: {missing}" if missing else build_run[:200])
        runtime_run = " ".join(" ".join(c.value) for c in run["cmds"] if c.cmd.upper() == "RUN")
        report("apt-get install" not in runtime_run, "Dockerfile: the runtime stage installs no packages", runtime_run)
        users = [c.value[0] for c in run["cmds"] if c.cmd.upper() == "USER"]
        user = users[-1].split(":")[0] if users else "root"
        created = re.search(rf"useradd\b.*--uid {re.escape(user)}\b", runtime_run) or re.search(rf"useradd\b.*\b{re.escape(user)}$", runtime_run)
        report(user not in ("root", "0") and bool(created), "Dockerfile: runs as a non-root user it creates", f"USER {users}")
        env = env_pairs(run["cmds"])
        report(env.get("BRIDGE_MQTT_BIND") == "0.0.0.0" and env.get("BRIDGE_WEB_BIND") == "0.0.0.0",
               "Dockerfile: dashboard and embedded broker bind 0.0.0.0 (BRIDGE_WEB_BIND, BRIDGE_MQTT_BIND)", env)
        odd = sorted(k for k in env if k.startswith(PREFIXES) and (k not in documented or k not in settings))
        report(not odd, "Dockerfile: every setting it sets is a documented setting", odd)
        expose = {v.split("/")[0] for c in run["cmds"] if c.cmd.upper() == "EXPOSE" for v in c.value}
        web, mqtt = readme_default("BRIDGE_WEB_PORT"), readme_default("MQTT_PORT")
        report(expose == {"8080", "1883"} and web == "8080" and mqtt == "1883" and env.get("BRIDGE_WEB_PORT", web) == web,
               "Dockerfile: EXPOSE 8080 1883 = README's BRIDGE_WEB_PORT and MQTT_PORT defaults",
               f"EXPOSE {sorted(expose)}, README {web} / {mqtt}")
        hc = [c for c in run["cmds"] if c.cmd.upper() == "HEALTHCHECK"]
        hc_cmd = list(hc[-1].value[1:]) if hc and hc[-1].value[0].upper() == "CMD" else []
        copies = {c.value[-1]: c for c in run["cmds"] if c.cmd.upper() == "COPY"}
        script_copy = copies.get(hc_cmd[0]) if hc_cmd else None
        script_ok = bool(script_copy) and "/api/health" in read(*script_copy.value[0].split("/"))
        report(hc_cmd and script_ok and "`GET /api/health`" in read("README.md"),
               "Dockerfile: HEALTHCHECK runs a script copied in that asks /api/health (README's endpoint)", hc_cmd)
        state["healthcheck"] = hc_cmd
        entry = [list(c.value) for c in run["cmds"] if c.cmd.upper() == "ENTRYPOINT"]
        bins = [c for c in run["cmds"] if c.cmd.upper() == "COPY" and any(f.startswith("--from=") for f in c.flags)]
        report(entry and entry[-1][0] in {c.value[-1] for c in bins}, "Dockerfile: ENTRYPOINT is the binary copied from the builder", entry)

        pats = dockerignore()
        sources = [c.value[0] for s in stages for c in s["cmds"]
                   if c.cmd.upper() in ("COPY", "ADD") and not any(f.startswith("--from=") for f in c.flags) and c.value[0] != "."]
        bad = [s for s in sources if not os.path.exists(os.path.join(ROOT, s)) or ignored(s, pats)]
        report(not bad, "Dockerfile: what it copies exists and is in the build context", bad)

    @group(".dockerignore")
    def _():
        pats = dockerignore()
        out = ["target", "target/site/pkg/pdu_bridge.js", "end2end/node_modules", "end2end/node_modules/binaryen/bin/wasm-opt",
               ".git", ".git/HEAD", "data", "data/history.db", ".env", "docker/.env", "fuzz/target"]
        keep = ["Cargo.toml", "Cargo.lock", "app/src/lib.rs", "frontend/Cargo.toml", "server/src/main.rs", "server/build.rs",
                "server/tests/tests.rs", "style/main.css", "public", "scripts/lib.sh", "scripts/build-site.sh",
                "end2end/package.json", "end2end/package-lock.json", "docker/healthcheck.sh", "docker/Dockerfile"]
        wrong = [p for p in out if not ignored(p, pats)] + ["!" + p for p in keep if ignored(p, pats)]
        report(not wrong, ".dockerignore: leaves out target/, node_modules, .git, data/, .env; keeps the sources", wrong)

    @group("compose.yml parses")
    def _():
        raw, services, it = compose()
        state.update(raw=raw, services=services, interp=it)
        report(True, "compose.yml parses (YAML, every ${VAR} from .env.example)")

    services = state.get("services")
    if not services:
        return
    raw = state["raw"]
    it = state["interp"]

    report(set(services) == {"bridge", "mosquitto", "telegraf", "influxdb"}, "compose: services bridge, mosquitto, telegraf, influxdb", sorted(services))
    profiles = {n: s.get("profiles") for n, s in services.items()}
    report(profiles == {"bridge": None, "mosquitto": None, "telegraf": ["influx"], "influxdb": ["influx"]},
           "compose: Telegraf and InfluxDB are the optional profile influx", profiles)
    images = {n: s.get("image") for n, s in services.items()}
    report(images["mosquitto"] == "eclipse-mosquitto:2" and images["influxdb"] == "influxdb:2.7"
           and str(images["telegraf"]).startswith("telegraf:") and "build" in services["bridge"],
           "compose: images eclipse-mosquitto:2, influxdb:2.7, telegraf; the bridge built from docker/Dockerfile", images)
    no_hc = [n for n, s in services.items() if not (s.get("healthcheck") or {}).get("test")]
    report(not no_hc, "compose: every service has a health check", no_hc)
    bad_dep = [(n, d, c) for n, s in services.items() for d, c in (s.get("depends_on") or {}).items()
               if d not in services or c.get("condition") != "service_healthy"]
    report(not bad_dep, "compose: dependencies wait for healthy services", bad_dep)

    named = set(raw.get("volumes") or {})
    used_named, binds = set(), []
    for n, s in services.items():
        for v in s.get("volumes") or []:
            src = v.split(":")[0]
            if src.startswith((".", "/")):
                binds.append((n, v))
            else:
                used_named.add(src)
    missing_bind = [b for b in binds if not os.path.exists(os.path.join(D, b[1].split(":")[0]))]
    report(named == used_named and not missing_bind, "compose: named volumes declared and used; bind mounts exist",
           f"declared {sorted(named)}, used {sorted(used_named)}, missing {missing_bind}")

    # Variables: .env.example lists exactly what compose uses; no real secrets.
    ex = env_example()
    report(it.used == set(ex), "compose: .env.example lists exactly the variables compose.yml uses",
           f"missing {sorted(it.used - set(ex))}, unused {sorted(set(ex) - it.used)}")
    secrets = {k: v for k, v in ex.items() if re.search(r"PASSWORD|TOKEN|SECRET", k)}
    report(all(v == "" or v.startswith("change-me") for v in secrets.values()), ".env.example: no real secrets (empty or change-me)", secrets)
    gated = sorted(v for v, where in it.required.items() if all(profiles.get(w) for w in where))
    report(not gated, "compose: only variables the core services need are required (Compose interpolates every profile)", gated)

    # The bridge: its settings are the README's and config.rs's.
    benv = environment(services["bridge"])
    odd = sorted(k for n, s in services.items() for k in environment(s)
                 if k.startswith(PREFIXES) and (k not in documented or k not in settings))
    report(not odd, "compose: every BRIDGE_/MQTT_/PDU_ variable it sets is a README-documented setting", odd)
    report(len([k for k in benv if k.startswith(PREFIXES)]) >= 10, "compose: the bridge's settings are passed", sorted(benv))

    ports = [str(p) for p in services["bridge"].get("ports") or []]
    container_ports = {p.rsplit(":", 1)[-1].split("/")[0] for p in ports}
    expose = {"8080", "1883"}
    if stages:
        expose = {v.split("/")[0] for c in stages[-1]["cmds"] if c.cmd.upper() == "EXPOSE" for v in c.value}
    report(benv.get("BRIDGE_WEB_PORT") == "8080" and container_ports == {benv.get("BRIDGE_WEB_PORT")} and container_ports <= expose,
           "compose: the bridge's published port = BRIDGE_WEB_PORT, exposed by the Dockerfile", ports)
    loopback = all(p.startswith("127.0.0.1:") for s in services.values() for p in map(str, s.get("ports") or []))
    report(loopback and ex.get("HOST_BIND") == "127.0.0.1", "compose: ports published on the host's loopback by default", ports)
    hc = services["bridge"]["healthcheck"]["test"]
    report(hc[0] == "CMD" and hc[1:] == state.get("healthcheck"), "compose: the bridge's health check = the Dockerfile's HEALTHCHECK",
           f"{hc} vs {state.get('healthcheck')}")

    # MQTT: the bridge on Mosquitto with its account.
    conf = mosquitto_conf()
    users = acl()
    accounts = entrypoint_accounts()
    listener = conf.get("listener", ["?"])[0].split()[0]
    report(benv.get("MQTT_BROKER") == "mosquitto" and benv.get("MQTT_PORT") == listener,
           "compose: MQTT_BROKER / MQTT_PORT = the mosquitto service and its listener", f"{benv.get('MQTT_BROKER')}:{benv.get('MQTT_PORT')} vs {listener}")
    menv_raw = raw["services"]["mosquitto"].get("environment") or {}
    user = benv.get("MQTT_USERNAME")
    bridge_pw_var = raw_var(raw["services"]["bridge"]["environment"]["MQTT_PASSWORD"])
    account_var = accounts.get(user)
    report(user in users and account_var and raw_var(menv_raw.get(account_var)) == bridge_pw_var,
           "compose: MQTT_USERNAME / MQTT_PASSWORD = the bridge's Mosquitto account",
           f"user {user}, password ${bridge_pw_var}, account from ${account_var}")
    rules = users.get(user, [])
    needs = [("write", "pdu/pdu44001/outlet/3/power"), ("write", "pdu/pdu44001/bridge/status"),
             ("write", "pdu/pdu44001/outlet/3/command/response"), ("read", "pdu/pdu44001/outlet/3/command"),
             ("write", "homeassistant/switch/pdu_X/outlet_3/config"), ("read", "homeassistant/status")]
    report(all(acl_allows(rules, a, t) for a, t in needs) and not acl_allows(rules, "read", "pdu/pdu44001/outlet/3/power"),
           "ACL: the bridge publishes pdu/# and homeassistant/#, reads commands only", rules)
    reader = users.get("pdu-reader", [])
    report(acl_allows(reader, "read", "pdu/pdu44001/outlet/3/power") and not any(a in ("write", "readwrite") for a, _ in reader),
           "ACL: pdu-reader reads pdu/# and publishes nothing", reader)
    report(conf.get("allow_anonymous") == ["false"] and conf.get("per_listener_settings") == ["false"],
           "mosquitto.conf: no anonymous clients", conf.get("allow_anonymous"))

    msvc = services["mosquitto"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in msvc.get("volumes") or [] if v.startswith(".")}
    def host_path(container_path):
        for target, src in mounts.items():
            if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
                return os.path.normpath(os.path.join(D, src, os.path.relpath(container_path, target)))
        return None
    entry = msvc.get("entrypoint") or []
    ep = host_path(entry[-1]) if entry else None
    cfg = host_path(msvc["command"][-1])
    acl_host = host_path(conf["acl_file"][0])
    ep_default = re.search(r'MOSQUITTO_PASSWORD_FILE:-([^}]+)\}', read("docker", "mosquitto", "entrypoint.sh"))
    report(ep == os.path.join(D, "mosquitto", "entrypoint.sh") and cfg == os.path.join(D, "mosquitto", "mosquitto.conf")
           and acl_host == os.path.join(D, "mosquitto", "acl") and ep_default and ep_default.group(1) == conf["password_file"][0],
           "compose: Mosquitto runs the repository's entrypoint, config, ACL and password file", f"{entry} {msvc.get('command')}")
    mport = [str(p).rsplit(":", 1)[-1] for p in msvc.get("ports") or []]
    report(mport == [listener], "compose: Mosquitto's published port is its listener", mport)
    missing_pw = sorted(v for v in accounts.values() if v not in environment(msvc))
    report(set(accounts) <= set(users) and not missing_pw, "compose: every account of the ACL gets its password from the environment",
           f"accounts {accounts}, not passed {missing_pw}")

    # Telegraf and InfluxDB.
    tsvc, isvc = services["telegraf"], services["influxdb"]
    tconf_src = os.path.join(D, "telegraf", "telegraf.conf")
    tmounts = {v.split(":")[1]: os.path.normpath(os.path.join(D, v.split(":")[0])) for v in tsvc.get("volumes") or []}
    tconf = telegraf()
    tenv = environment(tsvc)
    tvars = set(re.findall(r"\$\{([A-Z_]+)\}", read("docker", "telegraf", "telegraf.conf")))
    report(tmounts.get("/etc/telegraf/telegraf.conf") == tconf_src and tvars <= set(tenv),
           "compose: Telegraf gets its config and every variable it uses", f"vars {sorted(tvars - set(tenv))} missing")
    cons = tconf["inputs"]["mqtt_consumer"]
    traw = raw["services"]["telegraf"]["environment"]
    bad = []
    for c in cons:
        pw_var = raw_var(traw.get(raw_var(c.get("password", "")) or "", ""))
        if c["servers"] != [f"tcp://mosquitto:{listener}"] or accounts.get(c.get("username")) != pw_var:
            bad.append((c["servers"], c.get("username"), pw_var))
    report(cons and not bad, "Telegraf: reads Mosquitto with the pdu-reader account and its password", bad)
    out = tconf["outputs"]["influxdb_v2"][0]
    iraw = raw["services"]["influxdb"]["environment"]
    same = (raw_var(traw.get(raw_var(out["token"]))) == raw_var(iraw["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"])
            and raw_var(traw.get(raw_var(out["organization"]))) == raw_var(iraw["DOCKER_INFLUXDB_INIT_ORG"])
            and raw_var(traw.get(raw_var(out["bucket"]))) == raw_var(iraw["DOCKER_INFLUXDB_INIT_BUCKET"]))
    iport = [str(p).rsplit(":", 1)[-1] for p in isvc.get("ports") or []]
    report(out["urls"] == ["http://influxdb:8086"] and iport == ["8086"] and same,
           "Telegraf: writes to the influxdb service with its token, org and bucket", out)
    health = tconf["outputs"].get("health", [{}])[0].get("service_address", "")
    thc = " ".join(tsvc["healthcheck"]["test"])
    report(health and health.rsplit(":", 1)[-1] in thc, "compose: Telegraf's health check asks its health output", f"{health} / {thc}")

    # Telegraf's topics against what the bridge publishes.
    topics = recorded_topics()
    report(len(topics) == len(set(topics)) and all(t.startswith("pdu/pdu44001/") for t in topics) and len(topics) >= 20,
           "published-topics.txt: the recorded tree of pdu44001", len(topics))
    dead = [f for c in cons for f in c["topics"] if not any(filter_matches(f, t) for t in topics)]
    report(not dead, "Telegraf: every subscribed topic pattern matches topics the bridge publishes", dead)
    dead = [tp["topic"] for c in cons for tp in c.get("topic_parsing", []) if not any(parse_match(tp["topic"], t) and telegraf_metric(c, t) for t in topics)]
    report(not dead, "Telegraf: every topic_parsing pattern parses topics the bridge publishes", dead)
    bad = [tp for c in cons for tp in c.get("topic_parsing", [])
           if "#" in tp["topic"] or len(tp.get("tags", "").split("/")) != len(tp["topic"].split("/"))]
    report(not bad, "Telegraf: topic_parsing patterns have no # and as many tags as levels", bad)
    twice, untagged, wrong_type, missing = [], [], [], []
    for t in topics:
        hits = [(c, telegraf_metric(c, t)) for c in cons if telegraf_metric(c, t)]
        is_value = rest(t) not in JSON_TOPICS and "/command" not in t
        if len(hits) > 1:
            twice.append(t)
        if is_value and not hits:
            missing.append(t)
        for c, (name, tags) in hits:
            parsers = [tp for tp in c.get("topic_parsing", []) if parse_match(tp["topic"], t)]
            if len(parsers) != 1 or not {"device", "metric"} <= set(tags):
                untagged.append(t)
            numeric = c.get("data_type") in ("float", "integer")
            if numeric == (metric_of(t) in WORDS) or not is_value:
                wrong_type.append((t, c.get("data_type")))
    report(not missing, "Telegraf: every plain value the bridge publishes is stored", missing)
    report(not twice, "Telegraf: no topic is stored twice", twice)
    report(not untagged, "Telegraf: every stored topic is parsed by exactly one pattern into device/metric tags", untagged)
    report(not wrong_type, "Telegraf: numbers as float, words as string; no JSON or commands", wrong_type)

    expect = {
        "pdu/pdu44001/outlet/3/power": ("pdu", {"device": "pdu44001", "kind": "outlet", "index": "3", "metric": "power"}),
        "pdu/pdu44001/outlet/10/energy": ("pdu", {"device": "pdu44001", "kind": "outlet", "index": "10", "metric": "energy"}),
        "pdu/pdu44001/bank/2/power_factor": ("pdu", {"device": "pdu44001", "kind": "bank", "index": "2", "metric": "power_factor"}),
        "pdu/pdu44001/source/b/voltage": ("pdu", {"device": "pdu44001", "kind": "source", "index": "b", "metric": "voltage"}),
        "pdu/pdu44001/input/frequency": ("pdu", {"device": "pdu44001", "kind": "input", "metric": "frequency"}),
        "pdu/pdu44001/outlet/7/state": ("pdu_state", {"device": "pdu44001", "kind": "outlet", "index": "7", "metric": "state"}),
        "pdu/pdu44001/ats/current_source": ("pdu_state", {"device": "pdu44001", "kind": "ats", "metric": "current_source"}),
        "pdu/pdu44001/source/a/voltage_status": ("pdu_state", {"device": "pdu44001", "kind": "source", "index": "a", "metric": "voltage_status"}),
        "pdu/pdu44001/availability": ("pdu_state", {"device": "pdu44001", "metric": "availability"}),
        "pdu/pdu44001/bridge/status": ("pdu_state", {"device": "pdu44001", "kind": "bridge", "metric": "status"}),
        "pdu/rack-2/bank/1/current": ("pdu", {"device": "rack-2", "kind": "bank", "index": "1", "metric": "current"}),
        "pdu/pdu44001/alarms/active": ("pdu", {"device": "pdu44001", "kind": "alarms", "metric": "active"}),
        "pdu/pdu44001/status": None,
        "pdu/pdu44001/device": None,
        "pdu/pdu44001/automation/status": None,
        "pdu/pdu44001/alarms": None,
        "pdu/pdu44001/alarm": None,
        "pdu/pdu44001/outlet/1/command": None,
        "pdu/pdu44001/outlet/1/command/response": None,
    }
    for topic, want in expect.items():
        got = [m for c in cons for m in [telegraf_metric(c, topic)] if m]
        got = got[0] if len(got) == 1 else (None if not got else got)
        report(got == want, f"Telegraf tags: {topic} -> {want[0] + ' ' + json.dumps(want[1], sort_keys=True) if want else 'not stored'}", got)


def payload(topic):
    r, m = rest(topic), metric_of(topic)
    if r in JSON_TOPICS:
        return "[]" if r.startswith("automation") or r == "alarms" else '{"ts": 1.0}'
    return {"state": "on", "name": "Server 1", "voltage_status": "normal", "load_state": "normal",
            "current_source": "A", "preferred_source": "A", "redundancy": "ok", "availability": "online",
            "status": "online", "power_supply": "ok"}.get(m, "1.5")


def live():
    """A live bridge's capture (topic<TAB>payload lines) against the record and Telegraf."""
    captured = {}
    with open(sys.argv[3], encoding="utf-8") as f:
        for line in f:
            topic, _, value = line.rstrip("\n").partition("\t")
            captured[topic] = value
    recorded = set(recorded_topics())
    live_topics = set(captured)
    # The bridge's own last will (one connection for all its PDUs), beside the PDUs' trees.
    wills = {t for t in live_topics if re.fullmatch(r"pdu/bridge/[^/]+/status", t)}
    report(len(wills) == 1 and all(captured[t] == "online" for t in wills),
           "live bridge: its last will pdu/bridge/{BRIDGE_ID}/status says online", sorted(wills))
    live_topics -= wills
    report(live_topics == recorded, "live bridge: publishes exactly the recorded topics (else regenerate docker/testdata/published-topics.txt)",
           f"new {sorted(live_topics - recorded)[:10]}, gone {sorted(recorded - live_topics)[:10]}")
    cons = consumers()
    dead = [f for c in cons for f in c["topics"] if not any(filter_matches(f, t) for t in live_topics)]
    report(not dead, "live bridge: every Telegraf topic pattern matches its topics", dead)
    bad = []
    for t, v in captured.items():
        for c in cons:
            if telegraf_metric(c, t) and c.get("data_type") == "float":
                try:
                    float(v)
                except ValueError:
                    bad.append((t, v[:40]))
    report(not bad, "live bridge: every payload Telegraf reads as a float is a number", bad)
    try:
        status = json.loads(captured.get("pdu/pdu44001/status", ""))
        report(isinstance(status, dict) and "outlets" in status, "live bridge: status is the JSON snapshot", list(status)[:8])
    except ValueError as e:
        report(False, "live bridge: status is the JSON snapshot", e)


def main():
    cmd = sys.argv[1]
    if cmd == "static":
        static()
    elif cmd == "payloads":
        for t in recorded_topics():
            print(f"{t}\t{payload(t)}")
    elif cmd == "filters":
        print("\n".join(consumers()[int(sys.argv[3])]["topics"]))
    elif cmd == "expect":
        with open(sys.argv[4], encoding="utf-8") as f:
            topics = [line.strip() for line in f if line.strip()]
        c = consumers()[int(sys.argv[3])]
        print("\n".join(sorted(t for t in topics if telegraf_metric(c, t))))
    elif cmd == "consumers":
        print(len(consumers()))
    elif cmd == "healthcmd":
        test = compose_raw()["services"]["mosquitto"]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", test
        print(test[1].replace("$$", "$"))
    elif cmd == "live":
        live()
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
PY

# stack.py's "ok|FAIL<TAB>name<TAB>why" lines become checks here.
py_checks() {
  local status name detail
  while IFS=$'\t' read -r status name detail; do
    case "$status" in
      ok) ok "$name" ;;
      FAIL) fail "$name" "$detail" ;;
      py-exit) [ "$name" = 0 ] || fail "python checks ran to the end" "exit $name" ;;
      *) echo "    $status${name:+ $name}${detail:+ $detail}" ;;
    esac
  done < <("$PY" "$tmp/stack.py" "$@" 2>&1; printf 'py-exit\t%s\n' "$?")
}
py() { "$PY" "$tmp/stack.py" "$1" "$root" "${@:2}"; }
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # PORT: until something listens on 127.0.0.1:PORT (10 s)
  local _
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
same_lines() { # name, expected file, actual file
  if cmp -s "$2" "$3"; then ok "$1"; else fail "$1" "$(diff "$2" "$3" | grep '^[<>]' | head -8 | tr '\n' ' ')"; fi
}

# --- 1. static ------------------------------------------------------------------
section "static: Dockerfile, .dockerignore, compose.yml, .env.example, README, Telegraf"
py_checks static "$root"
if command -v docker-compose >/dev/null; then
  # Compose v1 predates the top-level `name`; the rest is the same schema.
  grep -v '^name:' "$here/compose.yml" >"$tmp/compose-v1.yml"
  if out="$(docker-compose -f "$tmp/compose-v1.yml" --project-directory "$here" \
    --env-file "$here/.env.example" --profile influx config -q 2>&1)"; then
    ok "docker-compose $(docker-compose version --short 2>/dev/null) validates compose.yml"
  else
    fail "docker-compose validates compose.yml" "$out"
  fi
else
  echo "  (docker-compose is not installed: its validation of compose.yml is skipped)"
fi

# --- 2. the health check script ---------------------------------------------------
section "health check (docker/healthcheck.sh) against a stub /api/health"
hport="$(free_port)"
echo 200 >"$tmp/health-code"
"$PY" - "$hport" "$tmp/health-code" <<'STUB' &
import http.server, sys
port, code_file = int(sys.argv[1]), sys.argv[2]
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(open(code_file).read()) if self.path == "/api/health" else 404
        body = ('{"ok": %s, "reasons": []}' % ("true" if code == 200 else "false")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
STUB
pids+=("$!")
if wait_port "$hport"; then
  out="$(BRIDGE_WEB_PORT=$hport bash "$here/healthcheck.sh")"
  check "200 from /api/health: healthy" "0 healthy" "$? ${out%%:*}"
  out="$(BRIDGE_WEB_BIND=0.0.0.0 BRIDGE_WEB_PORT=$hport bash "$here/healthcheck.sh")"
  check "BRIDGE_WEB_BIND=0.0.0.0: asks 127.0.0.1" "0 healthy" "$? ${out%%:*}"
  echo 503 >"$tmp/health-code"
  out="$(BRIDGE_WEB_PORT=$hport bash "$here/healthcheck.sh")"
  check "503 from /api/health: unhealthy" "1 unhealthy" "$? ${out%%:*}"
  out="$(BRIDGE_WEB_PORT="$(free_port)" bash "$here/healthcheck.sh")"
  check "nothing listening: unhealthy" "1 unhealthy" "$? ${out%%:*}"
else
  fail "the stub HTTP server starts"
fi

# --- 3. Mosquitto with the stack's config and ACL ----------------------------------
section "Mosquitto $(mosquitto -h 2>/dev/null | awk 'NR == 1 { print $3 }') with docker/mosquitto/mosquitto.conf and acl"
port=""
# start_broker NAME PASSWORD_FILE: the stack's config on 127.0.0.1:$port (new).
start_broker() {
  local dir="$tmp/$1"
  mkdir -p "$dir/data"
  port="$(free_port)"
  cp "$here/mosquitto/acl" "$dir/acl"
  sed -e "s|^listener 1883\$|listener $port 127.0.0.1|" \
    -e "s|^password_file .*|password_file $2|" \
    -e "s|^acl_file .*|acl_file $dir/acl|" \
    -e "s|^persistence_location .*|persistence_location $dir/data/|" \
    "$here/mosquitto/mosquitto.conf" >"$dir/mosquitto.conf"
  if [ "$(id -u)" = 0 ]; then chown -R mosquitto: "$dir" "$2"; fi
  mosquitto -c "$dir/mosquitto.conf" >"$dir/log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_port "$port"
}
pub() { mosquitto_pub -h 127.0.0.1 -p "$port" "$@"; }
sub() { mosquitto_sub -h 127.0.0.1 -p "$port" "$@"; }
bg_sub() { # FILE, mosquitto_sub arguments: returns once subscribed ($sub_pid)
  local file="$1" _
  shift
  # Line-buffered, so its debug output says when the subscription is in place.
  stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -d "$@" >"$file" 2>&1 &
  sub_pid=$!
  pids+=("$sub_pid")
  for _ in $(seq 50); do
    if grep -q 'received SUBACK' "$file"; then
      kill -0 "$sub_pid" 2>/dev/null && return 0
      echo "(the subscriber ended before the test could use it)" >>"$file"
      return 1
    fi
    sleep 0.1
  done
  return 1
}
received() { sed -n "s/.*received PUBLISH ([^']*'\([^']*\)'.*/\1/p" "$1" | tr '\n' ' ' | sed 's/ $//'; }

# Throwaway passwords, hashed by mosquitto_passwd -b.
bp="bridge-$RANDOM$RANDOM" rp="reader-$RANDOM$RANDOM" op="operator-$RANDOM$RANDOM"
as_bridge=(-u pdu-bridge -P "$bp")
as_reader=(-u pdu-reader -P "$rp")
as_operator=(-u pdu-operator -P "$op")
mkdir -p "$tmp/auth"
mosquitto_passwd -c -b "$tmp/auth/passwd" pdu-bridge "$bp" \
  && mosquitto_passwd -b "$tmp/auth/passwd" pdu-reader "$rp" \
  && mosquitto_passwd -b "$tmp/auth/passwd" pdu-operator "$op" \
  && chmod 0600 "$tmp/auth/passwd"

if start_broker main "$tmp/auth/passwd"; then
  ok "mosquitto runs the stack's config on 127.0.0.1:$port"
else
  fail "mosquitto runs the stack's config" "$(tail -5 "$tmp/main/log")"
  finish
fi
changed="$(diff "$here/mosquitto/mosquitto.conf" "$tmp/main/mosquitto.conf" | awk '$1 == ">" { print $2 }' | sort | tr '\n' ' ')"
cmp -s "$here/mosquitto/acl" "$tmp/main/acl" || changed+="(acl changed)"
check "the test's config differs from the stack's only in the listener and paths" \
  "acl_file listener password_file persistence_location " "$changed"

out="$(pub -t pdu/pdu44001/outlet/1/command -m off 2>&1)"
rc=$?
if [ $rc != 0 ] && grep -qi 'not authori' <<<"$out"; then ok "anonymous publish refused"; else fail "anonymous publish refused" "exit $rc: $out"; fi
out="$(sub -t 'pdu/#' -C 1 -W 2 2>&1)"
rc=$?
if [ $rc != 0 ] && grep -qi 'not authori' <<<"$out"; then ok "anonymous subscribe refused"; else fail "anonymous subscribe refused" "exit $rc: $out"; fi
out="$(sub -u pdu-reader -P "wrong-$rp" -t 'pdu/#' -C 1 -W 2 2>&1)"
rc=$?
if [ $rc != 0 ] && grep -qi 'not authori' <<<"$out"; then ok "a wrong password is refused"; else fail "a wrong password is refused" "exit $rc: $out"; fi

# The bridge's account publishes the recorded tree, retained.
py payloads >"$tmp/payloads"
cut -f1 "$tmp/payloads" | LC_ALL=C sort -u >"$tmp/recorded"
bad=0
while IFS=$'\t' read -r topic payload; do
  pub "${as_bridge[@]}" -q 1 -r -t "$topic" -m "$payload" || bad=$((bad + 1))
done <"$tmp/payloads"
check "the bridge account publishes the recorded tree ($(wc -l <"$tmp/recorded") topics)" 0 "$bad"
sub "${as_reader[@]}" -t 'pdu/#' -W 2 -F '%r %t' 2>/dev/null | awk '$1 == 1 { print $2 }' | LC_ALL=C sort -u >"$tmp/read-all"
same_lines "the read-only account reads all of it (pdu/#)" "$tmp/recorded" "$tmp/read-all"

# Telegraf's own subscriptions, as the read-only account it uses.
consumers="$(py consumers)"
for ((i = 0; i < consumers; i++)); do
  filters=()
  while read -r f; do filters+=(-t "$f"); done < <(py filters "$i")
  py expect "$i" "$tmp/recorded" >"$tmp/expect-$i"
  sub "${as_reader[@]}" "${filters[@]}" -W 2 -F '%t' 2>/dev/null | LC_ALL=C sort -u >"$tmp/telegraf-$i"
  same_lines "Telegraf's consumer $((i + 1)) ($((${#filters[@]} / 2)) patterns) receives its $(wc -l <"$tmp/expect-$i") topics through the ACL" \
    "$tmp/expect-$i" "$tmp/telegraf-$i"
done

# Commands: the read-only account's never arrive, the operator's do.
if bg_sub "$tmp/cmd-reader" "${as_bridge[@]}" -t 'pdu/+/outlet/+/command' -W 3; then
  pub "${as_reader[@]}" -t pdu/pdu44001/outlet/1/command -m off
  pub "${as_reader[@]}" -q 1 -t pdu/pdu44001/outlet/1/command -m off
  v5="$(pub "${as_reader[@]}" -V mqttv5 -q 1 -t pdu/pdu44001/outlet/1/command -m off 2>&1)"
  wait "$sub_pid"
  check "the read-only account's commands (MQTT 3.1.1 QoS 0 and 1, MQTT 5) never reach the bridge's subscription" "" "$(received "$tmp/cmd-reader")"
  if grep -qi 'not authorized' <<<"$v5"; then ok "Mosquitto answers the read-only account's MQTT 5 command: not authorized"; else fail "MQTT 5 command refused" "$v5"; fi
else
  fail "the bridge account subscribes to commands" "$(cat "$tmp/cmd-reader")"
fi
if bg_sub "$tmp/cmd-operator" "${as_bridge[@]}" -t 'pdu/+/outlet/+/command' -C 1 -W 5; then
  pub "${as_reader[@]}" -q 1 -t pdu/pdu44001/outlet/1/command -m off
  pub "${as_operator[@]}" -q 1 -t pdu/pdu44001/outlet/2/command -m on
  wait "$sub_pid"
  check "the bridge account receives commands: the operator's, not the reader's sent before it" \
    "pdu/pdu44001/outlet/2/command" "$(received "$tmp/cmd-operator")"
else
  fail "the bridge account subscribes to commands" "$(cat "$tmp/cmd-operator")"
fi
pub "${as_reader[@]}" -q 1 -r -t pdu/pdu44001/outlet/1/power -m 9999
check "the read-only account cannot overwrite a value" "1.5" "$(sub "${as_reader[@]}" -t pdu/pdu44001/outlet/1/power -C 1 -W 2)"
check "the bridge account reads nothing but commands under pdu/" "" "$(sub "${as_bridge[@]}" -t pdu/pdu44001/outlet/1/power -C 1 -W 1 2>/dev/null)"

# Home Assistant: discovery out, its birth message in.
pub "${as_bridge[@]}" -q 1 -r -t homeassistant/switch/pdu_TEST/outlet_1/config -m '{"name": "Outlet 1"}'
check "the operator account reads the bridge's discovery" '{"name": "Outlet 1"}' \
  "$(sub "${as_operator[@]}" -t 'homeassistant/switch/+/+/config' -C 1 -W 2)"
if bg_sub "$tmp/ha" "${as_bridge[@]}" -t homeassistant/status -C 1 -W 5; then
  pub "${as_operator[@]}" -q 1 -t homeassistant/status -m online
  wait "$sub_pid"
  check "the bridge account receives Home Assistant's birth message" "homeassistant/status" "$(received "$tmp/ha")"
else
  fail "the bridge account subscribes to homeassistant/status" "$(cat "$tmp/ha")"
fi

# The bridge's last will (on its own topic, BRIDGE_ID pdu-bridge), published
# by the broker on its account's behalf.
if bg_sub "$tmp/will" "${as_bridge[@]}" -t 'pdu/+/outlet/+/command' \
  --will-topic pdu/bridge/pdu-bridge/status --will-payload offline --will-retain --will-qos 1; then
  kill -9 "$sub_pid"
  wait "$sub_pid" 2>/dev/null
  will=""
  for _ in $(seq 20); do
    will="$(sub "${as_reader[@]}" -t pdu/bridge/pdu-bridge/status -C 1 -W 1)"
    [ "$will" = offline ] && break
    sleep 0.1
  done
  check "the bridge's last will (pdu/bridge/pdu-bridge/status offline) goes out" offline "$will"
else
  fail "a bridge client with a last will connects" "$(cat "$tmp/will")"
fi

# compose.yml's health check command for Mosquitto, as its container runs it.
hc="$(py healthcmd)"
hc="${hc/-p 1883 /-p $port }"
MOSQUITTO_READER_PASSWORD="$rp" sh -c "$hc"
check "compose's Mosquitto health check passes" 0 "$?"
MOSQUITTO_READER_PASSWORD="wrong-$rp" sh -c "$hc" 2>/dev/null
rc=$?
if [ $rc != 0 ]; then ok "compose's Mosquitto health check fails with a wrong password"; else fail "the health check fails with a wrong password"; fi
kill "$broker_pid" 2>/dev/null
wait "$broker_pid" 2>/dev/null

# The entrypoint that writes the password file in the container.
section "Mosquitto's entrypoint (docker/mosquitto/entrypoint.sh)"
ep_file="$tmp/ep/run/passwd"
mkdir -p "$tmp/ep/volume"
ep() { env "$@" MOSQUITTO_PASSWORD_FILE="$ep_file" MOSQUITTO_DATA_DIR="$tmp/ep/volume" sh "$here/mosquitto/entrypoint.sh" true; }
out="$(ep MOSQUITTO_BRIDGE_PASSWORD="$bp" MOSQUITTO_READER_PASSWORD="$rp" MOSQUITTO_OPERATOR_PASSWORD="$op" 2>&1)"
check "writes the accounts and runs the command" "0 pdu-bridge pdu-reader pdu-operator" \
  "$? $(cut -d: -f1 "$ep_file" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
if ! grep -qF -e "$bp" -e "$rp" -e "$op" "$ep_file" && [ "$(stat -c %a "$ep_file")" = 600 ]; then
  ok "the file holds hashes only, mode 600"
else
  fail "the file holds hashes only, mode 600" "$(stat -c %a "$ep_file")"
fi
if [ "$(id -u)" = 0 ]; then
  check "as root, it hands the data volume to the mosquitto user" mosquitto "$(stat -c %U "$tmp/ep/volume")"
fi
if start_broker ep "$ep_file"; then
  for who in bridge:"$bp" reader:"$rp" operator:"$op"; do
    out="$(sub -u "pdu-${who%%:*}" -P "${who#*:}" -t pdu/none -W 1 2>&1)"
    check "its pdu-${who%%:*} account logs in to the stack's Mosquitto" "Timed out" "$out"
  done
  out="$(sub -t pdu/none -W 1 2>&1)"
  if grep -qi 'not authori' <<<"$out"; then ok "anonymous is still refused"; else fail "anonymous is still refused" "$out"; fi
  kill "$broker_pid" 2>/dev/null
  wait "$broker_pid" 2>/dev/null
else
  fail "mosquitto starts with the entrypoint's password file" "$(tail -5 "$tmp/ep/log")"
fi
out="$(ep MOSQUITTO_BRIDGE_PASSWORD="$bp" MOSQUITTO_READER_PASSWORD="$rp" MOSQUITTO_OPERATOR_PASSWORD= 2>&1)"
check "no operator password: no operator account" "0 pdu-bridge pdu-reader" \
  "$? $(cut -d: -f1 "$ep_file" | tr '\n' ' ' | sed 's/ $//')"
out="$(ep -u MOSQUITTO_READER_PASSWORD MOSQUITTO_BRIDGE_PASSWORD="$bp" 2>&1)"
rc=$?
if [ $rc != 0 ] && grep -q MOSQUITTO_READER_PASSWORD <<<"$out"; then
  ok "a missing password stops it, naming the variable"
else
  fail "a missing password stops it, naming the variable" "exit $rc: $out"
fi

# --- 4. a live bridge ----------------------------------------------------------------
if [ -z "$bin" ]; then
  echo
  echo "  (no pdu-bridge binary given: the live-bridge checks are skipped)"
  finish
fi
section "live bridge ($bin) with its account on the stack's Mosquitto"
if ! start_broker live "$tmp/auth/passwd"; then
  fail "mosquitto starts for the live bridge" "$(tail -5 "$tmp/live/log")"
  finish
fi
web="$(free_port)"
mkdir -p "$tmp/bridge-data"
env -u PDU_HOST -u PDU_DEVICE_ID -u BRIDGE_MQTT_BASE -u BRIDGE_HA_DISCOVERY -u BRIDGE_MOCK_MODE \
  BRIDGE_WEB_BIND=127.0.0.1 BRIDGE_WEB_PORT="$web" BRIDGE_DATA_DIR="$tmp/bridge-data" BRIDGE_LOG_LEVEL=warn \
  MQTT_BROKER=127.0.0.1 MQTT_PORT="$port" MQTT_USERNAME=pdu-bridge MQTT_PASSWORD="$bp" \
  "$bin" >"$tmp/bridge.log" 2>&1 &
bridge_pid=$!
pids+=("$bridge_pid")
healthy=""
for _ in $(seq 60); do
  if healthy="$(BRIDGE_WEB_PORT=$web bash "$here/healthcheck.sh")"; then break; fi
  sleep 0.5
done
check "the health check passes against the bridge" healthy "${healthy%%:*}"
# The first publish of the whole tree ends with outlet 10's energy.
sub "${as_reader[@]}" -t pdu/pdu44001/outlet/10/energy -C 1 -W 10 >/dev/null
sub "${as_reader[@]}" -t 'pdu/#' -W 3 -F '%t\t%p' >"$tmp/live-capture" 2>/dev/null
py_checks live "$root" "$tmp/live-capture"

before="$(sub "${as_reader[@]}" -t pdu/pdu44001/outlet/8/state -C 1 -W 2)"
if bg_sub "$tmp/response" "${as_reader[@]}" -t 'pdu/pdu44001/outlet/+/command/response' -v -C 1 -W 10; then
  pub "${as_reader[@]}" -q 1 -t pdu/pdu44001/outlet/8/command -m off
  pub "${as_operator[@]}" -q 1 -t pdu/pdu44001/outlet/7/command -m off
  wait "$sub_pid"
  response="$(grep '^pdu/pdu44001/outlet/[0-9]*/command/response ' "$tmp/response" | head -1)"
  check "the bridge carries out the operator's command and answers" "pdu/pdu44001/outlet/7/command/response True off" \
    "$(printf '%s' "$response" | "$PY" -c 'import json, sys; t, _, p = sys.stdin.read().partition(" "); r = json.loads(p or "{}"); print(t, r.get("success"), r.get("state"))')"
else
  fail "the reader subscribes to command responses" "$(cat "$tmp/response")"
fi
state=""
for _ in $(seq 20); do
  state="$(sub "${as_reader[@]}" -t pdu/pdu44001/outlet/7/state -C 1 -W 1)"
  [ "$state" = off ] && break
  sleep 0.2
done
check "outlet 7 is off" off "$state"
check "outlet 8, commanded off by the read-only account, is unchanged" "on on" \
  "$before $(sub "${as_reader[@]}" -t pdu/pdu44001/outlet/8/state -C 1 -W 2)"
kill -TERM "$bridge_pid"
wait "$bridge_pid"
check "the bridge stops cleanly on SIGTERM" 0 "$?"
check "bridge/status is offline after it stopped" offline "$(sub "${as_reader[@]}" -t pdu/pdu44001/bridge/status -C 1 -W 2)"
grep -iE ' (ERROR|WARN) ' "$tmp/bridge.log" | grep -iE 'mqtt|broker|not auth' | head -3 | sed 's/^/    bridge log: /'
finish
