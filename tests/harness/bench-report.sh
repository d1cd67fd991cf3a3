#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks tests/bench/report.py on made-up results: the median and min-max of
# each figure over the runs, ratios taken within each run before they are
# summarised, a job missing from some runs, a target that never mounts, an
# even number of runs, the single-run layout of older results, the scale
# jobs' rows (one run, no raw figure, a failed job, results without them,
# results with only them), and the chart (when matplotlib is installed). One
# "ok"/"not ok" line per check.
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
# scale DIR REXTFS EXT4 XFS: the scale jobs' results, with VALUE as every
# ops/s figure, VALUE/10 as MiB/s and VALUE/25 as the extent count.
scale() {
	local d=$1/scale t v
	mkdir -p "$d"
	set -- rextfs "$2" ext4 "$3" xfs "$4"
	while [ $# -gt 0 ]; do
		t=$1 v=$2
		shift 2
		printf '{"files": 1000000, "dirs": 1000, "create": %s, "stat": %s, "unlink": %s, "total": %s, "cold_stat": true}\n' \
			"$v" "$((v * 2))" "$((v * 3))" "$v" >"$d/$t.scale-files.json"
		printf '{"seed": 16, "fill": 0.9, "file_mb": 1024, "capacity_bytes": 4294967296, "files_written": 3300, "fill_stopped": "90%% used", "used_after_fill": 0.9012, "used_after_delete": 0.4631, "files_deleted": 1650, "mibps": %s, "extents": %s}\n' \
			"$((v / 10))" "$((v / 25))" >"$d/$t.aging.json"
	done
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
# The scale jobs ran once; xfs's aging job failed.
scale "$r" 300 200 100
rm "$r/scale/xfs.aging.json"
echo "aging: 1024 MiB file: ENOSPC" >"$r/scale/xfs.aging.failed"
/usr/bin/python3 "$report" "$r" "$r/bench.png" >"$r/out" 2>&1 || { echo "not ok bench-report three runs: report.py failed"; sed 's/^/#   /' "$r/out"; fails=$((fails + 1)); }
expect "header names the runs" "$r/out" '^3 runs of every fio job: median \(min-max\).*The scale jobs .*: one run$'
expect "figure median and min-max" "$r/out" '^randread-4k-dio +IOPS +200 \(100-400\) +200 \(100-400\) +200 \(100-300\) +2000 \(1000-3000\)$'
expect "metadata figures, raw has none" "$r/out" '^metadata +ops/s +200 \(100-400\) +200 \(100-400\) +200 \(100-300\) +-$'
expect "ratios within each run" "$r/out" '^randread-4k-dio +1\.00x \(0\.50-2\.00\) +0\.10x \(0\.07-0\.20\) +1\.00x \(0\.50-1\.50\) +0\.10x \(0\.03-0\.30\) +0\.20x \(0\.03-0\.20\)$'
expect "a job missing from one run" "$r/out" '^seqread-cold-buffered +MiB/s +200 \(100-400\) +200 \(100-400\) +250 \(200-300\) \[2/3 runs\]'
expect "its ratio counts the runs it has" "$r/out" '^seqread-cold-buffered +1\.00x \(0\.50-2\.00\) +0\.10x \(0\.07-0\.20\) +1\.00x \(0\.50-1\.50\) \[2/3 runs\] +0\.20x \(0\.10-0\.30\) \[2/3 runs\]'
expect "table.txt written" "$r/table.txt" '^randread-4k-dio +IOPS +200 \(100-400\)'
expect "scale figures, one run, raw has none" "$r/out" '^scale-files +ops/s +300 +200 +100 +-$'
expect "scale phase figures" "$r/out" '^scale-files-unlink +ops/s +900 +600 +300 +-$'
expect "aging throughput" "$r/out" '^aging-write +MiB/s +30\.0 +20\.0 +n/a \(aging: 1024 MiB file: ENOSPC\) +-$'
expect "extent count, whole" "$r/out" '^aging-extents +extents +12 +8 +n/a \(aging: 1024 MiB file: ENOSPC\) +-$'
expect "scale ratios, none to raw" "$r/out" '^scale-files +1\.50x +- +0\.50x +- +-$'
expect "extent ratio" "$r/out" '^aging-extents +1\.50x +- +- +- +-$'
expect "fewer extents are better, said" "$r/out" '^aging-extents: fewer is better'
expect "scale parameters said" "$r/out" '^scale-files: 1000000 files in 1000 directories'
expect "aging fill said" "$r/out" '^aging on rextfs: 4\.00 GiB, 3300 files, 90\.1% used after the fill \(90% used\), 46\.3% after deleting 1650$'
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
expect "no scale results: not run" "$r/out" '^scale-files +ops/s +n/a \(not run\) +n/a \(not run\) +n/a \(not run\) +-$'

# The layout of a single run from before BENCH_REPS: no spread shown.
r=$tmp/one
run "$r" 300 100 150 600
/usr/bin/python3 "$report" "$r" "$r/bench.png" >"$r/out" 2>&1
expect "single run said" "$r/out" '^1 run of every job'
expect "single run figures" "$r/out" '^randread-4k-dio +IOPS +300 +100 +150 +600$'
expect "single run ratios" "$r/out" '^randread-4k-dio +3\.00x +0\.50x +1\.50x +0\.25x +0\.17x$'
reject "no min-max for one run" "$r/out" '\([0-9.]+-[0-9.]+\)'
expect "single run without scale results" "$r/out" '^aging-extents +extents +n/a \(not run\)'

# Only the scale jobs (scripts/bench --scale-only): no fio rows. rextfs's
# files job was cut off by the VM's timeout.
r=$tmp/scale
scale "$r" 250 500 1000
rm "$r/scale/rextfs.scale-files.json"
echo "did not finish" >"$r/scale/rextfs.scale-files.failed"
/usr/bin/python3 "$report" "$r" "$r/bench.png" >"$r/out" 2>&1 || { echo "not ok bench-report scale only: report.py failed"; sed 's/^/#   /' "$r/out"; fails=$((fails + 1)); }
expect "scale only said" "$r/out" '^the scale jobs only'
reject "scale only: no fio rows" "$r/out" '^(randread-4k-dio|metadata) '
expect "scale only: figures" "$r/out" '^aging-write +MiB/s +25\.0 +50\.0 +100 +-$'
expect "scale only: ratios" "$r/out" '^aging-write +0\.50x +- +2\.00x +- +-$'
expect "a job cut off" "$r/out" '^scale-files +ops/s +n/a \(did not finish\) +500 +1000 +-$'
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	if [ "$(head -c 4 "$r/bench.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG' ]; then
		echo "ok bench-report scale only: chart drawn"
	else
		echo "not ok bench-report scale only: chart drawn"; fails=$((fails + 1))
	fi
fi
[ $fails = 0 ]
