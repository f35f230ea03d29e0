# A no-change rerun knows a profile file is as its run wrote it without
# reading it back (sql/003_file_stat.sql): the file's inode, size and
# modification time as written, and its change time (ctime) as it was once
# linked into OUT/current/.  Anything else that touched the file makes the
# rerun read it and compare its digest: a byte changed in place (even
# with the modification time put back, also while the run that made it is
# still going) reissues the profile; a copy with the same bytes, or a new
# mode, leaves it unchanged.  Each run also reads about one file in 16,
# drawn afresh, for what metadata cannot show.  Both ways of writing files (unnamed
# files, and named temporaries as on a file system without O_TMPFILE)
# record what the check needs.
. "$(dirname "$0")/lib.sh"

pki "$T/pki" ec
# users N: a CSV of N users u0000..., template scep.
users() {
	python3 -c 'import sys
print("email,name,template")
for i in range(int(sys.argv[1])):
    print(f"u{i:04d}@example.com,User {i},scep")' "$1"
}
users 3000 > users.csv
q() { sqlite3 "$PROFACTORY_DB" "$1"; }
run() { "$PF" run --csv users.csv --out out $(signer_args "$T/pki"); }

# identity_ok: every current profile's recorded inode, modification time
# and change time are its file's.
identity_ok() {
	sqlite3 -separator ' ' "$PROFACTORY_DB" "SELECT r.name || '/' || p.file,
	    p.file_ino, p.file_mtime, p.file_ctime FROM profiles p
	    JOIN runs r ON r.id = p.run_id WHERE p.superseded_at IS NULL
	    ORDER BY p.id" > ident.txt &&
	python3 - ident.txt <<'PY'
import os, sys
rows = [l.split() for l in open(sys.argv[1])]
assert len(rows) == 3000, len(rows)
for path, ino, mtime, ctime in rows:
    st = os.stat(os.path.join("out", path))
    assert (int(ino), int(mtime), int(ctime)) == (st.st_ino,
        st.st_mtime_ns, st.st_ctime_ns), path
PY
}

# flip FILE: change one byte in place, then put its times back (flip.py
# is also what the run stopped midway below uses).
cat > flip.py <<'PY'
import os, sys
def flip(p):
    st = os.stat(p)
    b = bytearray(open(p, "rb").read())
    b[200] ^= 1
    with open(p, "r+b") as f:
        f.write(b)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_mtime_ns == st.st_mtime_ns
if __name__ == "__main__":
    flip(sys.argv[1])
PY
flip() { python3 flip.py "$1"; }

counts() { tail -n 1 "$T/last.out" | grep -q "$1"; }
cur() { echo "out/current/$1@example.com.scep.mobileconfig"; }

