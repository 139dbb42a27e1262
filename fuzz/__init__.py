"""Coverage-guided fuzzing (atheris, libFuzzer) of what strangers can send: see `fuzz.run`."""
