"""Speed and memory of a loss at a given size: what ``contrastor bench`` and the benchmark
scripts measure (:mod:`~contrastor.bench.measure`), and the peer libraries' losses loaded for
a side-by-side run (:mod:`~contrastor.bench.peers`)."""
