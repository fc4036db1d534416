"""What tests and benchmarks share: free loopback ports (``ports``) and running a private FreeRADIUS
(``freeradius``). bench/ scripts import it as ``tests.support`` with the repository root on sys.path."""
