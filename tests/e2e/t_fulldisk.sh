# Full disk and unwritable output: a small tmpfs that fills up at many
# points of a run (profiles, their syncs, the manifests), a read-only
# output, and a file where the output directory should be.  Each time: a
# clear error naming the path, exit 73 or 74, no partial or temporary file
# left visible, and a database (kept outside the small filesystem) that
# records nothing that was not written.  Needs mount(2): as root, or in a
# private mount namespace (unshare -m, or -Urm unprivileged); else skipped.
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$(dirname "$0")/lib.sh"

MOUNTS=""
# mnt DIR OPTIONS: a tmpfs on DIR, unmounted on exit.
mnt() {
	mkdir -p "$1" && mount -t tmpfs -o "$2" tmpfs "$1" &&
	    MOUNTS="$1 $MOUNTS"
}
# Unmount what this script mounted (when a check failed, their content is
# copied beside them first, for a post-mortem).
unmount_all() {
	for m in $MOUNTS; do
		if [ "$FAILED" -ne 0 ] && [ ! -e "$m.kept" ]; then
			cp -a "$m" "$m.kept" 2>/dev/null
		fi
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	MOUNTS=""
}
trap unmount_all EXIT
trap 'exit 130' INT TERM HUP

# Mounting needs privilege; without it try a private mount namespace.
mkdir "$T/probe"
if mount -t tmpfs -o size=64k tmpfs "$T/probe" 2>/dev/null; then
	umount "$T/probe"
elif [ -z "${PF_FULLDISK_NS:-}" ]; then
	for u in "-m --propagation private" "-Urm --propagation private"; do
		# shellcheck disable=SC2086
		if unshare $u sh -c "mount -t tmpfs -o size=64k tmpfs '$T/probe'" \
		    2>/dev/null; then
			rm -rf "$T"
			cd / || exit 1
			# shellcheck disable=SC2086
			PF_FULLDISK_NS=1 exec unshare $u sh "$SELF" "$@"
		fi
	done
	echo "ok - # SKIP full disk: cannot mount"
	rm -rf "$T"
	exit 0
else
	echo "ok - # SKIP full disk: cannot mount"
	rm -rf "$T"
	exit 0
fi

pki "$T/pki" ec
S="$(signer_args "$T/pki") --jobs 2"
"$PF" init >/dev/null
"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
cp pf.db pristine.db
NUSERS=400
python3 -c '
import sys
print("email,name,template")
for i in range(int(sys.argv[1])):
    print("u%d@example.com,User %d,scep" % (i, i))' "$NUSERS" >users.csv
q() { sqlite3 "$T/pf.db" "$1"; }
fresh() {
	rm -f pf.db pf.db-wal pf.db-shm pf.db-journal
	cp pristine.db pf.db
}

# consistent OUT [DB]: the database records nothing that was not written: every
# profile row (of any run) has its file with the recorded digest and size,
# every challenge a profile row with a file; no profile file in a run
# directory that its run did not record; no temporary file anywhere.
consistent() {
	python3 - "${2:-$T/pf.db}" "$1" <<'EOF'
import hashlib, os, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
out = os.path.realpath(sys.argv[2])
bad = []
for rname, file, sha, n in db.execute(
        "SELECT r.name, p.file, p.sha256, p.bytes FROM profiles p "
        "JOIN runs r ON r.id = p.run_id"):
    try:
        data = open(os.path.join(out, rname, file), "rb").read()
    except OSError as e:
        bad.append("%s/%s: %s" % (rname, file, e.strerror))
        continue
    if len(data) != n or hashlib.sha256(data).hexdigest() != sha:
        bad.append("%s/%s: not the recorded bytes" % (rname, file))
n = db.execute("SELECT count(*) FROM challenges c LEFT JOIN profiles p "
               "ON p.id = c.profile_id WHERE p.id IS NULL").fetchone()[0]
if n:
    bad.append("%d challenges without a profile" % n)
recorded = set(db.execute("SELECT r.name, p.file FROM profiles p "
                          "JOIN runs r ON r.id = p.run_id"))
if os.path.isdir(out):
    for d in os.listdir(out):
        p = os.path.join(out, d)
        if d == "current" or os.path.islink(p) or not os.path.isdir(p):
            continue
        for f in os.listdir(p):
            if f.endswith(".mobileconfig") and (d, f) not in recorded:
                bad.append("%s/%s: not recorded" % (d, f))
    for dp, dn, fn in os.walk(out):
        bad += [os.path.join(dp, x) + ": temporary" for x in dn + fn
                if x.startswith(".tmp-")]
for b in bad[:5]:
    print("#   " + b)
sys.exit(1 if bad else 0)
EOF
}
# current_follows OUT: OUT/current/ holds exactly the profiles the database
# holds as current (not superseded), each the run's file (a hard link).
current_follows() {
	python3 - "$T/pf.db" "$1" <<'EOF'
import os, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
out = os.path.realpath(sys.argv[2])
bad, want = [], set()
for rname, file in db.execute(
        "SELECT r.name, p.file FROM profiles p JOIN runs r ON r.id = "
        "p.run_id WHERE p.superseded_at IS NULL"):
    want.add(file)
    try:
        if (os.stat(os.path.join(out, "current", file)).st_ino !=
                os.stat(os.path.join(out, rname, file)).st_ino):
            bad.append("current/%s: not the profile of %s" % (file, rname))
    except OSError as e:
        bad.append("%s: %s" % (file, e.strerror))
cur = os.path.join(out, "current")
have = set(os.listdir(cur)) if os.path.isdir(cur) else set()
bad += ["current/%s: no current profile" % f for f in sorted(have - want)]
for b in bad[:5]:
    print("#   " + b)
print("#   %d of %d wrong" % (len(bad), len(want))) if bad else None
sys.exit(1 if bad else 0)
EOF
}
# all_current OUT: every user one current profile, in the database and in
# OUT/current/.
all_current() {
	[ "$(q 'SELECT count(*) FROM profiles WHERE superseded_at IS NULL')" -eq "$NUSERS" ] &&
	    [ "$(q 'SELECT count(DISTINCT user_id) FROM profiles WHERE superseded_at IS NULL')" -eq "$NUSERS" ] &&
	    [ "$(ls "$1/current" | wc -l)" -eq "$NUSERS" ]
}
# status_in NAME WANT... : the last command's status ($rc) is one of WANT.
status_in() {
	name=$1
	shift
	for w in "$@"; do
		[ "$rc" -eq "$w" ] && { ok "$name"; return; }
	done
	not_ok "$name (exit $rc, want $*)"
	sed 's/^/#   stderr: /' "$T/last.err" | head -n 5
}
# run_out DIR: a run into DIR; status in $rc, output in last.out/last.err.
run_out() {
	"$PF" run --csv users.csv --out "$1" $S >"$T/last.out" 2>"$T/last.err"
	rc=$?
}

