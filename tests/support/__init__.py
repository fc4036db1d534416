"""What tests and benchmarks share: free loopback ports (``ports``), running a private FreeRADIUS
(``freeradius``), knowing when a server answers Status-Server (``status_server``) and stopping a
server process (``processes``). bench/ scripts import it as ``tests.support`` with the repository
root on sys.path."""
