#!/usr/bin/env python3
"""Check an output root and its database after a kill, independently of
profactory's code (sqlite3 and the files only).  Used by t_crash.sh.

usage: crash_check.py killed DB OUT ITER FAILS BEFORE
       crash_check.py final  DB OUT ITER FAILS NUSERS FINALPID [KILLEDID...]

"killed": the state right after a SIGKILL, before any re-run: the database
must not be ahead of the files, and OUT/latest must not name a half-written
run.  BEFORE is the newest run id before the killed run started.  Prints
one word classifying the kill moment (norun, begun, partial, done) and the
killed run's id, if it was recorded.  "final": the state after a re-run
that completed: every invariant.

Two checks cover a reissue killed between its batch commit and the end of
that batch's OUT/current/ update: OUT/current/ must not keep superseded
profiles, nor a visible OUT/current/.tmp-current (PF_CRASH_CHECK_CURRENT=0
leaves them out).

With PF_CRASH_LAYOUT=by-user, profiles live in user folders
(OUT/RUN/USER/NAME, OUT/current/USER/NAME): the run directories are walked
one level down, and "final" also checks that every profile is in a user
folder of mode 0700, none empty and none a symbolic link.

Each broken invariant appends "KEY<TAB>ITER<TAB>DETAIL" to FAILS; the shell
aggregates them.
"""
import collections
import hashlib
import os
import re
import sqlite3
import stat
import sys

CHAL_RE = re.compile(rb"<key>Challenge</key>\s*<string>([A-Za-z0-9_-]+)</string>")

mode, dbpath, out, it, fails = sys.argv[1:6]
STRICT_CURRENT = os.environ.get("PF_CRASH_CHECK_CURRENT", "1") == "1"
BY_USER = os.environ.get("PF_CRASH_LAYOUT", "flat") == "by-user"
out = os.path.realpath(out)
reported = set()


def fail(key, detail):
    # One line per invariant and check, the first detail only.
    if key in reported:
        return
    reported.add(key)
    with open(fails, "a") as f:
        f.write("%s\t%s\t%s\n" % (key, it, detail.replace("\n", " ")[:300]))


def file_challenge(data):
    m = CHAL_RE.findall(data)
    return m[0].decode() if len(m) == 1 else None


db = sqlite3.connect("file:%s?mode=ro" % dbpath, uri=True)
runs = {row[0]: row for row in db.execute(
    "SELECT id, name, status, pid, out_dir FROM runs")}


def run_dir(run_name):
    return os.path.join(out, run_name)


def check_issued(key):
    """Every challenge held as issued belongs to a profile whose file exists
    with the recorded sha256, bytes, and carries that very challenge."""
    rows = db.execute(
        "SELECT c.id, c.digest, p.file, p.sha256, p.bytes, r.name, r.out_dir "
        "FROM challenges c JOIN profiles p ON p.id = c.profile_id "
        "JOIN runs r ON r.id = p.run_id WHERE c.revoked_at IS NULL").fetchall()
    orphans = db.execute(
        "SELECT count(*) FROM challenges c LEFT JOIN profiles p "
        "ON p.id = c.profile_id WHERE p.id IS NULL").fetchone()[0]
    if orphans:
        fail(key, "%d challenges without a profile row" % orphans)
    outs = {}
    for cid, digest, file, sha, nbytes, rname, rout in rows:
        path = os.path.join(out, rname, file)
        if rout not in outs:
            outs[rout] = os.path.realpath(rout)
        if outs[rout] != out:
            fail(key, "challenge %d: run out_dir %s is not %s" % (cid, rout, out))
            return
        try:
            data = open(path, "rb").read()
        except OSError as e:
            fail(key, "challenge %d: %s: %s" % (cid, path, e.strerror))
            return
        if len(data) != nbytes or hashlib.sha256(data).hexdigest() != sha:
            fail(key, "challenge %d: %s: %d bytes, want %d, or digest differs"
                 % (cid, path, len(data), nbytes))
            return
        ch = file_challenge(data)
        if ch is None or hashlib.sha256(ch.encode()).digest() != bytes(digest):
            fail(key, "challenge %d: %s carries another challenge" % (cid, path))
            return
    return len(rows)