for how in anon named; do
	rm -rf out "$PROFACTORY_DB"*
	case $how in
	named) export PROFACTORY_NO_TMPFILE=1 ;;
	*) unset PROFACTORY_NO_TMPFILE ;;
	esac
	"$PF" init >/dev/null
	"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
	expect_status 0 "$how: run of 3000 users" run
	check "$how: each profile's inode and times are recorded (sqlite3, stat)" \
	    identity_ok
	# Unnamed files are kept open until they are synced and published,
	# then their pages are dropped (a tmpfs has no other copy to keep).
	if [ $how = anon ] && [ "$(stat -f -c %T .)" != tmpfs ]; then
		check "$how: the new profiles' pages left the page cache (fincore)" \
		    sh -c 'fincore -b -n -o RES out/latest/*.mobileconfig |
		    awk "{ s += \$1 } END { exit s != 0 }"'
	fi

	# The recorded digest of an untouched file is not what decides:
	# with a wrong one recorded for 200 profiles, a rerun reissues
	# only those it reads anyway (about one in 16, drawn afresh), so
	# the others were not read.  Without their recorded inode they are
	# read, and reissued.
	q "UPDATE profiles SET sha256 = 'x' WHERE id BETWEEN 1001 AND 1200"
	expect_status 0 "$how: rerun" run
	drawn=$(tail -n 1 "$T/last.out" | sed -n 's/.* \([0-9]*\) reissued.*/\1/p')
	check "$how: untouched files are not read back ($drawn of 200 read in their turn)" \
	    [ "${drawn:-200}" -lt 100 ]
	check "$how: nothing else is reissued" \
	    counts " 0 issued, $drawn reissued, $((3000 - drawn)) unchanged"
	q "UPDATE profiles SET file_ino = NULL WHERE sha256 = 'x'"
	expect_status 0 "$how: rerun, their inode not known" run
	check "$how: files without their identity are read and checked" \
	    counts " 0 issued, $((200 - drawn)) reissued, $((2800 + drawn)) unchanged"
	check "$how: no current profile has a wrong digest left (sqlite3)" \
	    [ "$(q "SELECT count(*) FROM profiles WHERE sha256 = 'x' AND
	    superseded_at IS NULL")" = 0 ]

	flip "$(cur u0001)"
	cp -p "$(cur u0002)" copy.tmp && cat copy.tmp > "$(cur u0002)"
	cp -p "$(cur u0003)" copy.tmp && mv copy.tmp \
	    "out/$(q "SELECT r.name || '/' || p.file FROM profiles p JOIN runs r ON r.id = p.run_id JOIN users u ON u.id = p.user_id WHERE u.key = 'u0003@example.com'")"
	chmod 0400 "$(cur u0004)"
	expect_status 0 "$how: rerun after files were touched" run
	check "$how: only the byte changed in place reissues" \
	    counts " 0 issued, 1 reissued, 2999 unchanged"
	check "$how: the changed one is u0001" \
	    grep -q '^[0-9]*,u0001@example.com,scep,1,reissued' \
	    out/latest/manifest.csv
	check "$how: its new profile verifies (openssl cms)" \
	    sh -c 'openssl cms -verify -inform DER -in "$1" -CAfile "$2" \
	    -purpose any -out /dev/null 2>/dev/null' sh "$(cur u0001)" \
	    "$T/pki/root.pem"
	check "$how: a rewrite with the same bytes, a copy over it, a new mode: unchanged" \
	    sh -c "grep -c '^[0-9]*,u000[234]@example.com,scep,1,unchanged' \
	    out/latest/manifest.csv | grep -qx 3"
	expect_status 0 "$how: rerun again" run
	check "$how: and they stay unchanged" \
	    counts " 0 issued, 0 reissued, 3000 unchanged"
	check "$how: the files found intact are recorded as they are now" \
	    identity_ok

	# A file damaged without a trace in its metadata (here: its
	# recorded digest changed instead) is found in time: each run reads
	# about a sixteenth of the files, drawn afresh (not finding it in 150
	# runs would happen once in 16 000).
	q "UPDATE profiles SET sha256 = 'x' WHERE id = (SELECT p.id FROM
	    profiles p JOIN users u ON u.id = p.user_id WHERE u.key =
	    'u0100@example.com' AND p.superseded_at IS NULL)"
	n=0 found=0
	while [ $n -lt 150 ] && [ $found = 0 ]; do
		run > "$T/last.out" 2>&1 || break
		n=$((n + 1))
		if counts " 1 reissued, 2999 unchanged"; then
			found=$n
		elif ! counts " 0 reissued, 3000 unchanged"; then
			break
		fi
	done
	check "$how: a file damaged behind its metadata is read in time" \
	    [ "$found" -gt 0 ]
	echo "# found by rerun $found"
	check "$how: and reissued" grep -q \
	    '^[0-9]*,u0100@example.com,scep,1,reissued' out/latest/manifest.csv
done

