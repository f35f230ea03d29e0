# hostile: every case of the corpus in tests/corpus (CSV files for `run`,
# templates for `template add`) through the real binary, each in a fresh
# directory tree.  For each case: the exact exit status, never a crash or
# a sanitizer report; the message names the input file and the line (CSV)
# or the key path (template); nothing written outside the output
# directory; files 0600 and directories 0700 even under umask 000; no
# profile when the input is refused; with rows skipped, the manifests and
# profiles checked by tests/corpus/check.py, and the same CSV with
# --strict refused naming each bad line.  See tests/corpus/README.
. "$(dirname "$0")/lib.sh"

C=$TOP/tests/corpus
pki "$T/pki" ec
umask 000	# modes must come from the code, not from the umask
SIGNER=$(signer_args "$T/pki")
etc_before=$(cksum /etc/passwd; ls -d /etc/x 2>/dev/null)

# expect_get KEY FILE: the values of lines "KEY ..." of an .expect file.
expect_get() {
	sed -n "s/^$1 //p" "$2"
}

# sandbox NAME: a fresh tree for one case, its database outside it:
#   $S/db/pf.db   $S/box/canary   $S/box/in/   $S/box/w/x/y/ (the working
#   directory; OUT is ./out in it, so "../../etc/x" from OUT/RUN lands
#   inside box/).
sandbox() {
	S=$T/c/$1
	rm -rf "$S"
	mkdir -p "$S/db" "$S/box/in" "$S/box/w/x/y"
	echo canary >"$S/box/canary"
	export PROFACTORY_DB="$S/db/pf.db"
	OUT=$S/box/w/x/y/out
	cd "$S/box/w/x/y" || exit 1
}

# listing: everything in the sandbox but OUT and the database, with
# types, modes and (for files) sizes and times.
listing() {
	(cd "$S" && find . -path ./box/w/x/y/out -prune -o -path ./db -prune \
	    -o -printf '%p %y %m\n' && find . -path ./box/w/x/y/out -prune \
	    -o -path ./db -prune -o -type f -printf '%p %s %T@\n') | sort
}

# input CASEDIR STEM EXPECT: set IN (as given on the command line) for a
# case: a generated input, a path, or the committed file of that stem.
input() {
	i_gen=$(expect_get gen "$3")
	i_path=$(expect_get path "$3")
	i_file=$(expect_get input "$3")
	if [ -n "$i_path" ]; then
		IN=$i_path
		return 0
	fi
	if [ -n "$i_gen" ]; then
		i_ext=csv
		[ "$1" = templates ] && i_ext=plist
		IN=../../../in/$2.$i_ext
		python3 "$C/gen.py" "$IN" "$i_gen"
		return
	fi
	[ -n "$i_file" ] || i_file=$(cd "$C/$1" && ls "$2".csv "$2".plist \
	    2>/dev/null | head -n 1)
	IN=../../../in/$i_file
	cp "$C/$1/$i_file" "$IN"
}

# no_crash NAME: the last command ($rc, $T/last.err) neither died of a
# signal nor made a sanitizer report.
no_crash() {
	if [ "$rc" -ge 128 ]; then
		not_ok "$1: crashed (status $rc, signal $((rc - 128)))"
	elif grep -qE 'Sanitizer|runtime error:' "$T/last.err"; then
		not_ok "$1: sanitizer report"
		head -n 30 "$T/last.err" | sed 's/^/#   /'
	else
		ok "$1: no crash"
	fi
}

# outcome NAME WANT: no crash, and the exit status in $rc is WANT.
outcome() {
	no_crash "$1"
	if [ "$rc" -eq "$2" ]; then
		ok "$1: exit $2"
	else
		not_ok "$1: exit $rc, want $2"
		sed 's/^/#   stderr: /' "$T/last.err" | head -n 10
	fi
}

# messages NAME EXPECT: stderr holds every "stderr" text of EXPECT, with
# {in} replaced by the input path as given.
messages() {
	expect_get stderr "$2" | while IFS= read -r m_text; do
		m_text=$(printf '%s' "$m_text" | sed "s|{in}|$IN|g")
		if grep -qF -- "$m_text" "$T/last.err"; then
			echo "ok - $1: message \"$m_text\""
		else
			echo "not ok - $1: message \"$m_text\""
			sed 's/^/#   stderr: /' "$T/last.err" | head -n 5
		fi
	done >"$T/msg.out"
	cat "$T/msg.out"
	grep -q '^not ok' "$T/msg.out" && FAILED=1
	return 0
}

# contained NAME: nothing changed outside OUT and the database, the
# database directory holds only the database, and everything in OUT is
# 0600 (files) or 0700 (directories), links only OUT/latest.
contained() {
	listing >"$T/after"
	if cmp -s "$T/before" "$T/after"; then
		ok "$1: nothing written outside the output directory"
	else
		not_ok "$1: nothing written outside the output directory"
		diff "$T/before" "$T/after" | head -n 10 | sed 's/^/#   /'
	fi
	c_db=$(ls -A "$S/db" | grep -vE '^pf\.db(-wal|-shm|-journal|\.lock)?$')
	check "$1: only the database in its directory" [ -z "$c_db" ]
	[ -e "$OUT" ] || return 0
	c_bad=$(find "$OUT" \( -type f ! -perm 600 \) -o \
	    \( -type d ! -perm 700 \) -o \( -type l ! -path "$OUT/latest" \) \
	    -o \( ! -type f ! -type d ! -type l \))
	check "$1: files 0600, directories 0700" [ -z "$c_bad" ]
	[ -z "$c_bad" ] || echo "$c_bad" | head -n 5 | sed 's/^/#   /'
}