def check_latest(key, want_name=None):
    latest = os.path.join(out, "latest")
    if not os.path.lexists(latest):
        if want_name is not None:
            fail(key, "no OUT/latest")
        return
    target = os.readlink(latest)
    name = os.path.basename(target.rstrip("/"))
    st = [r for r in runs.values() if r[1] == name]
    if not st or st[0][2] != "done":
        fail(key, "OUT/latest -> %s, whose run is %s" %
             (target, st[0][2] if st else "not recorded"))
        return
    for m in ("manifest.csv", "manifest.json"):
        if not os.path.isfile(os.path.join(out, name, m)):
            fail(key, "OUT/latest -> %s lacks %s" % (name, m))
            return
    if want_name is not None and name != want_name:
        fail(key, "OUT/latest -> %s, not the final run %s" % (name, want_name))


def tree(top):
    """Files below top, one level of folders deep: relative path -> depth;
    and the folders' problems (mode, empty, symbolic link, deeper)."""
    files, problems = {}, []
    for n in sorted(os.listdir(top)):
        p = os.path.join(top, n)
        if os.path.islink(p) or not os.path.isdir(p):
            files[n] = 0
            continue
        sub = sorted(os.listdir(p))
        if stat.S_IMODE(os.lstat(p).st_mode) != 0o700:
            problems.append("%s is not mode 0700" % p)
        if not sub:
            problems.append("%s is empty" % p)
        for m in sub:
            q = os.path.join(p, m)
            if os.path.islink(q) or os.path.isdir(q):
                problems.append("%s is a folder or link in a user folder" % q)
            files[n + "/" + m] = 1
    return files, problems


def no_dup_digests(key):
    d = db.execute("SELECT count(*) FROM (SELECT digest FROM challenges "
                   "GROUP BY digest HAVING count(*) > 1)").fetchone()[0]
    if d:
        fail(key, "%d challenge digests recorded more than once" % d)


if mode == "killed":
    check_issued("kill_db_ahead")
    no_dup_digests("kill_db_ahead")
    check_latest("kill_latest")
    # Classify the kill moment by the killed run's row (for coverage).
    mine = [r for r in runs.values() if r[0] > int(sys.argv[6])]
    if len(mine) > 1:
        fail("kill_db_ahead", "%d runs recorded by one run" % len(mine))
    if not mine:
        print("norun")
    elif mine[0][2] == "done":
        print("done", mine[0][0])
    else:
        n = db.execute("SELECT count(*) FROM profiles WHERE run_id = ?",
                       (mine[0][0],)).fetchone()[0]
        print("partial" if n else "begun", mine[0][0])
    sys.exit(0)

nusers, finalpid = int(sys.argv[6]), int(sys.argv[7])
killed = [int(p) for p in sys.argv[8:]]   # run ids

# Issued challenges have their files.
check_issued("issued_files")

# The reverse: every profile file in a run directory is recorded for that
# run; run directories hold nothing else than profiles and manifests.
recorded = set(db.execute("SELECT r.name, p.file FROM profiles p "
                          "JOIN runs r ON r.id = p.run_id"))
for d in sorted(os.listdir(out)):
    p = os.path.join(out, d)
    if d in ("latest", "current") or not os.path.isdir(p) or os.path.islink(p):
        continue
    files, problems = tree(p)
    for f, depth in files.items():
        if f.endswith(".mobileconfig") and (d, f) not in recorded:
            fail("files_recorded", "%s/%s is not recorded in profiles" % (d, f))
            break
    if BY_USER:
        for f, depth in files.items():
            if f.endswith(".mobileconfig") and depth != 1:
                problems.append("%s/%s is not in a user folder" % (d, f))
        if problems:
            fail("by_user_tree", problems[0])

# No duplicate challenges, in the database or in the current files.
no_dup_digests("no_dups")