# A profile changed while the run that made it still goes on, its times
# put back: the next rerun reads it and reissues it.  The run is stopped
# (SIGSTOP) once the first user's profile is named in its run folder but
# not yet linked into OUT/current/ (between naming and linking: the link
# sets a new change time), then once the second batch is in OUT/current/
# (the second user's profile, linked long before).  The first stop waits
# for the second profile's name: the writer names in CSV order and takes
# each file's change time right after naming it, so a stop as soon as the
# first name appears could come before that, and the change would then
# count as part of the naming.
rm -rf out "$PROFACTORY_DB"*
"$PF" init >/dev/null
"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
users 6000 > users5.csv
python3 - "$PF" users5.csv $(signer_args "$T/pki") > midrun.out 2>&1 <<'PY'
import os, signal, subprocess, sys, time
sys.path.insert(0, os.getcwd())
from flip import flip
pf, csv, args = sys.argv[1], sys.argv[2], sys.argv[3:]
p = subprocess.Popen([pf, "run", "--csv", csv, "--out", "out"] + args)
def stop_when(cond, what):
    deadline = time.time() + 120
    while not cond() and p.poll() is None and time.time() < deadline:
        time.sleep(0.0002)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGSTOP)
    else:
        print("the run ended before %s" % what)
cur = "out/current/u%04d@example.com.scep.mobileconfig"
def named(i):
    try:
        runs = [d for d in os.listdir("out") if d[0].isdigit()]
    except FileNotFoundError:
        return None
    f = runs and "out/%s/u%04d@example.com.scep.mobileconfig" % (runs[0], i)
    return f if f and os.path.exists(f) else None
try:
    stop_when(lambda: named(1), "the second profile was named")
    print("first profile named, %s in OUT/current/" %
          ("already" if os.path.exists(cur % 0) else "not yet"))
    flip(named(0))
    os.kill(p.pid, signal.SIGCONT)
    stop_when(lambda: os.path.exists(cur % 5000), "u5000 was linked")
    flip(cur % 1)
finally:
    try:
        os.kill(p.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    rc = p.wait()
sys.exit(rc)
PY
rc=$?
check "a run stopped midway and resumed finishes (status $rc)" [ $rc = 0 ]
sed 's/^/#   /' midrun.out
expect_status 0 "rerun after the change midway" \
    "$PF" run --csv users5.csv --out out $(signer_args "$T/pki")
check "the profile changed between naming and linking is reissued" \
    grep -q '^[0-9]*,u0000@example.com,scep,1,reissued' out/latest/manifest.csv
check "the profile changed after linking is reissued" \
    grep -q '^[0-9]*,u0001@example.com,scep,1,reissued' out/latest/manifest.csv
check "and only they" counts " 0 issued, 2 reissued, 5998 unchanged"
rm -rf out "$PROFACTORY_DB"*
"$PF" init >/dev/null
"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
expect_status 0 "a run of 3000 users for the migration check" run

# A database of schema version 2 (before these columns): refused until
# `init` migrates it; its profiles, recorded without their files' inodes,
# are read back once and stay unchanged.
unset PROFACTORY_NO_TMPFILE
q "ALTER TABLE profiles DROP COLUMN file_ino;
   ALTER TABLE profiles DROP COLUMN file_mtime;
   ALTER TABLE profiles DROP COLUMN file_ctime;
   DELETE FROM schema_migrations WHERE version = 3; PRAGMA user_version = 2"
expect_status 78 "a version 2 database is refused" run
err_has "with what to do" 'schema version 2, this profactory needs 3 (run "profactory init" to migrate)'
expect_status 0 "init migrates it" "$PF" init
check "from version 2 to 3" grep -q "migrated from schema version 2 to 3" \
    "$T/last.out"
check "its profiles have no recorded inode" \
    [ "$(q "SELECT count(*) FROM profiles WHERE file_ino IS NULL")" -ge 3000 ]
expect_status 0 "rerun after the migration" run
check "the old profiles are checked and unchanged" \
    counts " 0 issued, 0 reissued, 3000 unchanged"
check "and recorded as they are, for the next rerun" identity_ok
check "no challenge superseded (sqlite3)" \
    [ "$(q "SELECT count(*) FROM challenges WHERE revoked_at IS NULL")" = 3000 ]
finish
