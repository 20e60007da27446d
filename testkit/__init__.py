"""Test and benchmark support, imported by tests/ and benchmarks/ (never by the platform): the test platform and
its configuration, the fault injector and fault library, `eventually`, load generation, results files and
tables, the reference Triton server, and the lanes of `make test`."""
