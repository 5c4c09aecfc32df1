"""Training data: registered pairs, patches, the physical imaging model, synthetic structures and the
semi-synthetic data of the paper's modes."""
