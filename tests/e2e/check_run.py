#!/usr/bin/env python3
"""Check a run directory with independent tools.

usage: check_run.py RUNDIR CSV ROOTPEM DBFILE

Every profile verifies with `openssl cms -verify` trusting only ROOTPEM;
the embedded plist parses with plistlib and carries the user's values
exactly; all challenges differ; manifest sha256 and bytes match the files;
no challenge appears in the manifests or the database files.  Prints one
"ok - ..." / "not ok - ..." line per check.
"""
import csv
import glob
import hashlib
import json
import os
import plistlib
import subprocess
import sys

rundir, csvpath, root, dbfile = sys.argv[1:5]
failed = False


def report(ok, name, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + name +
          ("" if ok or not detail else " (" + detail + ")"))
    if not ok:
        failed = True


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


with open(csvpath, newline="", encoding="utf-8-sig") as f:
    users = {row["email"]: row for row in csv.DictReader(f)}

with open(os.path.join(rundir, "manifest.csv"), newline="") as f:
    manifest = list(csv.DictReader(f))
with open(os.path.join(rundir, "manifest.json")) as f:
    mjson = json.load(f)

report(len(mjson["rows"]) == len(manifest), "manifest.json has the rows of manifest.csv")
issued = [r for r in manifest if r["status"] in ("issued", "reissued")]
files = sorted(glob.glob(os.path.join(rundir, "*.mobileconfig")))
report(len(files) == len(issued) and len(files) > 0,
       "one file per issued manifest row", "%d files, %d rows" % (len(files), len(issued)))

challenges = []
verify_bad, values_bad, digest_bad, mode_bad = [], [], [], []
for row in issued:
    path = os.path.join(rundir, row["file"])
    data = open(path, "rb").read()
    if hashlib.sha256(data).hexdigest() != row["sha256"] or len(data) != int(row["bytes"]):
        digest_bad.append(row["file"])
    if os.stat(path).st_mode & 0o777 != 0o600:
        mode_bad.append(row["file"])
    p = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", path,
                        "-CAfile", root, "-purpose", "any"],
                       capture_output=True)
    if p.returncode != 0:
        verify_bad.append(row["file"] + ": " + p.stderr.decode(errors="replace")[:200])
        continue
    pl = plistlib.loads(p.stdout)
    key = row["user"]
    if key[:1] == "'" and key[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        key = key[1:]  # neutralised formula cell
    user = users[key]
    vals = list(strings(pl))
    if user["email"] not in vals:
        values_bad.append(row["file"] + ": email not found exactly")
    if not any(user["name"] in v for v in vals):
        values_bad.append(row["file"] + ": name not found exactly")
    if pl.get("PayloadIdentifier") != row["payload_identifier"]:
        values_bad.append(row["file"] + ": PayloadIdentifier differs from manifest")
    for pay in pl["PayloadContent"]:
        if pay["PayloadType"] == "com.apple.security.scep":
            challenges.append(pay["PayloadContent"]["Challenge"])

report(not verify_bad, "every profile verifies against the root alone", "; ".join(verify_bad[:3]))
report(not values_bad, "embedded plists carry the users' values exactly", "; ".join(values_bad[:3]))
report(not digest_bad, "manifest sha256 and bytes match the files", ", ".join(digest_bad[:3]))
report(not mode_bad, "profiles are mode 0600", ", ".join(mode_bad[:3]))
report(len(challenges) > 0 and len(set(challenges)) == len(challenges),
       "all challenges differ", "%d challenges" % len(challenges))
report(all(len(c) >= 22 for c in challenges), "challenges carry at least 128 bits")

leak = []
secrets = [c.encode() for c in challenges]
for f in [os.path.join(rundir, "manifest.csv"), os.path.join(rundir, "manifest.json"),
          dbfile, dbfile + "-wal"]:
    if not os.path.exists(f):
        continue
    blob = open(f, "rb").read()
    leak += [f for s in secrets if s in blob]
report(not leak, "no challenge in the manifests or the database", ", ".join(sorted(set(leak))))
report(os.stat(rundir).st_mode & 0o777 == 0o700, "run directory is mode 0700")
sys.exit(1 if failed else 0)
