"""System effects, each behind one small class that takes its paths and binaries in its constructor."""