# failed_lines RUNDIR: the lines of the manifest's failed rows.
failed_lines() {
	python3 -c 'import json, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "surrogateescape")
rows = json.loads(raw)["rows"]
print(" ".join(sorted({str(r["line"]) for r in rows
                       if r["status"] == "failed"}, key=int)))' \
	    "$1/manifest.json" 2>/dev/null
}

# lines_named LINES: stderr names "$IN:L:" for every L of LINES.
lines_named() {
	for l in $1; do
		grep -qF -- "$IN:$l:" "$T/last.err" || return 1
	done
}

# strict_refused LINES: the last run exited 65 naming every line of LINES.
strict_refused() {
	[ "$rc" -eq 65 ] && lines_named "$1"
}

# run_csv ARGS...: the run over $IN in the sandbox.
run_csv() {
	"$PF" run --csv "$IN" --out out $SIGNER "$@" >"$T/last.out" \
	    2>"$T/last.err"
	rc=$?
}

# --- CSV cases: profactory run ---
for e in "$C"/csv/*.expect; do
	stem=$(basename "$e" .expect)
	cname=csv/$stem
	want=$(expect_get exit "$e")
	args=$(expect_get args "$e")
	tmpl=$(expect_get template "$e")
	sandbox "csv-$stem"
	input csv "$stem" "$e" || { not_ok "$cname: input"; continue; }
	"$PF" init >/dev/null 2>&1
	tflag="--template scep"
	case $tmpl in
	"")	"$PF" template add scep "$C/templates/valid.plist" ;;
	column)	"$PF" template add scep "$C/templates/valid.plist"
		tflag= ;;
	*)	tname=$(basename "$tmpl" .plist)
		"$PF" template add "$tname" "$C/$tmpl"
		tflag="--template $tname" ;;
	esac >/dev/null 2>&1 || not_ok "$cname: template for the case"
	listing >"$T/before"
	# shellcheck disable=SC2086
	run_csv $tflag $args
	outcome "$cname" "$want"
	messages "$cname" "$e"
	contained "$cname"
	case $want in
	0|1) ;;
	*)	check "$cname: no profile written" no_profiles "$OUT"
		continue ;;
	esac
	run=$(readlink "$OUT/latest")
	if [ -z "$run" ] || [ ! -d "$OUT/$run" ]; then
		not_ok "$cname: OUT/latest points at the run"
		continue
	fi
	python3 "$C/check.py" "$cname" "$e" "$IN" "$OUT/$run" \
	    "$T/pki/root.pem" || FAILED=1
	[ "$want" = 1 ] || continue
	lines=$(failed_lines "$OUT/$run")
	check "$cname: stderr names $IN and the lines $lines" \
	    lines_named "$lines"

	# The same input with --strict: refused, naming the lines, and
	# nothing written.
	sandbox "csv-$stem-strict"
	input csv "$stem" "$e" >/dev/null
	"$PF" init >/dev/null 2>&1
	case $tmpl in
	""|column) "$PF" template add scep "$C/templates/valid.plist" ;;
	*)	"$PF" template add "$tname" "$C/$tmpl" ;;
	esac >/dev/null 2>&1
	listing >"$T/before"
	# shellcheck disable=SC2086
	run_csv $tflag $args --strict
	no_crash "$cname --strict"
	first=$(echo $lines | cut -d' ' -f1-5)	# at most 5 are listed
	check "$cname --strict: exit 65, naming $IN and the lines $first" \
	    strict_refused "$first"
	contained "$cname --strict"
	check "$cname --strict: no profile written" no_profiles "$OUT"
done

# --- template cases: profactory template add ---
for e in "$C"/templates/*.expect; do
	stem=$(basename "$e" .expect)
	cname=templates/$stem
	want=$(expect_get exit "$e")
	args=$(expect_get args "$e")
	sandbox "tmpl-$stem"
	input templates "$stem" "$e" || { not_ok "$cname: input"; continue; }
	"$PF" init >/dev/null 2>&1
	printf 'email,name\r\nrun@example.com,"<Run> & ""User"" ]]>"\r\n' \
	    >../../../in/run.csv
	listing >"$T/before"
	# shellcheck disable=SC2086
	"$PF" template add $args t "$IN" >"$T/last.out" 2>"$T/last.err"
	rc=$?
	outcome "$cname" "$want"
	messages "$cname" "$e"
	contained "$cname"
	if [ "$want" != 0 ]; then
		check "$cname: nothing stored" \
		    sh -c "! '$PF' template list | grep -q '^t '"
		continue
	fi
	grep -qx then-run "$e" || continue
	IN=../../../in/run.csv
	run_csv --template t
	outcome "$cname then run" 0
	contained "$cname then run"
	run=$(readlink "$OUT/latest")
	printf 'rows 1\nrow 2 issued\nroundtrip\n' >"$T/run.expect"
	python3 "$C/check.py" "$cname then run" "$T/run.expect" "$IN" \
	    "$OUT/$run" "$T/pki/root.pem" || FAILED=1
done

cd "$T" || exit 1
check "/etc/passwd unchanged, no /etc/x" \
    [ "$(cksum /etc/passwd; ls -d /etc/x 2>/dev/null)" = "$etc_before" ]
finish
