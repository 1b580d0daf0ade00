# kmemdbg gdb-script: the used fragments of the private (pkg) pool, q_malloc, Kamailio 4.4 - 6.x layout
# (version 5.6.3 given with --kamailio-version).
# allocators are chosen at run time (-x for shm, -X for pkg); the pool variable of the allocator not in use is 0.
# Run on a live process: gdb -p PID -batch -x THIS_FILE   (the process pauses meanwhile)
# or on a core file:     gdb /path/to/kamailio CORE -batch -x THIS_FILE
# Fragments 2000 to 10000 (exclusive); each used one prints a line:
#   kmemdbg-frag INDEX size=BYTES addr=ADDRESS alloc'd from MODULE: FILE: FUNCTION(LINE)   (as qm_status prints it)
# A fragment is used when its `u.is_free` is 0; the next one starts at
# fragment + sizeof(struct qm_frag) + size + sizeof(struct qm_frag_end).
set pagination off
set confirm off
set print elements 400
set $blk = _qm_pkg_block
if $blk == 0
  echo kmemdbg-walk error: _qm_pkg_block is 0: this process does not run q_malloc for pkg (kamailio -X qm); try --allocator fm\n
else
  printf "kmemdbg-walk begin pool=pkg allocator=qm heap=%lu used=%lu real_used=%lu\n", $blk->size, $blk->used, $blk->real_used
  # sizes and field offsets, looked up once (slow in gdb)
  set $head = sizeof(struct qm_frag)
  set $tail = sizeof(struct qm_frag_end)
  set $o_size = (unsigned long) &((struct qm_frag *) 0)->size
  set $o_free = (unsigned long) &((struct qm_frag *) 0)->u.is_free
  set $w_free = sizeof(((struct qm_frag *) 0)->u.is_free)
  set $o_file = (unsigned long) &((struct qm_frag *) 0)->file
  set $o_func = (unsigned long) &((struct qm_frag *) 0)->func
  set $o_line = (unsigned long) &((struct qm_frag *) 0)->line
  set $p = (char *) $blk->first_frag
  set $end = (char *) $blk->last_frag_end
  set $i = 0
  set $n = 0
  while $p < $end && $i < 10000
    if $w_free == 4
      set $free = *(unsigned int *) ($p + $o_free)
    else
      set $free = *(unsigned long *) ($p + $o_free)
    end
    set $size = *(unsigned long *) ($p + $o_size)
    if $i >= 2000 && $free == 0
      set $n = $n + 1
      set $file = *(char **) ($p + $o_file)
      set $func = *(char **) ($p + $o_func)
      if $file != 0 && $func != 0
        printf "kmemdbg-frag %lu size=%lu addr=%p alloc'd from %s: %s(%lu)\n", $i, $size, $p + $head, $file, $func, *(unsigned long *) ($p + $o_line)
      else
        printf "kmemdbg-frag %lu size=%lu addr=%p alloc'd from ?\n", $i, $size, $p + $head
      end
    end
    set $p = $p + $head + $size + $tail
    set $i = $i + 1
  end
  printf "kmemdbg-walk end fragments=%lu used=%lu complete=%d\n", $i, $n, $p >= $end
end
