#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks tests/bench/report.py on made-up results: the median and min-max of
# each figure over the runs, ratios taken within each run before they are
# summarised, a job missing from some runs, a target that never mounts, an
# even number of runs, the single-run layout of older results, and the chart
# (when matplotlib is installed). One "ok"/"not ok" line per check.
here=$(cd "$(dirname "$0")" && pwd)
report=$here/../bench/report.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
jobs="randread-4k-dio randwrite-4k-dio seqread-1m-dio seqwrite-1m-dio seqwrite-1m-buffered seqread-cold-buffered randwrite-4k-buffered fsync-append-4k"

# fio DIR TARGET JOB VALUE: a fio JSON result with VALUE as IOPS and as MiB/s.
fio() {
	printf 'fio: some note before the JSON\n{"jobs": [{"read": {"iops": %s, "bw": %s}, "write": {"iops": %s, "bw": %s}}]}\n' \
		"$4" "$(($4 * 1024))" "$4" "$(($4 * 1024))" >"$1/$2.$3.json"
}
# run DIR REXTFS EXT4 XFS RAW: every job of one run with these figures.
run() {
	local d=$1 j
	mkdir -p "$d"
	for j in $jobs; do
		fio "$d" rextfs "$j" "$2"
		fio "$d" ext4 "$j" "$3"
		fio "$d" xfs "$j" "$4"
		fio "$d" raw "$j" "$5"
	done
	echo "$2.0" >"$d/rextfs.metadata.txt"
	echo "$3.0" >"$d/ext4.metadata.txt"
	echo "$4.0" >"$d/xfs.metadata.txt"
}
# expect NAME FILE REGEX: FILE has a line matching the extended REGEX.
expect() {
	if grep -Eq -- "$3" "$2"; then
		echo "ok bench-report $1"
	else
		echo "not ok bench-report $1: no line matching '$3' in"
		sed 's/^/#   /' "$2"
		fails=$((fails + 1))
	fi
}
reject() {
	if grep -Eq -- "$3" "$2"; then
		echo "not ok bench-report $1: a line matches '$3'"
		sed 's/^/#   /' "$2"
		fails=$((fails + 1))
	else
		echo "ok bench-report $1"
	fi
}

# Three runs. rextfs 100, 200, 400 against ext4 200, 100, 400: the per-run
# ratios are 0.5, 2 and 1, so rextfs/ext4 is 1.00x (0.50-2.00); the
# medians alone (200 / 200) would hide the spread.
r=$tmp/three
run "$r/run-1" 100 200 300 1000
run "$r/run-2" 200 100 100 3000
run "$r/run-3" 400 400 200 2000
# xfs's cold read failed in run 2.
rm "$r/run-2/xfs.seqread-cold-buffered.json"
echo "fio failed" >"$r/run-2/xfs.seqread-cold-buffered.failed"
/usr/bin/python3 "$report" "$r" "$r/bench.png" >"$r/out" 2>&1 || { echo "not ok bench-report three runs: report.py failed"; sed 's/^/#   /' "$r/out"; fails=$((fails + 1)); }
expect "header names the runs" "$r/out" '^3 runs of every job: median \(min-max\)'
expect "figure median and min-max" "$r/out" '^randread-4k-dio +IOPS +200 \(100-400\) +200 \(100-400\) +200 \(100-300\) +2000 \(1000-3000\)$'
expect "metadata figures, raw has none" "$r/out" '^metadata +ops/s +200 \(100-400\) +200 \(100-400\) +200 \(100-300\) +-$'
expect "ratios within each run" "$r/out" '^randread-4k-dio +1\.00x \(0\.50-2\.00\) +0\.10x \(0\.07-0\.20\) +1\.00x \(0\.50-1\.50\) +0\.10x \(0\.03-0\.30\) +0\.20x \(0\.03-0\.20\)$'
expect "a job missing from one run" "$r/out" '^seqread-cold-buffered +MiB/s +200 \(100-400\) +200 \(100-400\) +250 \(200-300\) \[2/3 runs\]'
expect "its ratio counts the runs it has" "$r/out" '^seqread-cold-buffered +1\.00x \(0\.50-2\.00\) +0\.10x \(0\.07-0\.20\) +1\.00x \(0\.50-1\.50\) \[2/3 runs\] +0\.20x \(0\.10-0\.30\) \[2/3 runs\]'
expect "table.txt written" "$r/table.txt" '^randread-4k-dio +IOPS +200 \(100-400\)'
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	if [ "$(head -c 4 "$r/bench.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG' ]; then
		echo "ok bench-report chart drawn"
	else
		echo "not ok bench-report chart drawn"; fails=$((fails + 1))
	fi
	expect "chart reported" "$r/out" '^chart: '
else
	expect "no chart without matplotlib, said so" "$r/out" '^\(no matplotlib: no chart\)$'
fi

# Two runs (the median of an even count is the mean of the middle two); xfs never mounts.
r=$tmp/two
run "$r/run-1" 100 100 100 100
run "$r/run-2" 300 100 100 100
run "$r/run-10" 200 100 100 100
rm -r "$r/run-10"
rm "$r"/run-*/xfs.*
for d in "$r"/run-*; do echo "does not mount" >"$d/xfs.status"; done
/usr/bin/python3 "$report" "$r" "$r/bench.png" >"$r/out" 2>&1
expect "even number of runs" "$r/out" '^randread-4k-dio +IOPS +200 \(100-300\) +100 \(100-100\) +n/a \(does not mount\)'
expect "ratio without a figure" "$r/out" '^randread-4k-dio +2\.00x \(1\.00-3\.00\) +2\.00x \(1\.00-3\.00\) +- +- +1\.00x \(1\.00-1\.00\)$'

# The layout of a single run from before BENCH_REPS: no spread shown.
r=$tmp/one
run "$r" 300 100 150 600
/usr/bin/python3 "$report" "$r" "$r/bench.png" >"$r/out" 2>&1
expect "single run said" "$r/out" '^1 run of every job'
expect "single run figures" "$r/out" '^randread-4k-dio +IOPS +300 +100 +150 +600$'
expect "single run ratios" "$r/out" '^randread-4k-dio +3\.00x +0\.50x +1\.50x +0\.25x +0\.17x$'
reject "no min-max for one run" "$r/out" '\([0-9.]+-[0-9.]+\)'
[ $fails = 0 ]
