"""What is optimized: datasets (verified fetch), tasks (batched flat-parameter optimizees), the seed
streams, and the oracle, the only door an optimizer has to the problem."""
