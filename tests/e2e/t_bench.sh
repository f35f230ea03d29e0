# scripts/bench, scaled down: it runs to its end and reports every figure
# (the runs, their split, the reruns, verify-csr), with the counts the
# runs printed.  It measures nothing here: the figures are not checked,
# only that the benchmark works.
. "$(dirname "$0")/lib.sh"

n=300
TMPDIR=$T N=$n CALLS=3 SECONDS_SPEED=1 PROFACTORY_BIN=$PF \
    timeout 600 "$TOP/scripts/bench" >bench.out 2>bench.err
st=$?
check "bench exits 0 (status $st)" [ "$st" -eq 0 ]
if [ "$st" -ne 0 ]; then
	sed 's/^/#   stderr: /' bench.err | tail -n 20
fi
check "no shell error on stderr" \
    sh -c '! grep -E "unbound variable|command not found|syntax error" bench.err'
for line in "load average: " "inodes in the kernel's cache: " \
    "RSA-2048 run: $n profiles in " "EC P-256 run: $n profiles in " \
    "no-change rerun (RSA): " "no-change rerun (EC):  " \
    "no-change rerun (EC), profiles not in the page cache: " \
    "verify-csr, 100000 challenges" "verify-csr, approved " \
    "total benchmark time: "; do
	check "report line: $line" grep -qF -- "$line" bench.out
done
check "each run's time split per profile (2 lines)" \
    [ "$(grep -c ' us a profile on [0-9]* cores: signing ' bench.out)" -eq 2 ]
check "reruns: every row unchanged (3 lines)" \
    [ "$(grep -c "$n rows, 0 issued, 0 reissued, $n unchanged," bench.out)" \
    -eq 3 ]
check "no temporary folder left" \
    sh -c '! ls -d "$1"/pf-bench.* 2>/dev/null' sh "$T"
finish
