from sesame.cli import entry_point

entry_point()
