# Crash safety: `profactory run` killed with SIGKILL at random moments over
# the whole run, sometimes its re-run killed too, then a re-run to the end.
# After every kill the database must not be ahead of the files; after the
# completing re-run every invariant of SPEC.md (Reliability and security)
# must hold.  Checked by crash_check.py with sqlite3 and the files alone.
# Iterations alternate between a fresh database (kills during first issue)
# and a changed CSV over the previous state (kills during reissue, which
# supersedes challenges and replaces OUT/current/ links); every fourth
# one writes named temporaries instead of unnamed files.
#
# Iterations go on until PF_CRASH_KILLS (50) first kills landed before
# their run ended (at most twice that many iterations).
#   PF_CRASH_USERS (700: two full batches and a partial one), PF_CRASH_SEED (random)
#   PF_CRASH_LAYOUT (flat): the runs' --layout; with by-user the profiles
#   must be in user folders, in the run directories and in OUT/current/.
# OUT/current/ must link the current profiles and hold no .tmp-current
# (PF_CRASH_CHECK_CURRENT=0 leaves those two checks out).
# One line per invariant over all iterations, naming the first failing
# iteration and what broke.
. "$(dirname "$0")/lib.sh"

NUSERS=${PF_CRASH_USERS:-700}
LANDED=${PF_CRASH_KILLS:-50}
MAXITERS=$((LANDED * 2))
SEED=${PF_CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# seed $SEED (PF_CRASH_SEED=$SEED replays the kill moments)," \
    "$NUSERS users, layout ${PF_CRASH_LAYOUT:-flat}"

# A private copy of the binary: a rebuild during the test must not change
# or remove it under the runs.
cp "$PF" "$T/profactory" && PF=$T/profactory
pki "$T/pki" ec
LAYOUT=${PF_CRASH_LAYOUT:-flat}
export PF_CRASH_LAYOUT=$LAYOUT
S="$(signer_args "$T/pki") --jobs 2 --layout $LAYOUT"
CHECK="$TOP/tests/e2e/crash_check.py"
# The interpreter itself, not a version manager's shim (it is called
# hundreds of times).
PY=$(python3 -c 'import sys; print(sys.executable)')
FAILS=$T/fails
: >"$FAILS"

"$PF" init >/dev/null
"$PF" template add scep "$TOP/templates/scep.plist" >/dev/null
cp pf.db pristine.db

# mkcsv TAG: the users, with TAG in every name (a new TAG changes every
# row, so everybody is reissued).
mkcsv() {
	"$PY" -c '
import sys
n, tag = int(sys.argv[1]), sys.argv[2]
print("email,name,template")
for i in range(n):
    print("u%d@example.com,User %d %s,scep" % (i, i, tag))' "$NUSERS" "$1" >users.csv
}
fresh() {
	rm -rf out pf.db pf.db-wal pf.db-shm pf.db-journal
	cp pristine.db pf.db
}
now_ms() { date +%s%3N; }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# failed KEY DETAIL: record a broken invariant for this iteration.
failed() { printf '%s\t%s\t%s\n' "$1" "$i" "$2" >>"$FAILS"; }

# How long a run lasts, measured once: the shortest of three first issues
# and of three reissues.  Kills are drawn below it, so that they land
# before the run ends: a reissue right after a first issue takes a third
# of one after several (308 against 809 ms seen), and kills drawn up to
# the median often came after the run was over.
min3() { printf '%s\n' "$@" | sort -n | sed -n 1p; }
timed() {
	t0=$(now_ms)
	"$PF" run --csv users.csv --out out $S >/dev/null 2>"$T/warm.err" ||
	    failed final_rc "warm-up run: $(head -c 200 "$T/warm.err")"
	echo $(($(now_ms) - t0))
}
i=0
f1=$(fresh; mkcsv w0; timed) r1=$(mkcsv w1; timed) r2=$(mkcsv w2; timed)
f2=$(fresh; mkcsv w0; timed) r3=$(mkcsv w1; timed)
f3=$(fresh; mkcsv w0; timed)
DF=$(min3 "$f1" "$f2" "$f3") DR=$(min3 "$r1" "$r2" "$r3")
echo "# a run takes $DF ms ($f1 $f2 $f3), a reissue $DR ms ($r1 $r2 $r3):" \
    "kills at 0 to that"

# The schedule: iteration, mode, first kill delay, second kill delay or -.
"$PY" -c '
import random, sys
seed, iters = int(sys.argv[1]), int(sys.argv[2])
df, dr = int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
for i in range(1, iters + 1):
    mode = "fresh" if i % 3 == 1 else "reissue"
    d = df if mode == "fresh" else dr
    a = rnd.randint(0, d)
    b = rnd.randint(0, d) if rnd.random() < 0.4 else "-"
    print(i, mode, a, b)' "$SEED" "$MAXITERS" "$DF" "$DR" >schedule

# killrun MS: a run SIGKILLed after MS ms, then check the state it left.
# timeout(1) returns as soon as the run ends, if it ends first; with
# --foreground it kills the run alone and reaps it before returning (a
# killed process holds the database lock until it has exited, which can
# take a while when a thread is in syncfs).  The killed run is the one
# recorded after the newest run before.
killrun() {
	before=$(sqlite3 pf.db 'SELECT coalesce(max(id), 0) FROM runs')
	[ "$1" -gt 0 ] || set -- 1
	timeout --foreground -s KILL "$(secs "$1")" \
	    "$PF" run --csv users.csv --out out $S \
	    >"$T/kill.out" 2>"$T/kill.err" </dev/null
	krc=$?
	# timeout(1) says 124 when its timer fired (the run was killed), and
	# sometimes 137, the killed run's own status: both are a kill.
	[ "$krc" -eq 124 ] && krc=137
	case $krc in
	137) nkilled=$((nkilled + 1)) ;;
	0) nfinished=$((nfinished + 1)) ;;
	*) failed kill_rc "run exited $krc before the kill: $(head -c 200 "$T/kill.err")" ;;
	esac
	# shellcheck disable=SC2046 # two words: the kill moment, the run id
	set -- $("$PY" "$CHECK" killed pf.db out "$i" "$FAILS" "$before" </dev/null)
	if [ "$krc" -eq 137 ]; then
		moments="$moments ${1:-?}"
		killed="$killed ${2:-}"
	fi
}

