"""The engines: explicit BFS, simulation, and the z3 engines over one encoding."""
