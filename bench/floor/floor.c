/* An empty library: preloaded into bench/startup's loop, it shows what loading any one more
 * library costs a short process (the loader opens, maps and relocates it, and searches it for
 * every symbol). No preload can cost less than this floor (scripts/bench, startup). */
int sockleak_bench_floor;
