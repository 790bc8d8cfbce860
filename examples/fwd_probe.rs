// TEMPORARY probe, deleted after measuring.
fn main() {
    for _ in 0..3 {
        let b = tillpoint::sim::acquirer::bench_forwarding(10_000).unwrap();
        let mut f = b.forward_samples.clone(); f.sort();
        let mut r = b.bare_samples.clone(); r.sort();
        println!("forward {:.0}/s bare {:.0}/s rate ratio {:.2}; p50 {:?} vs {:?}", b.forward_per_sec, b.bare_per_sec, b.ratio, f[f.len()/2], r[r.len()/2]);
    }
}
