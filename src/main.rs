fn main() {
    keep_freed_memory();
    one_candle_thread();
    std::process::exit(sertool::cli::main());
}

/// candle allocates a fresh buffer for every tensor op. glibc serves buffers above 128 KiB with mmap and
/// returns them on free, so each training step page-faulted its activations back in: 15 % of an MLP
/// step in `perf`, 1.8x slower steps overall. Keeping freed memory in the heap (up to 32 MiB per
/// allocation) lets the allocator reuse it (docs/benchmarks.md, "Training steps").
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// candle 0.11 fans elementwise ops over ~4k elements out to its own pool of spinning threads (one per
/// core). sertool already runs a stage per core (`--jobs`), so those threads only spun beside the
/// stages: 26 % of an se-ser train stage's CPU in `perf`. One thread keeps candle's work on the stage's
/// own thread; a user who runs one big stage may still set CANDLE_NUM_THREADS.
fn one_candle_thread() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
