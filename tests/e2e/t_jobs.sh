# The pipeline: a run larger than the in-flight window (PF_PIPE_WINDOW,
# 16 384 profiles, in batches of 4 096) gives the same profiles in the same
# order with --jobs 1 and --jobs 4 (apart from challenges, UUIDs and
# signatures), and so does a run whose files are written under named
# temporaries (PROFACTORY_NO_TMPFILE: as on a file system without
# O_TMPFILE; "--jobs 2n" below).
. "$(dirname "$0")/lib.sh"

pki "$T/pki" ec
python3 - <<'PY' > users.csv
print("email,name,department,template")
for i in range(20000):
    print(f"u{i:05d}@example.com,\"User {i}, <{i % 13}> & co\",D{i % 7},scep")
PY
# clean_out DIR: no temporary file left, every profile mode 0600.
clean_out() {
	[ -z "$(find "$1" -name '.tmp-*')" ] &&
	    [ -z "$(find "$1" -name '*.mobileconfig' ! -perm 600)" ]
}
for j in 1 4 2n; do
	export PROFACTORY_DB="$T/pf$j.db"
	"$PF" init >/dev/null
	"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
	case $j in
	*n) export PROFACTORY_NO_TMPFILE=1 ;;
	*) unset PROFACTORY_NO_TMPFILE ;;
	esac
	expect_status 0 "run of 20000 users with --jobs $j" timeout 300 \
	    "$PF" run --csv users.csv --out "out$j" --jobs "${j%n}" \
	    $(signer_args "$T/pki")
	check "--jobs $j: no temporary file left, every profile 0600" \
	    clean_out "out$j"
done
unset PROFACTORY_NO_TMPFILE
check "every user issued with --jobs 4" \
    [ "$(ls out4/latest/ | grep -c mobileconfig)" = 20000 ]
cat > cmp.py <<'PY'
import csv, re, sys, os
def rows(d):
    with open(os.path.join(d, "manifest.csv"), newline="") as f:
        return [(r["line"], r["user"], r["template"], r["status"], r["file"],
                 r["payload_identifier"]) for r in csv.DictReader(f)]
def content(d, name):
    b = open(os.path.join(d, name), "rb").read()
    x = b[b.index(b"<?xml"):b.index(b"</plist>") + 8]
    x = re.sub(rb"<key>Challenge</key>\s*<string>[^<]*</string>", b"CH", x)
    return re.sub(rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                  rb"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", b"UUID", x)
a, b = sys.argv[1], sys.argv[2]
ra, rb_ = rows(a), rows(b)
if ra != rb_:
    sys.exit("manifests differ")
if [r[1] for r in ra] != [f"u{i:05d}@example.com" for i in range(20000)]:
    sys.exit("manifest not in CSV order")
for r in ra:
    if content(a, r[4]) != content(b, r[4]):
        sys.exit("profile %s differs" % r[4])
PY
check "same manifest order and profile content with --jobs 1 and 4" \
    python3 cmp.py out1/latest out4/latest
check "the same with named temporaries" python3 cmp.py out1/latest out2n/latest

# A rerun checks each file's digest; workers open a claim of files before
# reading them.  With every file out of the page cache and five files
# spoiled across claims (longer, same length with one byte changed,
# removed, a symbolic link, the last row), exactly those five are
# reissued.
export PROFACTORY_DB="$T/pf4.db"
python3 - out4/latest <<'PY'
import os, sys
d = sys.argv[1]
def f(i):
    return os.path.join(d, f"u{i:05d}@example.com.scep.mobileconfig")
with open(f(10), "ab") as o:
    o.write(b"x")
with open(f(100), "r+b") as o:
    o.seek(200)
    c = o.read(1)
    o.seek(200)
    o.write(bytes([c[0] ^ 1]))
os.unlink(f(5000))
os.unlink(f(12345))
os.symlink(os.path.basename(f(12346)), f(12345))
with open(f(19999), "ab") as o:
    o.write(b"\n")
PY
check "every profile dropped from the page cache" "$TOP/scripts/dropcache" out4
expect_status 0 "rerun of 20000 users, five files spoiled, none cached" \
    timeout 300 "$PF" run --csv users.csv --out out4 --jobs 4 \
    $(signer_args "$T/pki")
check "the rerun reissued the five, left the rest unchanged" \
    grep -q ' 0 issued, 5 reissued, 19995 unchanged,' "$T/last.out"
check "the reissued rows are the spoiled ones" [ "$(awk -F, \
    '$5 == "reissued" { print $2 }' out4/latest/manifest.csv | tr '\n' ' ')" \
    = "u00010@example.com u00100@example.com u05000@example.com u12345@example.com u19999@example.com " ]

# Four workers opening claims of files would need more descriptors than
# a limit of 100 allows: being short of descriptors must not pass for a
# spoiled file.  The database, read with sqlite3, must gain no profile
# and supersede no challenge.
dbstate() {
	sqlite3 "$PROFACTORY_DB" "SELECT (SELECT count(*) FROM profiles), \
	    (SELECT count(*) FROM challenges WHERE revoked_at IS NOT NULL)"
}
before=$(dbstate)
expect_status 0 "rerun with a descriptor limit of 100, --jobs 4" \
    timeout 300 sh -c 'ulimit -n 100 && exec "$@"' sh \
    "$PF" run --csv users.csv --out out4 --jobs 4 $(signer_args "$T/pki")
check "nothing reissued for want of descriptors" \
    grep -q ' 0 issued, 0 reissued, 20000 unchanged,' "$T/last.out"
check "no profile added, no challenge superseded (sqlite3: $before)" \
    [ "$(dbstate)" = "$before" ]
finish
