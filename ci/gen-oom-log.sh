#!/usr/bin/env bash
# Writes a syslog-style Kamailio log of about SIZE_MB megabytes to OUT, for
# ci/bench-scan.sh: a 16 MB block of lines repeated. The block holds what a
# busy proxy's log holds (INFO lines, a few WARNINGs, script xlog lines,
# DEBUG lines quoting SIP, some mentioning memory without being errors) and,
# about 1 line in 200, an out-of-memory error of 5.x (shm, pkg, allocator).
# Prints the number of error lines written (3 per error: 2 shm-pool or
# pkg-pool lines and 1 allocator line, counted while writing).
#
#   ci/gen-oom-log.sh /tmp/big.log 2048
set -euo pipefail
out=${1:?usage: ci/gen-oom-log.sh OUT SIZE_MB}
size_mb=${2:?usage: ci/gen-oom-log.sh OUT SIZE_MB}
block="$out.block"
awk -v target=$((16 * 1024 * 1024)) -v errfile="$block.errors" 'BEGIN {
    srand(7); bytes = 0; errors = 0; n = 0
    split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ")
    while (bytes < target) {
        n++
        t = sprintf("Dec  6 %02d:%02d:%02d", int(n / 360000) % 24, int(n / 6000) % 60, int(n / 100) % 60)
        pid = 5400 + (n % 8)
        r = n % 200
        if (r == 0) {
            l = sprintf("%s sip3 /usr/sbin/kamailio[%d]: ERROR: <core> [core/mem/q_malloc.c:430]: qm_malloc(): qm_malloc(0x7f1e5c2b3010, %d) called from usrloc: ucontact.c: new_ucontact(98), module: usrloc; Free fragment not found!\n", t, pid, 200 + n % 97)
            l = l sprintf("%s sip3 /usr/sbin/kamailio[%d]: ERROR: usrloc [ucontact.c:141]: new_ucontact(): could not allocate shared memory from shm pool\n", t, pid)
            l = l sprintf("%s sip3 /usr/sbin/kamailio[%d]: ERROR: <core> [core/rvalue.c:253]: rval_new_empty(): could not allocate private memory from pkg pool", t, pid)
            errors += 3
        } else if (r % 50 == 7) {
            l = sprintf("%s sip3 /usr/sbin/kamailio[%d]: INFO: <core> [core/pt.c:555]: mem_dump_pkg_cb(): Memory still-in-use summary (pkg) of process %d:", t, pid, pid)
        } else if (r % 40 == 3) {
            l = sprintf("%s sip3 /usr/sbin/kamailio[%d]: ERROR: <script>: REGISTER from sip:u%d@example.com UA [Linphone/5.%d (belle-sip)]", t, pid, n, n % 9)
        } else if (r % 25 == 11) {
            l = sprintf("%s sip3 /usr/sbin/kamailio[%d]: WARNING: <core> [core/udp_server.c:594]: udp_send(): sendto(sock, buf: 0x7f0b, len: 512, 0, dst: (127.0.0.1:%d), tolen: 16) - err: Connection refused (111)", t, pid, 5060 + n % 100)
        } else if (r % 3 == 0) {
            l = sprintf("%s sip3 /usr/sbin/kamailio[%d]: DEBUG: <core> [core/parser/msg_parser.c:610]: parse_msg(): SIP Request: method:  <REGISTER>, uri: <sip:example.com>, version: <SIP/2.0> call-id <%d-%d@10.0.0.%d>", t, pid, n, pid, n % 250)
        } else {
            l = sprintf("%s sip3 /usr/sbin/kamailio[%d]: INFO: usrloc [urecord.c:384]: insert_ucontact(): contact for aor u%d@example.com expires in 3600 s (cseq %d)", t, pid, n, n % 1000)
        }
        print l
        bytes += length(l) + 1
    }
    print errors > errfile
}' > "$block"
block_bytes=$(stat -c %s "$block")
block_errors=$(cat "$block.errors")
reps=$(( (size_mb * 1024 * 1024 + block_bytes - 1) / block_bytes ))
: > "$out"
for _ in $(seq 1 "$reps"); do cat "$block" >> "$out"; done
rm -f "$block" "$block.errors"
echo $((reps * block_errors))