# How much room a whole run takes, to fill the disk at fractions of it.
mnt "$T/big" size=64m || not_ok "mount a tmpfs"
fresh
run_out "$T/big/out"
[ "$rc" -eq 0 ] || not_ok "a run with room enough (exit $rc)"
need=$(df -k --output=used "$T/big" | tail -n 1 | tr -d ' ')
echo "# a run of $NUSERS profiles takes $need KiB"
check "the run with room is consistent" consistent "$T/big/out"

# A disk that fills at 3% .. 99.9% of the run: the profile writes, their
# syncs and commits, the manifests at the end.
for pct in 3 10 25 50 75 90 97 99 999; do
	case $pct in 999) kib=$((need - 4)) ;; *) kib=$((need * pct / 100)) ;; esac
	sm=$T/small$pct
	mnt "$sm" "size=${kib}k" || not_ok "mount a ${kib} KiB tmpfs"
	fresh
	run_out "$sm/out"
	echo "# full at ${kib} KiB: exit $rc: $(head -n 1 "$T/last.err")"
	status_in "full at ${kib} KiB of $need: exit 73 or 74" 73 74
	if grep -qF "$sm/out" "$T/last.err" &&
	    grep -q 'No space left on device' "$T/last.err"; then
		ok "full at ${kib} KiB: the error names the path and the cause"
	else
		not_ok "full at ${kib} KiB: the error names the path and the cause"
		sed 's/^/#   stderr: /' "$T/last.err" | head -n 5
	fi
	check "full at ${kib} KiB: the database records nothing that was not written, no temporary file left" \
	    consistent "$sm/out"
	check "full at ${kib} KiB: the run is recorded as failed, with its error" \
	    [ "$(q "SELECT status || ' ' || (error LIKE '%No space left%') FROM runs ORDER BY id DESC LIMIT 1")" = "failed 1" ]
	check "full at ${kib} KiB: OUT/latest names no failed run" \
	    [ ! -e "$sm/out/latest" ]
	check "full at ${kib} KiB: no manifest for the failed run" \
	    [ -z "$(find "$sm/out" -name 'manifest.*')" ]
	check "full at ${kib} KiB: OUT/current/ holds what the database holds as current" \
	    current_follows "$sm/out"
	# With room again, a re-run completes what is missing.
	mount -o remount,size=64m "$sm"
	run_out "$sm/out"
	check "full at ${kib} KiB: with room again, the re-run completes (exit $rc)" \
	    [ "$rc" -eq 0 ]
	check "full at ${kib} KiB: after the re-run, every user has one current profile" \
	    all_current "$sm/out"
	check "full at ${kib} KiB: after the re-run, consistent" consistent "$sm/out"
	umount "$sm" && MOUNTS=$(echo "$MOUNTS" | sed "s|$sm ||")
done

# Unwritable output.  (As root, mode bits do not stop writes: a read-only
# filesystem and a file in the way do.)
fresh
mnt "$T/ro" size=8m
run_out "$T/ro/out"
[ "$rc" -eq 0 ] || not_ok "a run before the remount (exit $rc)"
mount -o remount,ro "$T/ro"
counts() { q "SELECT (SELECT count(*) FROM profiles) || ' ' || (SELECT count(*) FROM challenges) || ' ' || (SELECT count(*) FROM users)"; }
before=$(counts)
expect_status 73 "read-only output directory: exit 73" \
    "$PF" run --csv users.csv --out "$T/ro/out" $S
