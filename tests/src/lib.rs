//! Integration tests across the protocol cores live in `tests/`: they check that the cores
//! fit together (the PKI's topology and keys drive the mix core) without any I/O.