# No temporary file left visible anywhere under OUT.
for dirpath, dirnames, filenames in os.walk(out):
    for n in dirnames + filenames:
        if (not STRICT_CURRENT and n == ".tmp-current" and
                dirpath == os.path.join(out, "current")):
            continue
        if n.startswith(".tmp-"):
            fail("no_tmp", os.path.join(dirpath, n))

# Runs: none left running or failed; every run a kill interrupted is
# marked interrupted (or done, if the kill came after it finished); every
# done run has its manifests; the final run is done and OUT/latest names it.
for rid, name, status, pid, rout in runs.values():
    if status not in ("done", "interrupted"):
        fail("runs_status", "run %s is %s" % (name, status))
    if rid in killed and status not in ("interrupted", "done"):
        fail("runs_status", "killed run %s is %s" % (name, status))
    if status == "done":
        for m in ("manifest.csv", "manifest.json"):
            if not os.path.isfile(os.path.join(out, name, m)):
                fail("runs_status", "done run %s lacks %s" % (name, m))
    # every run's issued and reissued counts are the profiles it recorded
    counted, have = db.execute(
        "SELECT n_issued + n_reissued, (SELECT count(*) FROM profiles "
        "WHERE run_id = ?1) FROM runs WHERE id = ?1", (rid,)).fetchone()
    if counted != have:
        fail("runs_status", "%s run %s counts %d profiles, recorded %d" %
             (status, name, counted, have))
final = [r for r in runs.values() if r[3] == finalpid]
if len(final) != 1 or final[0][2] != "done":
    fail("latest", "the final run (pid %d) is not recorded as done" % finalpid)
    final_name = None
else:
    final_name = final[0][1]
check_latest("latest", final_name or "?")

# Every user exactly one current profile and one outstanding challenge;
# OUT/current/ holds one file per user, named as that profile; with
# PF_CRASH_CHECK_CURRENT=1, that very profile (a hard link).
nu = db.execute("SELECT count(*) FROM users").fetchone()[0]
if nu != nusers:
    fail("one_current", "%d users recorded, want %d" % (nu, nusers))
bad = db.execute(
    "SELECT u.key, (SELECT count(*) FROM profiles p WHERE p.user_id = u.id "
    "AND p.superseded_at IS NULL), (SELECT count(*) FROM challenges c "
    "WHERE c.user_id = u.id AND c.revoked_at IS NULL) FROM users u").fetchall()
for key, np, nc in bad:
    if np != 1 or nc != 1:
        fail("one_current", "%s has %d current profiles, %d outstanding "
             "challenges" % (key, np, nc))
        break
cur = os.path.join(out, "current")
names, problems = tree(cur) if os.path.isdir(cur) else ({}, [])
names = [n for n in names if n != ".tmp-current"]
if BY_USER:
    problems += ["current/%s is not in a user folder" % n
                 for n in names if "/" not in n]
    if problems:
        fail("by_user_tree", problems[0])
if len(names) != nusers:
    fail("one_current", "OUT/current holds %d files, want %d" %
         (len(names), nusers))
seen_chal = set()
for rname, file in db.execute(
        "SELECT r.name, p.file FROM profiles p JOIN runs r ON r.id = p.run_id "
        "WHERE p.superseded_at IS NULL"):
    c = os.path.join(cur, file)
    if not os.path.isfile(c):
        fail("one_current", "no OUT/current/%s" % file)
        break
    if STRICT_CURRENT and not os.path.samefile(c, os.path.join(out, rname, file)):
        fail("current_fresh", "OUT/current/%s is not the current profile "
             "%s/%s" % (file, rname, file))
    ch = file_challenge(open(c, "rb").read())
    if ch in seen_chal:
        fail("no_dups", "a challenge appears in two current files")
    seen_chal.add(ch)

# The final manifest: one row per user, none failed.
if final_name:
    import csv
    with open(os.path.join(out, final_name, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    users = collections.Counter(r["user"] for r in rows)
    st = collections.Counter(r["status"] for r in rows)
    if len(users) != nusers or max(users.values()) != 1 or \
            set(st) - {"issued", "reissued", "unchanged"}:
        fail("manifest", "final manifest: %d rows, %d users, statuses %s" %
             (len(rows), len(users), dict(st)))
