"""Monte Carlo studies: harness (seeds, backends, resumable store, progress) and studies."""
