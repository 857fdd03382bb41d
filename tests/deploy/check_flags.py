#!/usr/bin/python3
"""check_flags.py — every flag and config key the shipped deployment passes exists in that
program's --help (tests/integration/deploy_check.sh runs it).

  check_flags.py BINDIR COMPOSE_CONFIG_YAML PREFIX_UNIT_DIR REPO_ROOT
Reads: the compose services' command (+ the image's ENTRYPOINT from its Dockerfile), the k8s
containers' args (+ ENTRYPOINT of the image they name), the systemd units' ExecStart, the
Dockerfiles' ENTRYPOINTs, deploy/*.conf and a worker-curve.conf as make-keys.sh writes it
(`key = value` lines: --key must exist). Prints one line per program checked; exit 1 on the
first list of unknown flags.
"""
import glob, json, os, re, shlex, subprocess, sys

bindir, compose_yaml, unitdir, root = sys.argv[1:5]
import yaml

helps = {}
def known(prog):
    if prog not in helps:
        out = subprocess.run([os.path.join(bindir, prog), "--help"], capture_output=True, text=True)
        text = out.stdout + out.stderr
        flags = set(re.findall(r"^\s+(--[a-z0-9][a-z0-9-]*)", text, re.M))
        flags |= set(re.findall(r"/ (--no-[a-z0-9-]+)", text))
        if not flags:
            sys.exit(f"FAIL: {prog} --help lists no flags")
        helps[prog] = flags
    return helps[prog]

bad = []
checked = 0
def check(where, prog, args):
    global checked
    prog = os.path.basename(prog)
    flags = known(prog)
    for a in args:
        if a.startswith("--"):
            f = a.split("=", 1)[0]
            checked += 1
            if f not in flags:
                bad.append(f"{where}: {prog} has no flag {f}")

def entrypoint(dockerfile):
    """the last ENTRYPOINT [...] of a Dockerfile (continuation lines joined)"""
    text = open(dockerfile).read().replace("\\\n", " ")
    eps = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.M)
    if not eps:
        sys.exit(f"FAIL: no ENTRYPOINT in {dockerfile}")
    return json.loads(eps[-1])

image_df = {}
for df in glob.glob(os.path.join(root, "docker", "Dockerfile.*")):
    ep = entrypoint(df)
    check(os.path.relpath(df, root), ep[0], ep[1:])
    image_df[{"Dockerfile.coordinator": "dreamfarm/dreamd", "Dockerfile.worker": "dreamfarm/worker",
              "Dockerfile.worker-cpu": "dreamfarm/worker-cpu"}[os.path.basename(df)]] = ep

# compose (the output of `docker-compose config`: build.dockerfile says the image)
comp = yaml.safe_load(open(compose_yaml))
for name, svc in comp["services"].items():
    df = os.path.join(svc["build"]["context"], svc["build"]["dockerfile"])
    ep = entrypoint(df)
    check(f"compose service {name}", ep[0], ep[1:] + list(svc.get("command") or []))

# kubernetes
for f in sorted(glob.glob(os.path.join(root, "deploy", "k8s", "*.yaml"))):
    for doc in yaml.safe_load_all(open(f)):
        if not doc or doc.get("kind") != "Deployment":
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            img = c["image"].split(":")[0]
            if img not in image_df:
                bad.append(f"{f}: container {c['name']} uses image {img}, which no docker/Dockerfile.* builds")
                continue
            ep = image_df[img]
            check(f"{os.path.basename(f)} {doc['metadata']['name']}", ep[0], ep[1:] + list(c.get("args") or []))

# systemd (the installed units: paths rewritten to PREFIX)
for u in sorted(glob.glob(os.path.join(unitdir, "*.service"))):
    for line in open(u):
        if line.startswith("ExecStart="):
            argv = shlex.split(line.split("=", 1)[1])
            check(os.path.basename(u), argv[0], argv[1:])

# config files: `key = value` -> --key
def conf(where, prog, path):
    keys = []
    for line in open(path):
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if "=" not in s:
            bad.append(f"{where}: not a 'key = value' line: {s}")
            continue
        keys.append("--" + s.split("=", 1)[0].strip().replace("_", "-"))
    check(where, prog, keys)

conf("deploy/dreamd.conf", "dreamd", os.path.join(root, "deploy", "dreamd.conf"))
conf("deploy/dream-worker.conf", "dream-worker", os.path.join(root, "deploy", "dream-worker.conf"))
for extra in sys.argv[5:]:
    conf(os.path.basename(extra), "dream-worker", extra)

for p, f in sorted(helps.items()):
    print(f"{p}: {len(f)} flags in --help")
print(f"{checked} flags checked")
if bad:
    print("FAIL:\n  " + "\n  ".join(bad))
    sys.exit(1)
