"""The `mocha` command line: a root typer app whose sub-commands are plugins
(`mocha_register_commands`), one module per command under `mocha.cli`."""
