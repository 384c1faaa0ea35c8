"""Readers for official checkpoints (MatConvNet .mat, PyTorch .pth) and our variables files."""
