"""Neural lip-sync engine: synthetic training speech with exact phone times, a small causal
network from log-mel to mouth controls (torch for training), and its numpy streaming runtime."""