ITERS=0 nkilled=0 nfinished=0 nsecond=0 nlanded=0 moments="" snap=""
exec 3<schedule
while [ "$nlanded" -lt "$LANDED" ] && read -r i mode da db <&3; do
	if [ "$mode" = fresh ]; then
		fresh
	fi
	ITERS=$i
	mkcsv "i$i"
	killed=""
	# Every fourth iteration writes named temporaries, as where
	# O_TMPFILE is missing.
	if [ $((i % 4)) -eq 0 ]; then
		export PROFACTORY_NO_TMPFILE=1
	else
		unset PROFACTORY_NO_TMPFILE
	fi
	killrun "$da"
	[ "$krc" -eq 137 ] && nlanded=$((nlanded + 1))
	if [ "$db" != - ]; then
		nsecond=$((nsecond + 1))
		killrun "$db"
	fi
	"$PF" run --csv users.csv --out out $S >"$T/final.out" 2>"$T/final.err" </dev/null &
	fpid=$!
	wait "$fpid"
	frc=$?
	[ "$frc" -eq 0 ] ||
	    failed final_rc "exit $frc: $(head -c 200 "$T/final.err")"
	# shellcheck disable=SC2086
	"$PY" "$CHECK" final pf.db out "$i" "$FAILS" "$NUSERS" "$fpid" \
	    $killed </dev/null
	# Keep the state of the first failing iteration for a post-mortem.
	if [ -z "$snap" ] && grep -q "	$i	" "$FAILS"; then
		snap=$T/snap-$i
		mkdir -p "$snap" && cp -a out pf.db "$snap/"
		echo "# iteration $i failed: state kept in $snap"
	fi
done
exec 3<&-

c() { printf '%s\n' $moments | grep -cx "$1"; }
echo "# $ITERS iterations: $nkilled kills landed ($nsecond second kills" \
    "scheduled), $nfinished runs finished before their kill; kill moments: $(c norun) before the" \
    "run was recorded, $(c begun) recorded with no profile yet," \
    "$(c partial) with some profiles recorded, $(c "done") after it was done"

# report KEY TEXT: one line per invariant over all iterations.
report() {
	n=$(grep -c "^$1	" "$FAILS")
	if [ "$n" -eq 0 ]; then
		ok "$2 ($ITERS iterations)"
	else
		first=$(grep "^$1	" "$FAILS" | head -n 1)
		not_ok "$2 (broken in $n iterations; first: iteration $(echo "$first" | cut -f2): $(echo "$first" | cut -f3))"
	fi
}
check "$LANDED runs killed before they ended (first kills, in $ITERS iterations)" \
    [ "$nlanded" -ge "$LANDED" ]
report kill_rc "killed runs did not fail on their own"
report kill_db_ahead "after each kill: every issued challenge has its profile file with the recorded sha256, bytes and challenge"
report kill_latest "after each kill: OUT/latest, if any, is a done run with both manifests"
report final_rc "the completing re-run exits 0"
report issued_files "after the re-run: every issued challenge has its profile file with the recorded sha256, bytes and challenge"
report files_recorded "after the re-run: every .mobileconfig in OUT/<run>/ (and its user folders) is recorded for that run"
if [ "$LAYOUT" = by-user ]; then
	report by_user_tree "by-user: every profile in a user folder (0700, none empty, no symbolic link), in the run directories and in OUT/current/"
fi
report no_dups "no duplicate challenges (database digests, current files)"
report no_tmp "no .tmp-* file left under OUT"
report latest "OUT/latest names the completing run, done, with manifest.csv and manifest.json"
report runs_status "runs: killed ones interrupted (or done), none running or failed, done ones with manifests, each counting the profiles it recorded"
report one_current "every user has one current profile and one outstanding challenge; OUT/current/ holds one file per user, named as that profile"
report manifest "the completing run's manifest has one row per user, none failed"
if [ "${PF_CRASH_CHECK_CURRENT:-1}" = 1 ]; then
	report current_fresh "OUT/current/ links each user's current profile, not a superseded one"
fi
finish