err_has "read-only output directory: the error names the path" "$T/ro/out"
err_has "read-only output directory: and the cause" "Read-only file system"
check "read-only output directory: no profile, challenge or user recorded" \
    [ "$(counts)" = "$before" ]
check "read-only output directory: no run left running" \
    [ "$(q "SELECT count(*) FROM runs WHERE status = 'running'")" -eq 0 ]
expect_status 73 "output directory to create on a read-only filesystem: exit 73" \
    "$PF" run --csv users.csv --out "$T/ro/new/out" $S
err_has "output directory to create on a read-only filesystem: the error names the path" "$T/ro/new/out"
check "output directory to create on a read-only filesystem: nothing recorded" \
    [ "$(counts)" = "$before" ]
mount -o remount,rw "$T/ro"
check "read-only output directory: the earlier run is intact" consistent "$T/ro/out"

fresh
: >"$T/afile"
expect_status 73 "a file where the output directory should be: exit 73" \
    "$PF" run --csv users.csv --out "$T/afile" $S
err_has "a file where the output directory should be: the error names the path" "$T/afile"
expect_status 73 "a file on the output path: exit 73" \
    "$PF" run --csv users.csv --out "$T/afile/out" $S
err_has "a file on the output path: the error names the path" "$T/afile/out"
mkdir -p "$T/cur/out" && : >"$T/cur/out/current"
expect_status 73 "a file where OUT/current should be: exit 73" \
    "$PF" run --csv users.csv --out "$T/cur/out" $S
err_has "a file where OUT/current should be: the error names the path" "$T/cur/out/current"
check "unwritable outputs: no profile, challenge or user recorded" \
    [ "$(counts)" = "0 0 0" ]
check "unwritable outputs: no profile file anywhere" no_profiles "$T/cur"

# A --prune whose manifest rows fill the disk: the prune is rolled back,
# so OUT/current/ keeps every user and the failed run counts no revoked.
fresh
python3 -c 'import sys
print("email,name,template")
for i in range(1500):
    print("p%d@example.com,User %d,scep" % (i, i))' >prune.csv
head -n 2 prune.csv >prune1.csv
mnt "$T/pbig" size=64m || not_ok "mount a tmpfs"
"$PF" run --csv prune.csv --out "$T/pbig/out" $S >/dev/null ||
    not_ok "a run to measure the prune's room"
pneed=$(df -k --output=used "$T/pbig" | tail -n 1 | tr -d ' ')
umount "$T/pbig" && MOUNTS=$(echo "$MOUNTS" | sed "s|$T/pbig ||")
fresh
mnt "$T/psmall" "size=$((pneed + 96))k" || not_ok "mount a small tmpfs"
"$PF" run --csv prune.csv --out "$T/psmall/out" $S >/dev/null ||
    not_ok "the run before the prune"
"$PF" regenerate --csv prune1.csv --prune --out "$T/psmall/out" $S \
    >"$T/last.out" 2>"$T/last.err"
rc=$?
status_in "a prune that fills the disk: exit 73 or 74" 73 74
check "a prune that fills the disk: nothing pruned, none counted" \
    [ "$(q "SELECT (SELECT count(*) FROM challenges WHERE revoke_reason =
    'pruned') || ' ' || (SELECT n_revoked FROM runs ORDER BY id DESC
    LIMIT 1)")" = "0 0" ]
check "a prune that fills the disk: OUT/current/ holds what the database holds as current" \
    current_follows "$T/psmall/out"
check "a prune that fills the disk: OUT/current/ still has every user" \
    [ "$(ls "$T/psmall/out/current" | wc -l)" -eq 1500 ]

# The database on a file system that fills up during a run (the output
# has room): the batch being recorded fails, the run stops with 74 and
# does not hang, and no profile is left that is not recorded.
mnt "$T/dbfs" size=600k || not_ok "mount a 600 KiB tmpfs"
cp pristine.db "$T/dbfs/pf.db"
python3 -c 'import sys
print("email,name,template")
for i in range(6000):
    print("d%d@example.com,User %d,scep" % (i, i))' >many.csv
PROFACTORY_DB="$T/dbfs/pf.db" expect_status 74 \
    "database on a full file system: exit 74" \
    timeout 120 "$PF" run --csv many.csv --out "$T/dbout" $S
err_has "database on a full file system: the error says so" "full"
check "database on a full file system: every profile file left is recorded" \
    consistent "$T/dbout" "$T/dbfs/pf.db"
check "database on a full file system: the run's counts are of what it recorded" \
    [ "$(sqlite3 "$T/dbfs/pf.db" "SELECT (SELECT n_issued + n_reissued FROM
    runs ORDER BY id DESC LIMIT 1) = (SELECT count(*) FROM profiles)")" = 1 ]

unmount_all
finish
