"""What tests and benchmarks share: free loopback ports (``ports``), running a private FreeRADIUS
(``freeradius``) and knowing when a server answers Status-Server (``status_server``). bench/ scripts
import it as ``tests.support`` with the repository root on sys.path."""
