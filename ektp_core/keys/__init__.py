"""Keys: encryption of biometrics at rest, the node's signing and exchange keys, their rotation."""
